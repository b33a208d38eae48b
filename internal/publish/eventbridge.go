package publish

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// PutEventsAPI is the call of the EventBridge client that EventBridge
// makes.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge puts each finding on an event bus as the event GuardDuty
// would: source aws.guardduty, detail-type "GuardDuty Finding", the
// finding as detail. (EventBridge refuses a source beginning "aws." from
// anyone but AWS; Source overrides it for a real bus.) Calls carry at
// most ten entries, EventBridge's limit.
type EventBridge struct {
	TargetName string
	Client     PutEventsAPI
	Bus        string // name or ARN; "" is the default bus
	Source     string // default aws.guardduty
}

var _ Target = (*EventBridge)(nil)

// Name returns the target's name.
func (b *EventBridge) Name() string { return b.TargetName }

// maxPutEntries is the most entries one PutEvents call may carry.
const maxPutEntries = 10

// Send puts the events, ten to a call; a call with a failed entry fails
// the round, and every event is sent again.
func (b *EventBridge) Send(ctx context.Context, events []Event) error {
	for len(events) > 0 {
		n := min(len(events), maxPutEntries)
		var entries []types.PutEventsRequestEntry
		for _, e := range events[:n] {
			body, err := Encode(FormatFinding, e)
			if err != nil {
				return err
			}
			src := b.Source
			if src == "" {
				src = EventSource
			}
			t := e.Finding.UpdatedAt.Time
			entry := types.PutEventsRequestEntry{
				Source: aws.String(src), DetailType: aws.String(DetailType), Detail: aws.String(string(body)),
				Time: aws.Time(t.Truncate(time.Second)), Resources: []string{},
			}
			if b.Bus != "" {
				entry.EventBusName = aws.String(b.Bus)
			}
			entries = append(entries, entry)
		}
		out, err := b.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			return fmt.Errorf("eventbridge %s: %w", b.TargetName, err)
		}
		if out.FailedEntryCount > 0 {
			var msgs []string
			for _, r := range out.Entries {
				if r.ErrorCode != nil {
					msgs = append(msgs, aws.ToString(r.ErrorCode)+": "+aws.ToString(r.ErrorMessage))
				}
			}
			return fmt.Errorf("eventbridge %s: %d of %d entries failed: %s", b.TargetName, out.FailedEntryCount, n, strings.Join(msgs, "; "))
		}
		events = events[n:]
	}
	return nil
}

package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"picket/internal/finding"
	"picket/internal/store"
)

// BatchImportFindingsAPI is the call of the Security Hub client that
// SecurityHub makes.
type BatchImportFindingsAPI interface {
	BatchImportFindings(ctx context.Context, in *securityhub.BatchImportFindingsInput, opts ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error)
}

// SecurityHub imports each finding into Security Hub with
// BatchImportFindings, in ASFF (the format's output, field for field) as
// a finding of the account's default product.
//
// Security Hub takes a finding through the default product only from
// the account named by its AwsAccountId, and only in the region of its
// ProductArn; a call carrying any other finding is refused whole
// (AccessDeniedException). So a target takes the findings of one
// account and region, those of its credentials and client, and marks the
// rest sent without sending them: a finding of another account needs a
// target of its own.
//
// A call carries at most 100 findings and 5 MiB of them (Security Hub's
// limits are 100 findings, 6 MB a call and 240 KB a finding). An error of
// the call (transport, throttling, access denied) fails the round, which
// the publisher retries. A finding Security Hub refuses for itself is
// logged with its code and counted through Rejected, and the rest of the
// round stands; a refusal that says to try again (throttling, an
// internal error) fails the round instead.
type SecurityHub struct {
	TargetName string
	Client     BatchImportFindingsAPI
	Account    string // the account whose findings the target takes
	Region     string // the region whose findings the target takes
	// Rejected, if set, is told how many findings Security Hub refused
	// for good in a round; they are not sent again.
	Rejected func(target string, n int)
	Log      *slog.Logger // nil discards
}

var (
	_ Target   = (*SecurityHub)(nil)
	_ Selector = (*SecurityHub)(nil)
)

// The limits of one BatchImportFindings call.
const (
	maxImportFindings = 100
	// maxImportBytes leaves a margin under the 6 MB of a call for the
	// envelope and the SDK's own encoding of the fields.
	maxImportBytes = 5 << 20
	// maxFindingBytes is the most one finding may take.
	maxFindingBytes = 240 << 10
)

// Name returns the target's name.
func (h *SecurityHub) Name() string { return h.TargetName }

// TakesEntry takes every entry: the account and region are the
// finding's, known once it is read.
func (h *SecurityHub) TakesEntry(store.OutboxEntry) bool { return true }

// Takes reports whether f is of the target's account and region.
func (h *SecurityHub) Takes(f *finding.Finding) bool {
	return f.AccountID == h.Account && f.Region == h.Region
}

func (h *SecurityHub) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// Send imports the events' findings, in calls of at most 100 findings
// and maxImportBytes.
func (h *SecurityHub) Send(ctx context.Context, events []Event) error {
	rejected := 0
	var batch []types.AwsSecurityFinding
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := h.importBatch(ctx, batch)
		rejected += n
		batch, size = nil, 0
		return err
	}
	for _, e := range events {
		a := ASFF(e.Finding)
		// The size of the ASFF encoding stands for that of the SDK's,
		// which writes the same fields.
		body, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("securityhub %s: encoding finding %s: %w", h.TargetName, e.Finding.ID, err)
		}
		if len(body) > maxFindingBytes {
			h.log().Warn("Security Hub target: finding too large to import; left out",
				"target", h.TargetName, "id", a.ID, "bytes", len(body))
			rejected++
			continue
		}
		if len(batch) == maxImportFindings || size+len(body) > maxImportBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, asffInput(a))
		size += len(body)
	}
	if err := flush(); err != nil {
		return err
	}
	if rejected > 0 && h.Rejected != nil {
		h.Rejected(h.TargetName, rejected)
	}
	return nil
}

// importBatch makes one call and returns how many findings Security Hub
// refused for good; an error means the round must be tried again.
func (h *SecurityHub) importBatch(ctx context.Context, batch []types.AwsSecurityFinding) (int, error) {
	out, err := h.Client.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: batch})
	if err != nil {
		return 0, fmt.Errorf("securityhub %s: importing %d findings: %w", h.TargetName, len(batch), err)
	}
	failed := int(aws.ToInt32(out.FailedCount))
	if failed == 0 && len(out.FailedFindings) == 0 {
		return 0, nil
	}
	// A refusal that asks to be tried again fails the round; the
	// others are reported once the round stands, so that a finding
	// refused for good is not counted at each retry.
	var again []string
	for _, f := range out.FailedFindings {
		if code := aws.ToString(f.ErrorCode); transientImportError(code) {
			again = append(again, aws.ToString(f.Id)+": "+code+": "+aws.ToString(f.ErrorMessage))
		}
	}
	if len(again) > 0 {
		return 0, fmt.Errorf("securityhub %s: %d of %d findings to be tried again: %s", h.TargetName, len(again), len(batch), strings.Join(again, "; "))
	}
	for _, f := range out.FailedFindings {
		h.log().Warn("Security Hub refused a finding; it is not sent again",
			"target", h.TargetName, "id", aws.ToString(f.Id), "code", aws.ToString(f.ErrorCode), "message", aws.ToString(f.ErrorMessage))
	}
	if n := len(out.FailedFindings); failed > n {
		h.log().Warn("Security Hub refused findings without naming them; they are not sent again",
			"target", h.TargetName, "count", failed-n)
	}
	return max(failed, len(out.FailedFindings)), nil
}

// transientImportError reports whether a finding's error code from
// BatchImportFindings says to try again later.
func transientImportError(code string) bool {
	return strings.Contains(code, "Throttl") || strings.HasPrefix(code, "Internal") ||
		strings.HasPrefix(code, "ServiceUnavailable") || code == "TooManyRequestsException"
}

// asffInput returns a as the SDK's finding: every field of ASFFFinding,
// so that what Security Hub receives is the asff format.
func asffInput(a ASFFFinding) types.AwsSecurityFinding {
	in := types.AwsSecurityFinding{
		SchemaVersion:   aws.String(a.SchemaVersion),
		Id:              aws.String(a.ID),
		ProductArn:      aws.String(a.ProductArn),
		ProductName:     aws.String(a.ProductName),
		CompanyName:     aws.String(a.CompanyName),
		GeneratorId:     aws.String(a.GeneratorID),
		AwsAccountId:    aws.String(a.AwsAccountID),
		Region:          aws.String(a.Region),
		Types:           a.Types,
		FirstObservedAt: aws.String(a.FirstObserved),
		LastObservedAt:  aws.String(a.LastObserved),
		CreatedAt:       aws.String(a.CreatedAt),
		UpdatedAt:       aws.String(a.UpdatedAt),
		Severity: &types.Severity{
			Label:    types.SeverityLabel(a.Severity.Label),
			Original: aws.String(a.Severity.Original),
		},
		Title:         aws.String(a.Title),
		Description:   aws.String(a.Description),
		ProductFields: a.ProductFields,
		RecordState:   types.RecordState(a.RecordState),
		Workflow:      &types.Workflow{Status: types.WorkflowStatus(a.Workflow.Status)},
	}
	for _, r := range a.Resources {
		in.Resources = append(in.Resources, types.Resource{
			Type: aws.String(r.Type), Id: aws.String(r.ID), Partition: types.Partition(r.Partition), Region: aws.String(r.Region),
		})
	}
	return in
}

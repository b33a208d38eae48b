package ingest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/event"
	"picket/internal/source"
)

// TestFeedCountsEveryLoss reads files of known numbers of flow records,
// CloudTrail events, junk lines and lines of another format through a
// Feed: what it counts as records and bad records adds up to every record
// and line of the files, each bad record under its reason (issue 12: a
// CloudTrail event followed by flow lines was "1 record, 1 skipped", and a
// junk first line rejected a whole file).
func TestFeedCountsEveryLoss(t *testing.T) {
	const header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
	flow := func(i int) string {
		return fmt.Sprintf("2 123456789012 eni-0a1b2c3d 10.0.0.5 198.51.100.7 443 %d 6 10 4000 1772618400 1772618460 ACCEPT OK\n", 1000+i)
	}
	call := func(i int) string {
		return fmt.Sprintf(`{"eventVersion":"1.09","eventTime":"2026-03-04T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"E%d",`+
			`"awsRegion":"us-east-1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"}}`+"\n", i)
	}
	var mixed, trailFirst, junkFirst strings.Builder
	// Flow log text with events, truncated records and Zeek lines among
	// its records.
	mixed.WriteString(header)
	for i := range 2000 {
		mixed.WriteString(flow(i))
		switch {
		case i%50 == 0:
			mixed.WriteString(call(i))
		case i%300 == 1:
			mixed.WriteString("2 123456789012 eni-0a1b2c3d\n")
		case i%400 == 2:
			mixed.WriteString(`{"ts":1772618400.5,"uid":"C1","id.orig_h":"203.0.113.9"}` + "\n")
		}
	}
	// One CloudTrail event, then flow lines.
	trailFirst.WriteString(call(0))
	for i := range 3000 {
		trailFirst.WriteString(flow(i))
	}
	// A junk line, then flow lines.
	junkFirst.WriteString("this line is junk\n")
	for i := range 1000 {
		junkFirst.WriteString(flow(i))
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		name        string
		in          string
		flows, api  uint64
		skipped     map[string]uint64
		linesOfFile int
	}{
		{"mixed", mixed.String(), 2000, 40, map[string]uint64{"field-count": 7, "other-format": 5}, 2052},
		{"trail-first", trailFirst.String(), 3000, 1, nil, 3001},
		{"junk-first", junkFirst.String(), 1000, 0, map[string]uint64{"no-format": 1}, 1001},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".log")
			if err := os.WriteFile(path, []byte(tt.in), 0o644); err != nil {
				t.Fatal(err)
			}
			st, err := source.Input{Name: path, Path: path}.Open(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			feed := &Feed{Account: event.Intern("000000000000"), Region: event.Intern("us-east-1")}
			in, err := feed.Open(st, Spec{Name: path})
			if err != nil {
				t.Fatal(err)
			}
			defer feed.Close(in)
			for {
				if _, err := feed.Next(in); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if feed.Records[event.KindFlow] != tt.flows || feed.Records[event.KindAPICall] != tt.api {
				t.Errorf("records %v, want %d flows and %d API calls", feed.Records, tt.flows, tt.api)
			}
			if diff := cmp.Diff(tt.skipped, feed.Skipped); diff != "" {
				t.Errorf("bad records by reason (-want +got):\n%s", diff)
			}
			total := feed.RecordsTotal()
			for _, n := range feed.Skipped {
				total += n
			}
			if lines := strings.Count(tt.in, "\n") - strings.Count(tt.in, header); total != uint64(lines) || lines != tt.linesOfFile {
				t.Errorf("%d records and bad records from %d lines (want %d)", total, lines, tt.linesOfFile)
			}
		})
	}
}

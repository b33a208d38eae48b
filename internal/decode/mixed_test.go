package decode

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// trailLine returns a CloudTrail event on one line, as CloudTrail Lake
// exports and EventBridge write them.
func trailLine(name string) string {
	return `{"eventVersion":"1.09","eventTime":"2026-03-04T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"` + name +
		`","awsRegion":"us-east-1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"}}`
}

// flowN returns flow record i (its destination port tells them apart).
func flowN(i int) string {
	return strings.Replace(flowLine, " 50000 ", fmt.Sprintf(" %d ", 1000+i), 1)
}

// tally reads an input whole through Open and counts what came out: each
// kind of record, and bad records by reason.
func tally(t *testing.T, in string) map[string]int {
	t.Helper()
	recs, _, err := readAll(t, []byte(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range recs {
		switch {
		case strings.HasPrefix(r, "!"):
			got[r]++
		default:
			got[strings.Fields(r)[0]]++
		}
	}
	return got
}

// TestOpenMixedFormats holds Open to issue 12's lost inputs: a file's
// format comes from the majority of its first lines, not from the first
// line alone, and a line-oriented file of flow records and CloudTrail
// events gives both; what cannot be read is counted, one bad record for
// each record or line lost.
func TestOpenMixedFormats(t *testing.T) {
	var flows strings.Builder
	for i := range 500 {
		flows.WriteString(flowN(i) + "\n")
	}
	pretty := "{\n  \"Records\": [\n    {\n      \"eventVersion\": \"1.09\",\n      \"eventTime\": \"2026-03-04T10:00:00Z\",\n      \"eventName\": \"Pretty\"\n    }\n  ]\n}\n"
	tests := []struct {
		name string
		in   string
		want map[string]int
	}{{
		// Read as CloudTrail, the flow lines after the event were one
		// bad record.
		name: "a CloudTrail event, then flow lines",
		in:   trailLine("First") + "\n" + flows.String(),
		want: map[string]int{"call": 1, "flow": 500},
	}, {
		name: "a CloudTrail event, then a header and flow lines",
		in:   trailLine("First") + "\n" + flowHeader + flows.String(),
		want: map[string]int{"call": 1, "flow": 500},
	}, {
		name: "the same with CRLF line ends",
		in:   strings.ReplaceAll(trailLine("First")+"\n"+trailLine("Second")+"\n"+flowHeader+flows.String(), "\n", "\r\n"),
		want: map[string]int{"call": 2, "flow": 500},
	}, {
		name: "CloudTrail events, then a header and flow lines",
		in:   strings.Repeat(trailLine("E")+"\n", 600) + flowHeader + flows.String(),
		want: map[string]int{"call": 600, "flow": 500},
	}, {
		// Read as flow logs, the events were field-count errors.
		name: "CloudTrail events among flow lines",
		in: flowHeader + flowN(1) + "\n" + trailLine("A") + "\n" + flowN(2) + "\n" +
			`{"Records":[` + trailLine("B") + "," + trailLine("C") + "]}\n" + flowN(3) + "\n",
		want: map[string]int{"call": 3, "flow": 3},
	}, {
		// The junk line made the whole file unrecognized.
		name: "a junk first line, then flow lines",
		in:   "this is junk\n" + flows.String(),
		want: map[string]int{"flow": 500, "!no-format": 1},
	}, {
		name: "a junk first line, then a header and flow lines",
		in:   "junk\n" + flowHeader + flows.String(),
		want: map[string]int{"flow": 500, "!no-format": 1},
	}, {
		name: "a JSON junk first line, then flow lines",
		in:   `{"hello":` + "\n" + flows.String(),
		want: map[string]int{"flow": 500, "!other-format": 1},
	}, {
		// A pretty-printed document cannot be split from flow text by
		// lines: each of its lines is counted.
		name: "flow lines, then a pretty-printed CloudTrail document",
		in:   flowHeader + flows.String() + pretty,
		want: map[string]int{"flow": 500, "!other-format": strings.Count(pretty, "\n")},
	}, {
		// After a document, flow lines are read as flow records.
		name: "a pretty-printed CloudTrail document, then flow lines",
		in:   pretty + flows.String(),
		want: map[string]int{"call": 1, "flow": 500},
	}, {
		name: "CloudTrail lines with a junk line among them",
		in:   trailLine("A") + "\njunk\n" + trailLine("B") + "\n",
		want: map[string]int{"call": 2, "!cloudtrail-not-an-event": 1},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tally(t, tt.in)); diff != "" {
				t.Errorf("records and bad records (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOpenCountsEveryLoss reads a file of known numbers of flow records,
// CloudTrail events, junk lines and lines of another format through
// Open: the records and bad records add up to every record and line of
// the file, and each bad record is counted under its reason.
func TestOpenCountsEveryLoss(t *testing.T) {
	var in strings.Builder
	want := map[string]int{}
	in.WriteString(flowHeader)
	for i := range 300 {
		in.WriteString(flowN(i) + "\n")
		want["flow"]++
		switch {
		case i%7 == 0:
			in.WriteString(trailLine(fmt.Sprint("E", i)) + "\n")
			want["call"]++
		case i%40 == 1:
			in.WriteString("2 truncated record\n")
			want["!field-count"]++
		case i%60 == 2:
			in.WriteString(`{"ts":1772618400.5,"uid":"C1","id.orig_h":"203.0.113.9","id.orig_p":40000}` + "\n")
			want["!other-format"]++
		}
	}
	got := tally(t, in.String())
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records and bad records (-want +got):\n%s", diff)
	}
	total := 0
	for _, n := range got {
		total += n
	}
	if lines := strings.Count(in.String(), "\n") - 1; total != lines {
		t.Errorf("%d records and bad records from %d lines", total, lines)
	}
}

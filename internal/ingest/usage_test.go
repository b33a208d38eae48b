package ingest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/event"
	"picket/internal/source"
	"picket/internal/store"
)

// TestUsage reads flow logs and CloudTrail and checks the usage table:
// records and bytes by data source, account and interface, the times of
// the first and last record, and that the table survives the committed
// state.
func TestUsage(t *testing.T) {
	dir := t.TempDir()
	flows := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status instance-id\n" +
		"5 111122223333 eni-1 10.0.0.1 198.51.100.7 40000 443 6 3 300 1772618400 1772618460 ACCEPT OK i-1\n" +
		"5 111122223333 eni-1 10.0.0.1 198.51.100.7 40001 443 6 3 300 1772618500 1772618560 ACCEPT OK i-1\n" +
		"5 111122223333 eni-2 10.0.0.2 198.51.100.7 40002 443 6 3 300 1772618600 1772618660 ACCEPT OK -\n"
	if err := os.WriteFile(filepath.Join(dir, "flows.log"), []byte(flows), 0o644); err != nil {
		t.Fatal(err)
	}
	trail, err := os.ReadFile("../decode/cloudtrail/testdata/records.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "trail.json"), trail, 0o644); err != nil {
		t.Fatal(err)
	}
	g := newTestIngest(t)
	var total int64
	for _, name := range []string{"flows.log", "trail.json"} {
		var pos source.Position
		end, err := g.readTask(context.Background(), fileTask(filepath.Join(dir, name), source.Position{}), &pos)
		if err != nil {
			t.Fatal(err)
		}
		total += end.Offset
	}
	rows := g.usage.rows()
	var flowRows []store.Usage
	var bytes int64
	var trailRecords uint64
	for _, r := range rows {
		bytes += int64(r.Bytes)
		switch r.Source {
		case sourceFlowLogs:
			flowRows = append(flowRows, r)
		case sourceCloudTrail:
			trailRecords += r.Records
			if r.Resource != "" || r.Account == "" {
				t.Errorf("CloudTrail row %+v", r)
			}
		}
	}
	if bytes != total || bytes == 0 {
		t.Errorf("bytes counted %d, read %d", bytes, total)
	}
	if trailRecords == 0 {
		t.Error("no CloudTrail records counted")
	}
	at := func(s int64) time.Time { return time.Unix(s, 0).UTC() }
	for i := range flowRows {
		flowRows[i].Bytes = 0 // the header line counts with the first record
	}
	want := []store.Usage{
		{Account: "111122223333", Region: "us-east-1", Source: sourceFlowLogs, Resource: "eni-1", Instance: "i-1", Records: 2, First: at(1772618460), Last: at(1772618560)},
		{Account: "111122223333", Region: "us-east-1", Source: sourceFlowLogs, Resource: "eni-2", Records: 1, First: at(1772618660), Last: at(1772618660)},
	}
	if diff := cmp.Diff(want, flowRows); diff != "" {
		t.Errorf("flow rows (-want +got):\n%s", diff)
	}

	// The committed state carries the table to a new loop.
	b, _, err := g.marshalState(rows)
	if err != nil {
		t.Fatal(err)
	}
	h := newTestIngest(t)
	if err := h.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rows, h.Usage()); diff != "" {
		t.Errorf("restored usage (-saved +restored):\n%s", diff)
	}
	if diff := cmp.Diff(rows, h.usage.rows()); diff != "" {
		t.Errorf("restored table (-saved +restored):\n%s", diff)
	}
}

// TestUsageCap: past the cap, a new interface counts under its account.
func TestUsageCap(t *testing.T) {
	u := newUsage(2)
	acct, region := event.Intern("111122223333"), event.Intern("us-east-1")
	for i, eni := range []string{"eni-1", "eni-2", "eni-3", "eni-4"} {
		u.add(&event.Flow{Account: acct, Region: region, Interface: event.Intern(eni), Start: event.Time(100 + i)}, 10)
	}
	var got []string
	for _, r := range u.rows() {
		got = append(got, r.Resource)
	}
	if diff := cmp.Diff([]string{"", "eni-1", "eni-2"}, got); diff != "" || u.folded != 2 {
		t.Errorf("rows (-want +got):\n%s\nfolded %d", diff, u.folded)
	}
}

// TestUsageAddAllocs: counting a record of a known interface allocates
// nothing, as the rest of a record's path does not.
func TestUsageAddAllocs(t *testing.T) {
	u := newUsage(0)
	f := &event.Flow{Account: event.Intern("111122223333"), Region: event.Intern("us-east-1"), Interface: event.Intern("eni-1"), End: 100}
	u.add(f, 80)
	if n := testing.AllocsPerRun(1000, func() { u.add(f, 80) }); n != 0 {
		t.Errorf("%v allocations per record", n)
	}
}

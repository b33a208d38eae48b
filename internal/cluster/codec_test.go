package cluster

import (
	"net/netip"
	"reflect"
	"testing"

	"picket/internal/event"
)

// TestBatchRoundTrip checks that every kind of record the bus carries
// comes back as it went, in order.
func TestBatchRoundTrip(t *testing.T) {
	acct, region := event.Intern("123456789012"), event.Intern("us-east-1")
	fl := &event.Flow{Account: acct, Region: region, Interface: event.Intern("eni-1"),
		Src: netip.MustParseAddr("203.0.113.9"), Dst: netip.MustParseAddr("10.0.0.5"), SrcPort: 40000, DstPort: 22,
		Protocol: 6, Packets: 3, Bytes: 180, Start: 1000, End: 1010, Action: event.Accept,
		Origin: event.Origin{File: event.Intern("a.log"), Line: 7}}
	call := &event.APICall{EventTime: 1005, Account: acct, Region: region, EventName: event.Intern("ListBuckets"),
		SourceIP: netip.MustParseAddr("198.51.100.2")}
	q := &event.DNSQuery{T: 1007, Account: acct, Region: region, Name: []byte("example.com"), QType: event.DNSTypeA}
	var b batch
	for _, r := range []event.Record{fl, call, q, fl} {
		if !b.add(r) {
			t.Fatalf("%T not carried", r)
		}
	}
	data, err := b.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Record
	if err := got.each(func(r event.Record) { out = append(out, r) }); err != nil {
		t.Fatal(err)
	}
	want := []event.Record{fl, call, q, fl}
	if len(out) != len(want) {
		t.Fatalf("%d records, want %d", len(out), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(out[i], want[i]) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, out[i], want[i])
		}
	}
	if _, err := decodeBatch([]byte("not gob")); err == nil {
		t.Error("garbage decoded")
	}
}

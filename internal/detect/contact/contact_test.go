package contact

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/event"
)

// rec builds a flow record from a compact description:
//
//	"eni-1 in 198.51.100.7:40000 10.0.0.5:22 tcp ACCEPT p=2 b=100 f=6 t=100"
//
// "in"/"out" is the direction at the interface, f= the tcp-flags (absent
// when not given), t= the start and end time.
func rec(t *testing.T, s string) *event.Flow {
	t.Helper()
	fs := strings.Fields(s)
	f := &event.Flow{Interface: event.Intern(fs[0]), Status: event.StatusOK}
	f.Direction, f.Basis = event.Inbound, event.BasisField
	if fs[1] == "out" {
		f.Direction = event.Outbound
	}
	src, dst := netip.MustParseAddrPort(fs[2]), netip.MustParseAddrPort(fs[3])
	f.Src, f.SrcPort, f.Dst, f.DstPort = src.Addr(), src.Port(), dst.Addr(), dst.Port()
	f.Protocol = map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1}[fs[4]]
	f.Action = map[string]event.Action{"ACCEPT": event.Accept, "REJECT": event.Reject}[fs[5]]
	f.Has = event.HasStart | event.HasEnd | event.HasPackets | event.HasBytes
	for _, kv := range fs[6:] {
		var n uint64
		fmt.Sscanf(kv[2:], "%d", &n)
		switch kv[:2] {
		case "p=":
			f.Packets = n
		case "b=":
			f.Bytes = n
		case "f=":
			f.TCPFlags = uint8(n)
			f.Has |= event.HasTCPFlags
		case "t=":
			f.Start, f.End = event.Time(n), event.Time(n)
		}
	}
	f.Origin = event.Origin{File: event.Intern("test"), Line: 1}
	return f
}

func contacts(t *testing.T, records ...string) []event.Contact {
	t.Helper()
	s := New(Config{})
	var out []event.Contact
	collect := func(r event.Record) { out = append(out, *r.(*event.Contact)) }
	for _, r := range records {
		s.Observe(rec(t, r), collect)
	}
	s.Advance(event.Forever, collect)
	return out
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name      string
		records   []string
		outcome   event.Outcome
		initiator string
		inbound   bool
	}{
		{"blocked by the security group", []string{
			"eni-1 in 198.51.100.7:40000 10.0.0.5:3389 tcp REJECT p=2 b=120 t=100",
		}, event.OutcomeRejected, "198.51.100.7", true},
		{"SYN unanswered", []string{
			"eni-1 out 10.0.0.5:40000 10.0.9.9:22 tcp ACCEPT p=3 b=180 f=2 t=100",
		}, event.OutcomeUnanswered, "10.0.0.5", false},
		{"refused with flags", []string{
			"eni-1 in 198.51.100.7:40000 10.0.0.5:8081 tcp ACCEPT p=1 b=60 f=2 t=100",
			"eni-1 out 10.0.0.5:8081 198.51.100.7:40000 tcp ACCEPT p=1 b=40 f=4 t=100",
		}, event.OutcomeRefused, "198.51.100.7", true},
		{"refused without flags: one 40-byte segment back", []string{
			"eni-1 in 198.51.100.7:40000 10.0.0.5:8081 tcp ACCEPT p=1 b=60 t=100",
			"eni-1 out 10.0.0.5:8081 198.51.100.7:40000 tcp ACCEPT p=1 b=40 t=100",
		}, event.OutcomeRefused, "198.51.100.7", true},
		{"half-open probe of an open port, with flags", []string{
			"eni-1 in 198.51.100.7:40000 10.0.0.5:22 tcp ACCEPT p=2 b=100 f=6 t=100",
			"eni-1 out 10.0.0.5:22 198.51.100.7:40000 tcp ACCEPT p=1 b=60 f=18 t=100",
		}, event.OutcomeEstablished, "198.51.100.7", true},
		{"half-open probe of an open port, without flags: the SYN-ACK is longer than a reset", []string{
			"eni-1 in 198.51.100.7:40000 10.0.0.5:22 tcp ACCEPT p=2 b=100 t=100",
			"eni-1 out 10.0.0.5:22 198.51.100.7:40000 tcp ACCEPT p=1 b=60 t=100",
		}, event.OutcomeEstablished, "198.51.100.7", true},
		{"a session with data", []string{
			"eni-1 out 10.0.0.5:43000 10.0.1.7:5432 tcp ACCEPT p=20 b=4000 f=3 t=100",
			"eni-1 in 10.0.1.7:5432 10.0.0.5:43000 tcp ACCEPT p=18 b=30000 f=19 t=100",
		}, event.OutcomeData, "10.0.0.5", false},
		{"UDP with no reply", []string{
			"eni-1 out 10.0.0.5:43000 10.0.1.7:161 udp ACCEPT p=1 b=44 t=100",
		}, event.OutcomeUnanswered, "10.0.0.5", false},
		{"UDP answered once: a request and its answer", []string{
			"eni-1 out 10.0.0.5:43000 10.0.0.2:53 udp ACCEPT p=1 b=60 t=100",
			"eni-1 in 10.0.0.2:53 10.0.0.5:43000 udp ACCEPT p=1 b=120 t=100",
		}, event.OutcomeEstablished, "10.0.0.5", false},
		{"UDP conversation", []string{
			"eni-1 out 10.0.0.5:43000 10.0.1.7:4789 udp ACCEPT p=30 b=6000 t=100",
			"eni-1 in 10.0.1.7:4789 10.0.0.5:43000 udp ACCEPT p=28 b=5000 t=100",
		}, event.OutcomeData, "10.0.0.5", false},
		{"UDP probe of an open port, answered", []string{
			"eni-1 in 203.0.113.66:51000 10.0.0.5:161 udp ACCEPT p=1 b=70 t=100",
			"eni-1 out 10.0.0.5:161 203.0.113.66:51000 udp ACCEPT p=1 b=90 t=100",
		}, event.OutcomeEstablished, "203.0.113.66", true},
		{"ICMP echo and reply: no side can be told to have started it", []string{
			"eni-1 in 203.0.113.66:0 10.0.0.5:0 icmp ACCEPT p=1 b=28 t=100",
			"eni-1 out 10.0.0.5:0 203.0.113.66:0 icmp ACCEPT p=1 b=28 t=100",
		}, event.OutcomeUnknown, "10.0.0.5", false},
		{"ICMP blocked by the security group", []string{
			"eni-1 in 203.0.113.66:0 10.0.0.5:0 icmp REJECT p=1 b=28 t=100",
		}, event.OutcomeRejected, "203.0.113.66", true},
		{"ACK probe reset by the host (flags report no ACK)", []string{
			"eni-1 in 203.0.113.66:41000 10.0.0.5:80 tcp ACCEPT p=1 b=40 f=0 t=100",
			"eni-1 out 10.0.0.5:80 203.0.113.66:41000 tcp ACCEPT p=1 b=40 f=4 t=100",
		}, event.OutcomeRefused, "203.0.113.66", true},
		{"ACK probe rejected", []string{
			"eni-1 in 203.0.113.66:41000 10.0.0.5:8443 tcp REJECT p=1 b=40 f=0 t=100",
		}, event.OutcomeRejected, "203.0.113.66", true},
		{"FIN probe of an open port goes unanswered", []string{
			"eni-1 in 203.0.113.66:41000 10.0.0.5:22 tcp ACCEPT p=2 b=80 f=1 t=100",
		}, event.OutcomeUnanswered, "203.0.113.66", true},
		{"a late reply after close is no probe of the ephemeral port", []string{
			"eni-1 in 203.0.113.80:443 10.0.0.5:51000 tcp REJECT p=1 b=40 t=100",
		}, event.OutcomeUnknown, "10.0.0.5", false},
		{"a lone reset with no SYN is no attempt", []string{
			"eni-1 in 192.168.1.155:51234 10.0.0.5:40000 tcp ACCEPT p=1 b=40 f=4 t=100",
		}, event.OutcomeUnknown, "192.168.1.155", true},
		{"IPv6 reset is 60 bytes", []string{
			"eni-1 in [2001:db8::7]:40000 [2600:1f18::5]:8081 tcp ACCEPT p=1 b=80 t=100",
			"eni-1 out [2600:1f18::5]:8081 [2001:db8::7]:40000 tcp ACCEPT p=1 b=60 t=100",
		}, event.OutcomeRefused, "2001:db8::7", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := contacts(t, tt.records...)
			if len(got) != 1 {
				t.Fatalf("got %d contacts, want 1", len(got))
			}
			c := got[0]
			if c.Outcome != tt.outcome || c.Initiator.String() != tt.initiator || c.Inbound != tt.inbound {
				t.Errorf("got %s from %s (inbound %t), want %s from %s (inbound %t)\n%s",
					c.Outcome, c.Initiator, c.Inbound, tt.outcome, tt.initiator, tt.inbound, Describe(&c))
			}
		})
	}
}

// Contacts wait for the watermark to pass the end of their bucket, and a
// bucket's contacts come out in the same order whatever order the records
// arrived in.
func TestBucketsAreOrderIndependent(t *testing.T) {
	var records []string
	for i := 0; i < 200; i++ {
		port := 1 + i*7
		sec := 60 + i%120
		records = append(records,
			fmt.Sprintf("eni-%d in 198.51.100.%d:40000 10.0.0.5:%d tcp REJECT p=1 b=60 t=%d", i%3, i%5, port, sec),
			fmt.Sprintf("eni-%d out 10.0.0.5:%d 198.51.100.%d:40000 tcp ACCEPT p=1 b=40 t=%d", i%3, port, i%5, sec))
	}
	run := func(order []string) []event.Contact {
		s := New(Config{})
		var out []event.Contact
		collect := func(r event.Record) { out = append(out, *r.(*event.Contact)) }
		for _, r := range order {
			s.Observe(rec(t, r), collect)
		}
		s.Advance(119, collect)
		if len(out) != 0 {
			t.Fatalf("contacts before their bucket closed: %d", len(out))
		}
		s.Advance(120, collect)
		first := len(out)
		if first == 0 {
			t.Fatal("no contacts once the first bucket closed")
		}
		s.Advance(event.Forever, collect)
		return out
	}
	want := run(records)
	shuffled := append([]string(nil), records...)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	got := run(shuffled)
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b event.ID) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("shuffled input gave different contacts (-file order +shuffled):\n%s", diff)
	}
}

// A bucket that outgrows the bound is emitted early, whole: every
// conversation still becomes a contact, and the table never holds more
// than the bound.
func TestBoundedConversations(t *testing.T) {
	s := New(Config{MaxConversations: 100})
	n := 0
	collect := func(event.Record) { n++ }
	for i := 0; i < 10_000; i++ {
		f := rec(t, fmt.Sprintf("eni-1 in 198.51.%d.%d:40000 10.0.0.5:22 tcp REJECT p=1 b=60 t=100", i/256%256, i%256))
		s.Observe(f, collect)
	}
	st := s.State()[0]
	if st.Len > 100 || st.Evicted < 9900 {
		t.Errorf("state %+v: want at most 100 entries and at least 9900 evictions", st)
	}
	if uint64(n) != st.Evicted {
		t.Errorf("evicted conversations must still be emitted: %d of %d", n, st.Evicted)
	}
	s.Advance(event.Forever, collect)
	if n != 10_000 {
		t.Errorf("%d contacts in all, want 10000", n)
	}
}

// Traffic to an address that is no one host's (this network, multicast,
// broadcast) makes no contact, so no finding can name it.
func TestNotAHost(t *testing.T) {
	got := contacts(t,
		"eni-1 out 172.16.1.11:61311 0.0.0.4:993 tcp ACCEPT p=1 b=44 f=2 t=100",
		"eni-1 out 10.0.0.5:5353 224.0.0.251:5353 udp ACCEPT p=1 b=80 t=100",
		"eni-1 out 10.0.0.5:68 255.255.255.255:67 udp ACCEPT p=1 b=328 t=100",
		"eni-1 out 10.0.0.5:40000 10.0.0.9:22 tcp ACCEPT p=1 b=60 f=2 t=100",
	)
	if len(got) != 1 || got[0].Responder.String() != "10.0.0.9" {
		t.Errorf("got %d contacts (%v), want only the one to 10.0.0.9", len(got), got)
	}
}

// TestTableIndex puts thousands of keys in one table, a third of them
// sharing one fingerprint and another third sharing its high half (the
// part the index keeps), and finds each again through every growth of
// the index: a shared fingerprint never merges two conversations.
func TestTableIndex(t *testing.T) {
	tb := newTable(&chunkPool{max: 8})
	const n = 3000
	fpOf := func(i int) uint64 {
		switch i % 3 {
		case 0:
			return 0xfeedface_00000007 // one fingerprint for all
		case 1:
			return 0xfeedface_00000000 | uint64(i) // one high half
		}
		return uint64(i) * 0x9e3779b97f4a7c15
	}
	keyOf := func(i int) key { return key{LPort: uint16(i), RPort: uint16(i >> 16), Proto: 6} }
	for i := range n {
		k := keyOf(i)
		c, created := tb.put(fpOf(i), &k)
		if !created {
			t.Fatalf("key %d: found before it was put", i)
		}
		c.Out.Records = uint32(i + 1)
	}
	if len(tb.slots) < 2*n {
		t.Errorf("index of %d slots for %d entries: more than half full", len(tb.slots), n)
	}
	for i := range n {
		k := keyOf(i)
		c := tb.find(fpOf(i), &k)
		if c == nil || c.Out.Records != uint32(i+1) {
			t.Fatalf("key %d: found %+v", i, c)
		}
		if _, created := tb.put(fpOf(i), &k); created {
			t.Fatalf("key %d: put twice", i)
		}
	}
	k := keyOf(n + 1)
	if tb.find(fpOf(0), &k) != nil {
		t.Error("a key never put was found under a shared fingerprint")
	}
	if tb.len() != n {
		t.Errorf("%d entries, want %d", tb.len(), n)
	}
}

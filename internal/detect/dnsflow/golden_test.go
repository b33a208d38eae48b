package dnsflow

import (
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/event"
	"picket/internal/finding"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// scenario is ten minutes of an estate: a web server that uses DNS over
// HTTPS (IPv4 and IPv6), an app server that asks 8.8.8.8 and, once, DNS
// over TLS, a resolver instance that forwards its clients' queries
// through a NAT gateway, and ordinary traffic.
func scenario() []*event.Contact {
	app := func(c conv) conv {
		c.iface, c.instance, c.local = "eni-0app", "i-0app", "10.0.1.11"
		return c
	}
	resolver := func(c conv) conv {
		c.iface, c.instance, c.local = "eni-0dns", "i-0dns", "10.0.2.53"
		return c
	}
	nat := func(c conv) conv {
		c.iface, c.instance, c.local = "eni-0nat", "", "10.0.1.6"
		return c
	}
	line = 0 // the records' lines, the same whichever tests ran before
	var cs []*event.Contact
	for i := range 120 {
		at := event.Time(i * 5)
		add := func(c conv) {
			c.at = at
			cs = append(cs, c.contact())
		}
		add(out("10.0.0.2", 53, event.ProtoUDP))
		add(out("93.184.216.34", 443, event.ProtoTCP))
		switch {
		case i%10 == 0:
			add(resolver(conv{remote: "10.0.1.11", port: 53}))
			add(resolver(out("192.0.2.53", 53, event.ProtoUDP)))
			add(nat(out("192.0.2.53", 53, event.ProtoUDP)))
		case i%15 == 1:
			add(app(out("8.8.8.8", 53, event.ProtoUDP)))
		case i%40 == 2:
			add(out("1.1.1.1", 443, event.ProtoTCP))
			add(conv{iface: web, instance: webIns, local: "2600:1f18::10", remote: "2606:4700:4700::1111", port: 443, proto: event.ProtoTCP, out: true})
		case i == 77:
			add(app(out("9.9.9.9", 853, event.ProtoTCP)))
		}
	}
	return cs
}

// merged runs the detector on contacts, advancing it every minute, and
// returns the findings merged as the store merges them.
func merged(t *testing.T, cs []*event.Contact) []byte {
	t.Helper()
	d := newDetector(t)
	set := finding.NewSet()
	emit := func(f *finding.Finding) { set.Add(f) }
	next := t0 + 60
	for _, c := range cs {
		for c.Start >= next+60 { // the watermark trails a minute behind
			d.Advance(next, emit)
			next += 60
		}
		d.Observe(c, emit)
	}
	d.Advance(event.Forever, emit)
	b, err := json.MarshalIndent(set.Sorted(), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestGolden compares the scenario's merged findings with
// testdata/scenario.golden.json; -update rewrites it.
func TestGolden(t *testing.T) {
	got := merged(t, scenario())
	path := filepath.Join("testdata", "scenario.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("findings differ from %s (-want +got):\n%s", path, diff)
	}
}

// TestOrder checks that the contacts of each minute, in any order, give
// the same findings.
func TestOrder(t *testing.T) {
	cs := scenario()
	ref := merged(t, cs)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		rng.Shuffle(len(cs), func(i, j int) {
			if cs[i].Start/60 == cs[j].Start/60 {
				cs[i], cs[j] = cs[j], cs[i]
			}
		})
		if got := merged(t, cs); string(got) != string(ref) {
			t.Fatalf("shuffled within minutes, the findings differ:\n%s", cmp.Diff(string(ref), string(got)))
		}
	}
}

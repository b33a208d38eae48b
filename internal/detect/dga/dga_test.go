package dga

import (
	"cmp"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

func TestRegistered(t *testing.T) {
	for _, tc := range []struct{ name, label, domain string }{
		{"www.example.co.uk", "example", "example.co.uk"},
		{"d1x2y3z4.cloudfront.net", "cloudfront", "cloudfront.net"},
		{"bucket.s3.amazonaws.com", "amazonaws", "amazonaws.com"},
		{"a.b.c.d.e.f.g.qexylup.com", "qexylup", "qexylup.com"},
		{"example.com", "example", "example.com"},
		{"com", "", ""},
		{"wpad", "", ""},
		{"host.corp.internal", "", ""},
		{"printer.local", "", ""},
		{"10.0.0.1", "", ""},
		{".com", "", ""},
		{"a..com", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, d, ok := Registered([]byte(tc.name))
			if string(l) != tc.label || string(d) != tc.domain || ok != (tc.label != "") {
				t.Errorf("Registered(%q) = %q, %q, %v; want %q, %q", tc.name, l, d, ok, tc.label, tc.domain)
			}
		})
	}
}

func TestScore(t *testing.T) {
	m, err := defaultModel()
	if err != nil {
		t.Fatal(err)
	}
	// Names people chose against names a generator made.
	for _, l := range []string{"google", "wikipedia", "microsoft", "amazon", "weather", "bankofamerica"} {
		if s, ok := m.Score([]byte(l)); !ok || s >= Thresholds[2].Default {
			t.Errorf("Score(%q) = %.2f, %v: want under min_score", l, s, ok)
		}
	}
	for _, l := range []string{"xjwqkzpvbt", "qeqyxov", "kqzvwxjrtplm", "zxcvqwpmfh"} {
		if s, ok := m.Score([]byte(l)); !ok || s < Thresholds[2].Default {
			t.Errorf("Score(%q) = %.2f, %v: want at least min_score", l, s, ok)
		}
	}
	if _, ok := m.Score([]byte("under_score")); ok {
		t.Error("a label with '_' was scored")
	}
	// The thresholds' defaults are the model's measured quantiles.
	if q := m.Quantiles["0.9"]; q > Thresholds[2].Default || Thresholds[2].Default-q > 0.05 {
		t.Errorf("min_score %v is not the held-out 90%% quantile %v rounded up", Thresholds[2].Default, q)
	}
	if q := m.Quantiles["1"]; q >= Thresholds[5].Default || Thresholds[5].Default-q > 0.1 {
		t.Errorf("far_score %v is not just above the highest held-out score %v", Thresholds[5].Default, q)
	}
}

var (
	acct, region = event.Intern("123456789012"), event.Intern("us-east-1")
	t0           = event.TimeOf(time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC))
)

// query makes a query; answered queries get one A record.
func query(t event.Time, inst string, src, name string, answered bool) *event.DNSQuery {
	q := &event.DNSQuery{T: t, Account: acct, Region: region, Src: netip.MustParseAddr(src), Protocol: event.ProtoUDP,
		Name: []byte(name), QType: event.DNSTypeA, QClass: 1, RCode: event.RCodeNXDomain}
	if inst != "" {
		q.Instance = event.Intern(inst)
	}
	if answered {
		q.RCode, q.NumAnswers = event.RCodeNoError, 1
		q.Answers[0] = event.DNSAnswer{Type: event.DNSTypeA, Class: 1, Addr: netip.MustParseAddr("198.51.100.7")}
	}
	return q
}

// generated are names a DGA might make.
var generated = []string{"qexylup", "vowyzuk", "xjwqkzpvbt", "kqzvwxjrtplm", "zxcvqwpmfh", "gyqeqyxov", "lyxyjajq",
	"qeqyqivx", "puvygyqk", "bxqzjvwk", "wqpzkxjv", "jfkqzxwv"}

func run(t *testing.T, env detect.Env, qs []*event.DNSQuery) []*finding.Finding {
	t.Helper()
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	var out []*finding.Finding
	emit := func(f *finding.Finding) { out = append(out, f) }
	for _, q := range qs {
		d.Observe(q, emit)
	}
	d.Advance(event.Forever, emit)
	return out
}

func TestSearchAndRendezvous(t *testing.T) {
	var qs []*event.DNSQuery
	for i, g := range generated {
		qs = append(qs, query(t0+event.Time(i*10), "i-0bad", "10.0.0.5", "www."+g+".com", i == 3))
	}
	// A benign host in the same window: ordinary names, and a few
	// look-alikes that resolve.
	for i, n := range []string{"www.google.com", "api.github.com", "kqzvwxjrtplm.net", "zxcvqwpmfh.org", "s3.amazonaws.com"} {
		qs = append(qs, query(t0+event.Time(i), "i-0good", "10.0.0.6", n, true))
	}
	got := run(t, detect.Env{DetectorID: finding.DetectorID}, qs)
	type summary struct{ Type, Resource, Domain string }
	var sum []summary
	for _, f := range got {
		sum = append(sum, summary{f.Type, f.Resource.InstanceDetails.InstanceID, f.Service.Action.DNSRequestAction.Domain})
	}
	want := []summary{
		{finding.TypeDGADomainRequestB, "i-0bad", sum0(got, finding.TypeDGADomainRequestB)},
		{finding.TypeDGADomainRequest, "i-0bad", "kqzvwxjrtplm.com"},
	}
	if diff := gocmp.Diff(want, sum); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	for _, f := range got {
		if f.Severity != 8 {
			t.Errorf("%s: severity %v", f.Type, f.Severity)
		}
	}
}

func sum0(fs []*finding.Finding, typ string) string {
	for _, f := range fs {
		if f.Type == typ {
			return f.Service.Action.DNSRequestAction.Domain
		}
	}
	return "none"
}

func TestQuietBelowThresholds(t *testing.T) {
	for _, tc := range []struct {
		name string
		qs   func() []*event.DNSQuery
	}{
		{"too few domains", func() (qs []*event.DNSQuery) {
			for i, g := range generated[:9] {
				qs = append(qs, query(t0+event.Time(i), "i-0a", "10.0.0.5", g+".com", false))
			}
			return qs
		}},
		{"most resolved", func() (qs []*event.DNSQuery) {
			for i, g := range generated {
				qs = append(qs, query(t0+event.Time(i), "i-0a", "10.0.0.5", g+".com", i%3 != 0))
			}
			return qs
		}},
		{"spread over windows", func() (qs []*event.DNSQuery) {
			for i, g := range generated {
				qs = append(qs, query(t0+event.Time(i*120), "i-0a", "10.0.0.5", g+".com", false))
			}
			return qs
		}},
		{"subdomains of one CDN", func() (qs []*event.DNSQuery) {
			for i, g := range generated {
				qs = append(qs, query(t0+event.Time(i), "i-0a", "10.0.0.5", g+".cloudfront.net", false))
			}
			return qs
		}},
		{"allowlisted", func() (qs []*event.DNSQuery) {
			for i, g := range generated {
				qs = append(qs, query(t0+event.Time(i), "i-0a", "10.0.0.5", g+".com", false))
			}
			return qs
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := detect.Env{DetectorID: finding.DetectorID}
			if tc.name == "allowlisted" {
				env.Allowlists = map[string][]string{"allow_domains": {"com"}}
			}
			if got := run(t, env, tc.qs()); len(got) != 0 {
				t.Errorf("%d findings, first %s %s", len(got), got[0].Type, got[0].Service.Action.DNSRequestAction.Domain)
			}
		})
	}
}

// TestObserveAllocs holds a warm detector to no allocation a query for
// names it has seen.
func TestObserveAllocs(t *testing.T) {
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		t.Fatal(err)
	}
	qs := benchQueries()
	emit := func(*finding.Finding) {}
	for _, q := range qs {
		d.Observe(q, emit)
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		d.Observe(qs[i%len(qs)], emit)
		i++
	}); n != 0 {
		t.Errorf("%v allocations a query once warm", n)
	}
}

// benchQueries are a busy host's queries: common names, and a DGA's
// names with most unanswered.
func benchQueries() []*event.DNSQuery {
	var qs []*event.DNSQuery
	names := []string{"www.google.com", "api.github.com", "s3.us-east-1.amazonaws.com", "d1x2y3.cloudfront.net", "login.microsoftonline.com",
		"10.1.0.10.in-addr.arpa", "www.example.co.uk", "wpad"}
	for i := range 512 {
		n := names[i%len(names)]
		if i%8 == 7 {
			n = generated[i%len(generated)] + ".com"
		}
		qs = append(qs, query(t0+event.Time(i%300), "i-0a", "10.0.0.5", n, i%3 == 0))
	}
	return qs
}

func BenchmarkObserve(b *testing.B) {
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		b.Fatal(err)
	}
	qs := benchQueries()
	emit := func(*finding.Finding) {}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Observe(qs[i%len(qs)], emit)
		i++
	}
}

func FuzzParseModel(f *testing.F) {
	f.Add(modelFile)                                          // the shipped model
	f.Add([]byte(modelHeader + "\nlabels 3\n^^a 2\nab$ 1\n")) // a small valid one
	f.Add([]byte(modelHeader + "\n^a^ 1\n"))                  // the pad after a character
	f.Add([]byte(modelHeader + "\nabc 1\nabc 2\n"))           // a trigram twice
	f.Add([]byte("not a model\n"))                            // no header
	f.Add([]byte(modelHeader + "\nquantile.0.9 NaN\n"))       // a bad quantile
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseModel(b)
		if err != nil {
			return
		}
		// A parsed model scores every label of its alphabet with a
		// finite, non-negative number of bits.
		for _, l := range []string{"a", "google", "qexylup", "x0-9"} {
			s, ok := m.Score([]byte(l))
			if !ok || s < 0 || s != s || s > 1e6 {
				t.Fatalf("Score(%q) = %v, %v", l, s, ok)
			}
		}
	})
}

// scenario is an hour of two hosts: i-0bad searches for its server in
// two windows and reaches one name, i-0good resolves ordinary names and
// a few look-alikes.
func scenario() []*event.DNSQuery {
	var qs []*event.DNSQuery
	for w := range 2 {
		for i, g := range generated {
			qs = append(qs, query(t0+event.Time(w*1800+i*20), "i-0bad", "10.0.0.5", g+[]string{".com", ".net"}[w], w == 1 && i == 5))
		}
	}
	for i := range 300 {
		n := []string{"www.google.com", "api.github.com", "kqzvwxjrtplm.net", "zxcvqwpmfh.org", "s3.amazonaws.com"}[i%5]
		qs = append(qs, query(t0+event.Time(i*12), "i-0good", "10.0.0.6", n, true))
	}
	return qs
}

func findingsJSON(t testing.TB, fs []*finding.Finding) []byte {
	t.Helper()
	b, err := json.MarshalIndent(fs, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestGolden compares the scenario's merged findings with
// testdata/scenario.golden.json; -update rewrites it.
func TestGolden(t *testing.T) {
	set := finding.NewSet()
	for _, f := range run(t, detect.Env{DetectorID: finding.DetectorID}, scenario()) {
		set.Add(f)
	}
	got := findingsJSON(t, set.Sorted())
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
	if diff := gocmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("findings differ from %s (-want +got):\n%s", path, diff)
	}
}

// TestOrderAndRestart checks that shuffled input, and a restart from
// saved state half way, give the same findings.
func TestOrderAndRestart(t *testing.T) {
	env := detect.Env{DetectorID: finding.DetectorID}
	merged := func(fs []*finding.Finding) []byte {
		set := finding.NewSet()
		for _, f := range fs {
			set.Add(f)
		}
		return findingsJSON(t, set.Sorted())
	}
	qs := scenario()
	slices.SortStableFunc(qs, func(a, b *event.DNSQuery) int { return cmp.Compare(a.T, b.T) })
	ref := merged(run(t, env, qs))

	shuffled := slices.Clone(qs)
	rng := rand.New(rand.NewPCG(1, 2))
	// Shuffle within each window only, as late arrivals do.
	rng.Shuffle(len(shuffled), func(i, j int) {
		if shuffled[i].T/600 == shuffled[j].T/600 {
			shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
		}
	})
	if got := merged(run(t, env, shuffled)); string(got) != string(ref) {
		t.Errorf("shuffled input changes the findings:\n%s", gocmp.Diff(string(ref), string(got)))
	}

	var out []*finding.Finding
	emit := func(f *finding.Finding) { out = append(out, f) }
	d1, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	half := len(qs) / 2
	for _, q := range qs[:half] {
		d1.Observe(q, emit)
	}
	d1.Advance(qs[half].T-qs[half].T%600, emit)
	b, err := d1.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs[half:] {
		d2.Observe(q, emit)
	}
	d2.Advance(event.Forever, emit)
	if got := merged(out); string(got) != string(ref) {
		t.Errorf("a restart changes the findings:\n%s", gocmp.Diff(string(ref), string(got)))
	}
}

// TestBounded floods the detector with sources that each query one
// generated name: the table stays within its cap and counts evictions.
func TestBounded(t *testing.T) {
	d, err := New(detect.Env{DetectorID: finding.DetectorID, MaxKeys: 32})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		src := netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}).String()
		d.Observe(query(t0+event.Time(i%60), "", src, generated[i%len(generated)]+".com", false), nil)
		if st := d.State()[0]; st.Len > st.Cap || st.Cap > 32 {
			t.Fatalf("table %+v over its cap or MaxKeys", st)
		}
	}
	if st := d.State()[0]; st.Evicted == 0 {
		t.Errorf("no eviction counted: %+v", st)
	}
}

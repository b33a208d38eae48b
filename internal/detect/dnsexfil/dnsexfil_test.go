package dnsexfil

import (
	"encoding/base32"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"picket/internal/detect"
	"picket/internal/detect/detecttest"
	"picket/internal/event"
	"picket/internal/finding"
)

const t0 = event.Time(1_700_000_400) // a window boundary

var (
	acct, region = event.Intern("123456789012"), event.Intern("us-east-1")
	enc          = base32.StdEncoding.WithPadding(base32.NoPadding)
)

func query(t event.Time, inst string, src string, name string) *event.DNSQuery {
	q := &event.DNSQuery{T: t, Account: acct, Region: region, VPC: event.Intern("vpc-0test"), Src: netip.MustParseAddr(src),
		Protocol: event.ProtoUDP, Name: []byte(name), QType: event.DNSTypeA, QClass: 1, RCode: event.RCodeNoError}
	if inst != "" {
		q.Instance = event.Intern(inst)
	}
	return q
}

// tunnel is n queries, one a second from start, each carrying 36 random
// bytes as a base32 label under domain.
func tunnel(rng *rand.Rand, start event.Time, n int, inst, src, domain string) []*event.DNSQuery {
	var out []*event.DNSQuery
	buf := make([]byte, 36)
	for i := range n {
		for j := range buf {
			buf[j] = byte(rng.IntN(256))
		}
		name := strings.ToLower(enc.EncodeToString(buf)) + "." + strconv.Itoa(i%10) + "." + domain
		out = append(out, query(start+event.Time(i), inst, src, name))
	}
	return out
}

// run feeds qs through an engine with a detector configured by th and
// returns the merged findings.
func run(t testing.TB, th map[string]float64, qs []*event.DNSQuery) []*finding.Finding {
	t.Helper()
	d, err := New(detect.Env{DetectorID: finding.DetectorID, Thresholds: th})
	if err != nil {
		t.Fatal(err)
	}
	set := finding.NewSet()
	eng, err := detect.NewEngine(nil, []detect.Detector{d}, detect.DefaultConfig, func(f *finding.Finding) { set.Add(f) })
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		eng.Observe(q)
	}
	eng.Flush()
	return set.Sorted()
}

func TestTunnelIsReported(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	qs := tunnel(rng, t0, 600, "i-0tunnel", "10.0.1.5", "t.exfil.example.com")
	qs = append(qs, tunnel(rng, t0, 600, "", "10.0.1.6", "data.example.net")...)
	fs := run(t, nil, qs)
	if len(fs) != 2 {
		t.Fatalf("%d findings, want 2", len(fs))
	}
	byDomain := map[string]*finding.Finding{}
	for _, f := range fs {
		byDomain[f.Service.Action.DNSRequestAction.DomainWithSuffix] = f
	}
	f := byDomain["example.com"]
	if f == nil {
		t.Fatalf("no finding for example.com: %v", byDomain)
	}
	if f.Type != finding.TypeDNSDataExfiltration || f.Resource.InstanceDetails.InstanceID != "i-0tunnel" ||
		f.Service.ResourceRole != finding.RoleActor || f.Service.Count != 600 {
		t.Errorf("finding %s: instance %q role %s count %d", f.Type, f.Resource.InstanceDetails.InstanceID, f.Service.ResourceRole, f.Service.Count)
	}
	da := f.Service.Action.DNSRequestAction
	if !strings.HasSuffix(da.Domain, ".t.exfil.example.com") || da.Protocol != "UDP" || da.Blocked {
		t.Errorf("dnsRequestAction %+v", da)
	}
	if !strings.HasPrefix(f.Title, "EC2 instance i-0tunnel ") {
		t.Errorf("title %q", f.Title)
	}
	h := byDomain["example.net"]
	if h == nil || h.Resource.InstanceDetails.NetworkInterfaces[0].PrivateIPAddress != "10.0.1.6" || !strings.HasPrefix(h.Title, "Host 10.0.1.6 ") {
		t.Errorf("the source without an instance: %+v", h)
	}
}

func TestBenignIsNotReported(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var qs []*event.DNSQuery
	words := []string{"www", "mail", "api", "api-eu", "static", "cdn", "login", "auth", "images", "video"}
	for i := range 6000 {
		tm := t0 + event.Time(i/10)
		src := "10.0.2." + strconv.Itoa(1+i%50)
		switch i % 4 {
		case 0: // a busy site's published names
			qs = append(qs, query(tm, "", src, words[rng.IntN(len(words))]+".example.com"))
		case 1: // reverse lookups: unique by design, allowlisted
			qs = append(qs, query(tm, "", src, strconv.Itoa(i%256)+"."+strconv.Itoa(i/256)+".0.10.in-addr.arpa"))
		case 2: // blocklist-style lookups on a list not on the allowlist: decimal, low entropy
			qs = append(qs, query(tm, "", "10.0.2.99", strconv.Itoa(i%251)+"."+strconv.Itoa(i%241)+"."+strconv.Itoa(i%239)+".203.bl.example.org"))
		default: // a few generated names a service publishes
			qs = append(qs, query(tm, "", src, "node-"+strconv.Itoa(i%20)+".svc.example.io"))
		}
	}
	if fs := run(t, nil, qs); len(fs) != 0 {
		t.Errorf("%d findings on benign traffic, first %s", len(fs), fs[0].Description)
	}
}

func TestAllowlistReplacesDefaults(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	qs := tunnel(rng, t0, 600, "i-0av", "10.0.1.7", "scan.vendor.example")
	d, err := New(detect.Env{DetectorID: finding.DetectorID, Allowlists: map[string][]string{"allow_domains": {"Vendor.Example."}}})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, q := range qs {
		d.Observe(q, nil)
	}
	d.Advance(event.Forever, func(*finding.Finding) { n++ })
	if n != 0 {
		t.Errorf("an allowlisted domain was reported %d times", n)
	}
}

// The findings do not depend on the order in which a window's queries
// arrive, nor on a restart in the middle.
func TestOrderAndSnapshot(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	qs := tunnel(rng, t0, 1500, "i-0tunnel", "10.0.1.5", "t.exfil.example.com")
	for i := range 1500 {
		qs = append(qs, query(t0+event.Time(i), "i-0tunnel", "10.0.1.5", "www.example.org"))
	}
	// In time order, as the engine would see them from one log.
	slicesSortByTime(qs)
	ref := findingsJSON(t, run(t, nil, qs))
	if ref == "[]" {
		t.Fatal("nothing reported")
	}
	shuffled := make([]event.Record, len(qs))
	for i, q := range qs {
		shuffled[i] = q
	}
	shuffled = detecttest.Shuffle(shuffled, detect.DefaultConfig.Lateness, 9)
	var again []*event.DNSQuery
	for _, r := range shuffled {
		again = append(again, r.(*event.DNSQuery))
	}
	if got := findingsJSON(t, run(t, nil, again)); got != ref {
		t.Errorf("reordered queries give other findings:\n%s", gocmp.Diff(ref, got))
	}

	// A restart half way.
	set := finding.NewSet()
	add := func(f *finding.Finding) { set.Add(f) }
	d1, _ := New(detect.Env{DetectorID: finding.DetectorID})
	for _, q := range qs[:len(qs)/2] {
		d1.Observe(q, add)
	}
	d1.Advance(qs[len(qs)/2].T-1, add)
	b, err := d1.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := New(detect.Env{DetectorID: finding.DetectorID})
	if err := d2.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(d1.State(), d2.State()); diff != "" {
		t.Errorf("restored tables differ:\n%s", diff)
	}
	for _, q := range qs[len(qs)/2:] {
		d2.Observe(q, add)
	}
	d2.Advance(event.Forever, add)
	if got := findingsJSON(t, set.Sorted()); got != ref {
		t.Errorf("a restart changes the findings:\n%s", gocmp.Diff(ref, got))
	}
}

func slicesSortByTime(qs []*event.DNSQuery) {
	for i := 1; i < len(qs); i++ {
		for j := i; j > 0 && qs[j].T < qs[j-1].T; j-- {
			qs[j], qs[j-1] = qs[j-1], qs[j]
		}
	}
}

func findingsJSON(t testing.TB, fs []*finding.Finding) string {
	t.Helper()
	b, err := json.MarshalIndent(fs, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A flood of distinct sources keeps the table within its cap, counts
// evictions, and a restart keeps the counts; the tunnel among them is
// still reported.
func TestBoundedState(t *testing.T) {
	d, err := New(detect.Env{DetectorID: finding.DetectorID, MaxKeys: 32})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	tun := tunnel(rng, t0, 600, "i-0tunnel", "10.0.1.5", "t.exfil.example.com")
	for i, q := range tun {
		d.Observe(q, nil)
		for j := range 3 {
			src := netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}).String()
			d.Observe(query(q.T, "", src, "host"+strconv.Itoa(j)+".example.org"), nil)
		}
		if st := d.State()[0]; st.Len > st.Cap || st.Cap > 32 {
			t.Fatalf("table %+v over its cap or MaxKeys", st)
		}
	}
	st := d.State()[0]
	if st.Evicted == 0 {
		t.Errorf("no eviction counted: %+v", st)
	}
	b, err := d.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := New(detect.Env{DetectorID: finding.DetectorID, MaxKeys: 32})
	if err := r.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(d.State(), r.State()); diff != "" {
		t.Errorf("restored tables differ:\n%s", diff)
	}
	n := 0
	d.Advance(event.Forever, func(*finding.Finding) { n++ })
	if n != 1 {
		t.Errorf("%d reports, want the tunnel's one", n)
	}
}

func TestNoWallClock(t *testing.T) {
	detecttest.NoWallClock(t, "picket/internal/detect/dnsexfil")
}

// BenchmarkObserve feeds the detector a resolver's mix: nine queries in
// ten are 2,000 hosts asking for the published names of 200 domains,
// one in ten a tunnel's 60-byte base32 names from one of 20 hosts. It
// advances every event-time second, 1,000 queries a second.
//
//	go test -run xxx -bench Observe -count 6 ./internal/detect/dnsexfil
func BenchmarkObserve(b *testing.B) {
	d, err := New(detect.Env{DetectorID: finding.DetectorID})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	words := []string{"www", "mail", "api", "static", "cdn", "login"}
	names := make([][]byte, 0, 4096)
	for i := range cap(names) {
		names = append(names, []byte(words[i%len(words)]+".site"+strconv.Itoa(i%200)+".example.com"))
	}
	tunnelNames := make([][]byte, 0, 4096)
	buf := make([]byte, 36)
	for range cap(tunnelNames) {
		for j := range buf {
			buf[j] = byte(rng.IntN(256))
		}
		tunnelNames = append(tunnelNames, []byte(strings.ToLower(enc.EncodeToString(buf))+".t.exfil.example.net"))
	}
	emit := func(*finding.Finding) {}
	q := event.DNSQuery{Account: acct, Region: region, Protocol: event.ProtoUDP, QType: event.DNSTypeA}
	i := 0
	var bytes int64
	b.ReportAllocs()
	for b.Loop() {
		q.T = t0 + event.Time(i/1000)
		if i%10 == 0 {
			q.Src = netip.AddrFrom4([4]byte{10, 1, 0, byte(i % 20)})
			q.Name = tunnelNames[i%len(tunnelNames)]
		} else {
			q.Src = netip.AddrFrom4([4]byte{10, 2, byte(i >> 8 % 8), byte(i)})
			q.Name = names[i%len(names)]
		}
		bytes += int64(len(q.Name))
		d.Observe(&q, emit)
		if i%1000 == 999 {
			d.Advance(q.T-1, emit)
		}
		i++
	}
	b.SetBytes(bytes / int64(max(i, 1)))
}

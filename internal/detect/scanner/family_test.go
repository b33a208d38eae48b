package scanner

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"picket/internal/detect"
	"picket/internal/detect/detecttest"
	"picket/internal/event"
	"picket/internal/finding"
)

// newScan and newSweep build one detector of the family alone, as when
// the other is disabled: each then has a tracker of its own.
func newScan(env detect.Env) (detect.Detector, error) {
	d, _, err := New(&env, nil)
	return d, err
}

func newSweep(env detect.Env) (detect.Detector, error) {
	_, d, err := New(nil, &env)
	return d, err
}

// mixed is traffic on which both finding types have something to say,
// in time order: one host that scans a target and then sweeps a port
// (both findings from one host's state), a scan seen only from the
// target, a scan seen first from the target and then from the scanner's
// own interface, a ping sweep, a monitor and a client that must stay
// quiet.
func mixed(t *testing.T) []*event.Contact {
	var lines []string
	add := func(at int, format string, args ...any) {
		lines = append(lines, fmt.Sprintf("%08d ", at)+fmt.Sprintf(format, args...))
	}
	for i := range 30 {
		outcome := "refused"
		if i%10 == 0 {
			outcome = "established"
		}
		add(1000+i, "10.0.1.5:45000 > 10.0.2.9:%d tcp %s t=%d eni=eni-s i-0scanner", 20+3*i, outcome, 1000+i)
	}
	for i := range 100 {
		add(1200+2*i, "10.0.1.5:%d > 10.0.%d.%d:22 tcp unanswered t=%d eni=eni-s i-0scanner", 40000+i, 16+i/250, 4+i%250, 1200+2*i)
	}
	for i := range 20 {
		add(1100+i, "10.0.3.3:45000 > 10.0.2.9:%d tcp rejected t=%d in eni=eni-target i-0target", 100+i, 1100+i)
	}
	for i := range 25 {
		add(1500+5*i, "10.0.1.9:45000 > 10.0.2.20:%d tcp refused t=%d in eni=eni-t2 i-0target2", 200+i, 1500+5*i)
		add(1500+5*i+1, "10.0.1.9:45000 > 10.0.2.20:%d tcp refused t=%d eni=eni-s9 i-0scanner9", 200+i, 1500+5*i+1)
	}
	for i := range 30 {
		add(2000+i, "10.0.1.8:0 > 10.0.5.%d:0 icmp unanswered t=%d eni=eni-p i-0pinger", 10+i, 2000+i)
	}
	for round := range 3 {
		for p := range 20 {
			outcome := "established"
			if p%2 == 0 {
				outcome = "refused"
			}
			at := 1000 + 60*round + p
			add(at, "10.0.1.6:%d > 10.0.2.30:%d tcp %s t=%d eni=eni-m i-0monitor", 41000+round*20+p, 8000+p, outcome, at)
		}
	}
	for i := range 40 {
		add(1000+10*i, "10.0.1.7:%d > 10.0.2.%d:443 tcp data t=%d eni=eni-c i-0client", 50000+i, 40+i%8, 1000+10*i)
	}
	slices.Sort(lines)
	cs := make([]*event.Contact, len(lines))
	for i, l := range lines {
		cs[i] = detecttest.Contact(t, l[9:])
	}
	return cs
}

// run feeds contacts to detectors as the engine does, advancing them at
// every minute of event time, and returns the findings as JSON, merged
// by ID and sorted.
func run(t *testing.T, dets []detect.Detector, cs []*event.Contact) []string {
	t.Helper()
	set := finding.NewSet()
	emit := func(f *finding.Finding) { set.Add(f) }
	feed(dets, cs, emit)
	for _, d := range dets {
		d.Advance(event.Forever, emit)
	}
	return findingsJSON(t, set)
}

func feed(dets []detect.Detector, cs []*event.Contact, emit detect.Emit) {
	for _, c := range cs {
		for _, d := range dets {
			d.Observe(c, emit)
		}
		if c.Start%60 == 0 {
			for _, d := range dets {
				d.Advance(c.Start-60, emit)
			}
		}
	}
}

func findingsJSON(t *testing.T, set *finding.Set) []string {
	t.Helper()
	var out []string
	for _, f := range set.Sorted() {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func types(fs []string) map[string]int {
	n := map[string]int{}
	for _, s := range fs {
		var f finding.Finding
		json.Unmarshal([]byte(s), &f)
		n[f.Type]++
	}
	return n
}

// The family over one tracker reports exactly what each detector reports
// over a tracker of its own.
func TestFamilyReportsWhatEachDetectorAloneReports(t *testing.T) {
	cs := mixed(t)
	env := detecttest.Env(nil)
	scan, sweep, err := New(&env, &env)
	if err != nil {
		t.Fatal(err)
	}
	got := run(t, []detect.Detector{scan, sweep}, cs)
	alone, _ := newScan(env)
	want := run(t, []detect.Detector{alone}, cs)
	alone, _ = newSweep(env)
	want = append(want, run(t, []detect.Detector{alone}, cs)...)
	slices.Sort(want)
	slices.Sort(got)
	if n := types(want); n[finding.TypePortscan] < 3 || n[finding.TypePortSweep] < 2 {
		t.Fatalf("the traffic gives %v, want at least three scans and two sweeps", n)
	}
	t.Logf("findings by type: %v", types(want))
	if d := gocmp.Diff(want, got); d != "" {
		t.Errorf("findings of the family (+) and of each detector alone (-) differ:\n%s", d)
	}
}

// Both detectors read one tracker: the family reports one table, holding
// each host once, where the two detectors alone hold it twice.
func TestFamilyHoldsEachHostOnce(t *testing.T) {
	cs := mixed(t)
	env := detecttest.Env(nil)
	scan, sweep, err := New(&env, &env)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := scan.(*Detector)
	if !ok {
		t.Fatalf("the port scan detector is a %T, want the family's *Detector", scan)
	}
	if _, ok := sweep.(detect.Stater); ok {
		t.Error("the port sweep detector reports state of its own")
	}
	if _, ok := sweep.(detect.Snapshotter); ok {
		t.Error("the port sweep detector saves state of its own")
	}
	if def := sweep.Definition(); def.ID != SweepID || !slices.Equal(def.FindingTypes, []string{finding.TypePortSweep}) {
		t.Errorf("the port sweep detector is known as %s raising %v", def.ID, def.FindingTypes)
	}
	run(t, []detect.Detector{scan, sweep}, cs)
	hosts := map[string]bool{}
	for _, c := range cs {
		hosts[c.Initiator.String()] = true
	}
	st := d.State()
	if len(st) != 1 || st[0].Table != "hosts" || st[0].Len != len(hosts) {
		t.Errorf("the family reports %+v, want one table of %d hosts", st, len(hosts))
	}

	s, _ := newScan(env)
	w, _ := newSweep(env)
	run(t, []detect.Detector{s, w}, cs)
	held := 0
	for _, x := range []detect.Detector{s, w} {
		for _, tb := range x.(detect.Stater).State() {
			held += tb.Len
		}
	}
	if held != 2*len(hosts) {
		t.Errorf("the two detectors alone hold %d hosts, want each of %d twice", held, len(hosts))
	}
}

// A state saved part way and restored in a new family gives what an
// uninterrupted run gives, and the restored family saves the same
// reports and hosts.
func TestFamilyStateRoundTrips(t *testing.T) {
	cs := mixed(t)
	env := detecttest.Env(nil)
	build := func() []detect.Detector {
		scan, sweep, err := New(&env, &env)
		if err != nil {
			t.Fatal(err)
		}
		return []detect.Detector{scan, sweep}
	}
	want := run(t, build(), cs)
	waiting := 0
	for _, cut := range []int{len(cs) / 4, len(cs) / 2, len(cs) - 5} {
		set := finding.NewSet()
		emit := func(f *finding.Finding) { set.Add(f) }
		first := build()
		feed(first, cs[:cut], emit)
		b, err := first[0].(detect.Snapshotter).MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		second := build()
		if err := second[0].(detect.Snapshotter).UnmarshalState(b); err != nil {
			t.Fatal(err)
		}
		a, r := first[0].(*Detector), second[0].(*Detector)
		for i := range a.books {
			waiting += len(a.books[i].dirty)
			if !reflect.DeepEqual(a.books[i].dirty, r.books[i].dirty) {
				t.Errorf("cut at %d: the restored %s reports differ", cut, a.books[i].def.ID)
			}
		}
		if !reflect.DeepEqual(a.tr.inits.Snapshot(), r.tr.inits.Snapshot()) {
			t.Errorf("cut at %d: the restored hosts differ", cut)
		}
		feed(second, cs[cut:], emit)
		for _, d := range second {
			d.Advance(event.Forever, emit)
		}
		if d := gocmp.Diff(want, findingsJSON(t, set)); d != "" {
			t.Errorf("cut at %d: findings differ from an uninterrupted run:\n%s", cut, d)
		}
	}
	if waiting == 0 {
		t.Error("no cut fell while reports were waiting: the saved reports went untested")
	}
}

// The tracker's settings are the family's: given to one detector they
// hold for both, given different values to each they are an error. The
// finding types' own thresholds stay each detector's.
func TestFamilySettings(t *testing.T) {
	def := func(d detect.Detector, name string) float64 {
		return detect.Tunables(d.Definition().Thresholds).Get(name)
	}
	scanEnv, sweepEnv := detecttest.Env(map[string]float64{"max_hosts": 100, "min_ports": 5}), detecttest.Env(map[string]float64{"host_ttl": 600})
	scan, sweep, err := New(&scanEnv, &sweepEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []detect.Detector{scan, sweep} {
		if def(d, "max_hosts") != 100 || def(d, "host_ttl") != 600 {
			t.Errorf("%s: max_hosts %g, host_ttl %g, want 100 and 600 for both", d.Definition().ID, def(d, "max_hosts"), def(d, "host_ttl"))
		}
	}
	if def(scan, "min_ports") != 5 || def(sweep, "min_hosts") != 20 {
		t.Errorf("min_ports %g, min_hosts %g, want 5 and the default 20", def(scan, "min_ports"), def(sweep, "min_hosts"))
	}
	if st := scan.(*Detector).State(); st[0].Cap != 100 {
		t.Errorf("the tracker holds %d hosts, want max_hosts 100", st[0].Cap)
	}

	scanEnv, sweepEnv = detecttest.Env(map[string]float64{"trw_theta0": 0.7}), detecttest.Env(map[string]float64{"trw_theta0": 0.75, "trw_theta1": 0.3})
	_, _, err = New(&scanEnv, &sweepEnv)
	if err == nil || !strings.Contains(err.Error(), "trw_theta0 is 0.7 for portscan and 0.75 for portsweep") {
		t.Errorf("different trw_theta0 for each detector: error %v", err)
	}
	// The same value given to both, or a value given to a detector that
	// is disabled, is no conflict.
	sweepEnv = detecttest.Env(map[string]float64{"trw_theta0": 0.7})
	if _, _, err := New(&scanEnv, &sweepEnv); err != nil {
		t.Error(err)
	}
	sweepEnv = detecttest.Env(map[string]float64{"trw_theta0": 0.9})
	if _, sweep, err := New(nil, &sweepEnv); err != nil || def(sweep, "trw_theta0") != 0.9 {
		t.Errorf("portsweep alone: %v", err)
	}
	scanEnv = detecttest.Env(map[string]float64{"trw_theta1": 0.9})
	if _, _, err := New(&scanEnv, &sweepEnv); err == nil || !strings.Contains(err.Error(), "trw_theta1 must be below trw_theta0") {
		t.Errorf("trw_theta1 above trw_theta0: error %v", err)
	}
}

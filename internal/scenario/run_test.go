package scenario

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"picket/internal/app"
	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/synth"
)

// Result is the outcome of one scenario.
type Result struct {
	Scenario *Scenario
	Records  int // flow records generated
	Labels   []synth.Label
	Findings []Fact // in file order
	Expected []Check
	// FalsePositives are findings that no expectation or allow line
	// accounts for; Allowed those an allow line does.
	FalsePositives []Fact
	Allowed        []Fact
	// RepeatDiff describes how the findings of a second analysis of the
	// same files in file order differ from the first ("" when identical):
	// two runs over the same input must give identical output.
	RepeatDiff string
	// OrderDiff describes how the findings of the shuffled per-interface
	// order differ from those of file order ("" when identical).
	OrderDiff string
	// Input problems: records late on arrival, bad records, unreadable
	// inputs, in either order. The generator and the writer should make
	// none.
	InputProblems []string
	Elapsed       time.Duration
}

// Check is one expectation and how it went.
type Check struct {
	Pattern  Pattern
	Label    *synth.Label // the attack it is about, if known
	Detected bool
	Finding  *Fact
	Probes   int           // conversations of the attack that started at or before the finding was created
	Total    int           // conversations of the attack
	Delay    time.Duration // from the attack's first conversation to the finding's creation
	Why      string
}

// Fact is what the evaluation reads from a finding.
type Fact struct {
	ID       string
	Type     string
	Resource string
	Role     string
	Remotes  []string // the remote addresses the finding names (sorted)
	Count    int64
	First    time.Time
	Last     time.Time
	Created  time.Time
	Severity float64
	Summary  string
}

func (f Fact) String() string {
	return fmt.Sprintf("%s %s role=%s remote=%s count=%d severity=%s", f.Type, f.Resource, f.Role, shortList(f.Remotes, 3), f.Count, severityLabel(f.Severity))
}

func shortList(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ",")
	}
	return strings.Join(s[:n], ",") + fmt.Sprintf(",...(%d)", len(s))
}

func factOf(f *finding.Finding) Fact {
	x := Fact{
		ID: f.ID, Type: f.Type, Role: f.Service.ResourceRole, Count: f.Service.Count,
		First: f.Service.EventFirstSeen.Time, Last: f.Service.EventLastSeen.Time, Created: f.CreatedAt.Time,
		Severity: float64(f.Severity),
	}
	if d := f.Resource.InstanceDetails; d != nil {
		x.Resource = d.InstanceID
		if x.Resource == "" && len(d.NetworkInterfaces) > 0 {
			x.Resource = d.NetworkInterfaces[0].NetworkInterfaceID
		}
	}
	addr := func(r *finding.RemoteIPDetails) {
		if r == nil {
			return
		}
		a := r.IPAddressV4 + r.IPAddressV6
		if a != "" && !slices.Contains(x.Remotes, a) {
			x.Remotes = append(x.Remotes, a)
		}
	}
	if nc := f.Service.Action.NetworkConnectionAction; nc != nil {
		addr(nc.RemoteIPDetails)
	}
	if pp := f.Service.Action.PortProbeAction; pp != nil {
		for _, d := range pp.PortProbeDetails {
			addr(d.RemoteIPDetails)
		}
	}
	slices.Sort(x.Remotes)
	if ai := f.Service.AdditionalInfo; ai != nil && ai.Explanation != nil {
		x.Summary = ai.Explanation.Summary
	}
	return x
}

// generated is one synth run held in memory.
type generated struct {
	cfg     synth.Config
	estate  *synth.Estate
	labels  []synth.Label
	records []synth.Record // in generation order
}

func generate(s *Scenario) (*generated, error) {
	g, err := synth.New(s.Config)
	if err != nil {
		return nil, err
	}
	out := &generated{cfg: s.Config, estate: g.Estate()}
	if err := g.Run(func(r synth.Record) { out.records = append(out.records, r) }); err != nil {
		return nil, err
	}
	out.labels = g.Labels()
	return out, nil
}

// writeFileOrder writes the records as one flow log file, in the order
// synth.Writer delivers them (by end minute, then start).
func (gen *generated) writeFileOrder(dir string, version int) error {
	format, err := synth.FormatFor(version)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w := &synth.Writer{Format: format, Header: true, Out: &buf, Account: gen.cfg.Account, Region: gen.cfg.Region}
	for _, r := range gen.records {
		if err := w.Add(r); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "flows.log"), buf.Bytes(), 0o644)
}

// fileOrder returns the records in the order synth.Writer writes them: by
// the minute they end in, then by start and interface.
func (gen *generated) fileOrder() []synth.Record {
	recs := slices.Clone(gen.records)
	slices.SortStableFunc(recs, func(a, b synth.Record) int {
		if c := cmp.Compare(a.End-a.End%60, b.End-b.End%60); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Start, b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.Iface.ID, b.Iface.ID)
	})
	return recs
}

// shuffleWindow is how far records are moved within a stream in the
// shuffled order: well within the engine's lateness.
const shuffleWindow = 120

// writeShuffled writes one file per interface, as CloudWatch Logs exports
// them, each in file order shuffled within windows of shuffleWindow
// seconds, under names that put the interfaces in a random order (the
// analysis breaks ties between inputs by their order).
func (gen *generated) writeShuffled(dir string, version int, seed uint64) error {
	format, err := synth.FormatFor(version)
	if err != nil {
		return err
	}
	streams := map[string][]synth.Record{}
	var ids []string
	for _, r := range gen.fileOrder() {
		if _, ok := streams[r.Iface.ID]; !ok {
			ids = append(ids, r.Iface.ID)
		}
		streams[r.Iface.ID] = append(streams[r.Iface.ID], r)
	}
	rng := rand.New(rand.NewPCG(seed, 0x0dde4))
	var line []byte
	for _, id := range ids {
		recs := streams[id]
		for i := 0; i < len(recs); {
			j := i
			for j < len(recs) && recs[j].End/shuffleWindow == recs[i].End/shuffleWindow {
				j++
			}
			w := recs[i:j]
			rng.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
			i = j
		}
		var buf bytes.Buffer
		buf.WriteString(format.String())
		buf.WriteByte('\n')
		for k := range recs {
			line = synth.AppendRecord(line[:0], format, &recs[k], gen.cfg.Account, gen.cfg.Region)
			buf.Write(line)
			buf.WriteByte('\n')
		}
		name := fmt.Sprintf("%08x-%s.log", rng.Uint32(), id)
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func analyze(dir string, s *Scenario) ([]Fact, []string, error) {
	opt := app.AnalyzeOptions{Paths: []string{dir}, Account: s.Config.Account, Region: s.Config.Region}
	if s.Lateness > 0 {
		opt.Engine = detect.Config{Lateness: event.Time(s.Lateness.Seconds()), Tick: detect.DefaultConfig.Tick}
	}
	fs, sum, err := app.Analyze(context.Background(), opt)
	if err != nil {
		return nil, nil, err
	}
	var problems []string
	if sum.Late > 0 {
		problems = append(problems, fmt.Sprintf("%d records late on arrival", sum.Late))
	}
	if n := sum.SkippedTotal(); n > 0 {
		problems = append(problems, fmt.Sprintf("%d bad records: %v", n, sum.Examples))
	}
	problems = append(problems, sum.InputErrors...)
	facts := make([]Fact, len(fs))
	for i, f := range fs {
		facts[i] = factOf(f)
	}
	return facts, problems, nil
}

// Run generates a scenario, analyzes it in both orders under dir, and
// scores it.
func Run(s *Scenario, dir string) (*Result, error) {
	start := time.Now()
	gen, err := generate(s)
	if err != nil {
		return nil, err
	}
	r := &Result{Scenario: s, Records: len(gen.records), Labels: gen.labels}
	if err := checkTail(s, gen.labels); err != nil {
		return nil, err
	}
	dirA, dirB := filepath.Join(dir, "file-order"), filepath.Join(dir, "shuffled")
	for _, d := range []string{dirA, dirB} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := gen.writeFileOrder(dirA, s.Version); err != nil {
		return nil, err
	}
	if err := gen.writeShuffled(dirB, s.Version, s.Config.Seed); err != nil {
		return nil, err
	}
	a, probA, err := analyze(dirA, s)
	if err != nil {
		return nil, err
	}
	b, probB, err := analyze(dirB, s)
	if err != nil {
		return nil, err
	}
	for _, p := range probA {
		r.InputProblems = append(r.InputProblems, "file order: "+p)
	}
	for _, p := range probB {
		r.InputProblems = append(r.InputProblems, "shuffled order: "+p)
	}
	r.Findings = a
	r.OrderDiff = orderDiff(a, b)
	if r.OrderDiff != "" {
		// Tell an order dependence from runs that merely come out
		// differently: analyze each order again.
		for _, x := range []struct {
			dir   string
			first []Fact
			name  string
		}{{dirA, a, ""}, {dirB, b, "(shuffled order) "}} {
			again, _, err := analyze(x.dir, s)
			if err != nil {
				return nil, err
			}
			if d := orderDiff(x.first, again); d != "" {
				r.RepeatDiff = x.name + d
				break
			}
		}
	}
	if err := r.score(gen); err != nil {
		return nil, err
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// checkTail makes sure that the run goes on long enough after its last
// attack for the watermark to pass it minute by minute, as it would in a
// stream: otherwise the end of the input flushes the attack's contacts in
// one report, and the probes counted before the finding are all of them.
func checkTail(s *Scenario, labels []synth.Label) error {
	lateness := time.Duration(detect.DefaultConfig.Lateness) * time.Second
	if s.Lateness > 0 {
		lateness = s.Lateness
	}
	end := s.Config.Start.Add(s.Config.Duration)
	for _, l := range labels {
		if l.Type == "" || len(l.Trace) == 0 {
			continue
		}
		last := l.Trace[0].Start
		for _, p := range l.Trace {
			if p.Start.After(last) {
				last = p.Start
			}
		}
		if need := last.Add(lateness + 3*time.Minute); need.After(end) {
			return fmt.Errorf("attack %s ends at %s: the run must last until %s (lateness %v and three minutes more) for its finding to be made as in a stream; set duration: %v or a shorter lateness",
				l.Name, last.Format("15:04:05"), need.Format("15:04:05"), lateness, need.Sub(s.Config.Start).Round(time.Minute)+time.Minute)
		}
	}
	return nil
}

// orderDiff compares the findings of the two orders: identity, counts,
// activity window, creation time, severity and remotes.
func orderDiff(a, b []Fact) string {
	norm := func(fs []Fact) []Fact {
		out := slices.Clone(fs)
		for i := range out {
			out[i].Summary = "" // explanations may name the latest contact
		}
		slices.SortFunc(out, func(x, y Fact) int { return cmp.Compare(x.ID, y.ID) })
		return out
	}
	return gocmp.Diff(norm(a), norm(b))
}

// refs resolves a scenario's references against the generated estate.
type refs struct {
	estate *synth.Estate
}

// resource resolves a resource reference to the IDs a finding about it
// may name: the instance's, or the interface's when the flow logs do not
// carry instance IDs (the version 2 default format). Nil matches any.
func (rf refs) resource(ref string, l *synth.Label) []string {
	switch ref {
	case "", "*":
		return nil
	case "label":
		if l == nil {
			return []string{"?"}
		}
		ref = l.Resource
	}
	if i := rf.estate.Find(ref); i != nil {
		return []string{i.Instance, i.ID}
	}
	if i, err := rf.estate.Resolve(ref); err == nil {
		return []string{i.Instance, i.ID}
	}
	return []string{ref}
}

// remotes resolves a remote reference to the addresses a finding must
// name (nil: any).
func (rf refs) remotes(ref string, l *synth.Label) []string {
	switch ref {
	case "", "*":
		return nil
	case "target":
		// Any one of the hosts the attack contacted: a sweep's finding
		// names the latest, which the generator does not decide.
		return nil
	case "attacker", "label":
		if l == nil {
			return []string{"?"}
		}
		if l.Remote != "" {
			return []string{l.Remote}
		}
		// Many sources: every one that reached a port that is not meant
		// to face the internet.
		var out []string
		for _, p := range l.Trace {
			if p.Opened() && p.Port != 80 && p.Port != 443 && !slices.Contains(out, p.Src.String()) {
				out = append(out, p.Src.String())
			}
		}
		slices.Sort(out)
		return out
	}
	if a, err := netip.ParseAddr(ref); err == nil {
		return []string{a.String()}
	}
	if i, err := rf.estate.Resolve(ref); err == nil {
		return []string{i.Private.String()}
	}
	return []string{ref}
}

// label picks the attack an expectation is about.
func label(p Pattern, labels []synth.Label, resource func(*synth.Label) []string) *synth.Label {
	if p.Attack != "" {
		for i := range labels {
			if labels[i].Name == p.Attack {
				return &labels[i]
			}
		}
		return nil
	}
	var typed []*synth.Label
	for i := range labels {
		if labels[i].Type == p.Type {
			typed = append(typed, &labels[i])
		}
	}
	for _, l := range typed {
		if slices.Contains(resource(l), l.Resource) {
			return l
		}
	}
	if len(typed) > 0 {
		return typed[0]
	}
	if len(labels) == 1 {
		return &labels[0]
	}
	return nil
}

func (f *Fact) matches(typ string, resource []string, role string) bool {
	return (typ == "" || f.Type == typ) && (resource == nil || slices.Contains(resource, f.Resource)) && (role == "" || f.Role == role)
}

// remoteOK reports whether a finding names the remote addresses an
// expectation wants: all of want, or, for remote=target, one of the hosts
// the attack contacted.
func remoteOK(f *Fact, ref string, want []string, l *synth.Label) bool {
	if ref != "target" {
		return containsAll(f.Remotes, want)
	}
	if l == nil {
		return false
	}
	for _, p := range l.Trace {
		if slices.Contains(f.Remotes, p.Dst.String()) {
			return true
		}
	}
	return false
}

// severityLabel names a severity as GuardDuty's console does.
func severityLabel(v float64) string {
	switch {
	case v >= 7:
		return "High"
	case v >= 4:
		return "Medium"
	}
	return "Low"
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func (r *Result) score(gen *generated) error {
	rf := refs{gen.estate}
	s := r.Scenario
	expected := make([]bool, len(r.Findings))
	for _, p := range s.Expect {
		l := label(p, r.Labels, func(l *synth.Label) []string { return rf.resource(p.Resource, l) })
		if p.Attack != "" && l == nil {
			return fmt.Errorf("expect %q: no attack named %q", p.Text, p.Attack)
		}
		res := rf.resource(p.Resource, l)
		want := rf.remotes(p.Remote, l)
		c := Check{Pattern: p, Label: l}
		if l != nil {
			c.Total = len(l.Trace)
		}
		var near []string
		for i := range r.Findings {
			f := &r.Findings[i]
			if !f.matches(p.Type, res, p.Role) {
				if f.Type == p.Type {
					near = append(near, f.String())
				}
				continue
			}
			expected[i] = true
			if !remoteOK(f, p.Remote, want, l) {
				near = append(near, f.String()+" (wanted remote "+shortList(want, 3)+")")
				continue
			}
			if p.Severity != "" && severityLabel(f.Severity) != p.Severity {
				near = append(near, f.String()+" (severity "+severityLabel(f.Severity)+", wanted "+p.Severity+")")
				continue
			}
			if !c.Detected || f.Created.Before(c.Finding.Created) {
				c.Detected, c.Finding = true, f
			}
		}
		switch {
		case c.Detected && l != nil:
			first := c.Finding.Created
			for _, pr := range l.Trace {
				if pr.Start.Before(first) {
					first = pr.Start
				}
			}
			c.Delay = c.Finding.Created.Sub(first)
			for _, pr := range l.Trace {
				if !pr.Start.After(c.Finding.Created) {
					c.Probes++
				}
			}
		case !c.Detected && len(near) > 0:
			c.Why = "found instead: " + strings.Join(near, "; ")
		case !c.Detected:
			c.Why = "no " + p.Type + " finding"
		}
		r.Expected = append(r.Expected, c)
	}
	for i := range r.Findings {
		if expected[i] {
			continue
		}
		f := r.Findings[i]
		allowed := false
		for _, p := range s.Allow {
			if f.matches(p.Type, rf.resource(p.Resource, nil), p.Role) && containsAll(f.Remotes, rf.remotes(p.Remote, nil)) {
				allowed = true
				break
			}
		}
		if allowed {
			r.Allowed = append(r.Allowed, f)
		} else {
			r.FalsePositives = append(r.FalsePositives, f)
		}
	}
	return nil
}

// Problems lists why the scenario fails, or nothing when it passes.
func (r *Result) Problems() []string {
	return append(r.detectionProblems(), r.stabilityProblems()...)
}

// detectionProblems are missed findings, false positives and bad input.
func (r *Result) detectionProblems() []string {
	var out []string
	for _, c := range r.Expected {
		if !c.Detected {
			out = append(out, "missed "+c.Pattern.Text+": "+c.Why)
		}
	}
	for _, f := range r.FalsePositives {
		out = append(out, "false positive: "+f.String()+" ("+f.Summary+")")
	}
	return append(out, r.InputProblems...)
}

// stabilityProblems are findings that differ between two runs over the
// same files, or between the two orders.
func (r *Result) stabilityProblems() []string {
	var out []string
	if r.RepeatDiff != "" {
		out = append(out, "two analyses of the same files differ (-first +second):\n"+r.RepeatDiff)
	}
	if r.OrderDiff != "" {
		out = append(out, "findings depend on the order of records (-file order +shuffled per-interface order):\n"+r.OrderDiff)
	}
	return out
}

// Unexpected returns the problems that no known-failure or known-unstable
// mark of the scenario accounts for.
func (r *Result) Unexpected() []string {
	s := r.Scenario
	if s.KnownFailure != "" {
		return nil
	}
	if s.KnownUnstable != "" {
		return r.detectionProblems()
	}
	return r.Problems()
}

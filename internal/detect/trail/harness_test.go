package trail_test

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"picket/internal/awsip"
	"picket/internal/decode/cloudtrail"
	"picket/internal/detect"
	"picket/internal/detect/all"
	"picket/internal/event"
	"picket/internal/finding"
)

// This file is the harness the CloudTrail tests share: it decodes
// CloudTrail inputs held in memory, attaches what the test's "databases"
// say about each caller (AS, country, inside AWS or not), and runs every
// built-in detector over the calls in event time order, as picket analyze
// does, with fake threat intelligence.

// input is one CloudTrail file held in memory.
type input struct {
	name string
	data []byte
}

// netInfo is what the test's geolocation database says of a prefix.
type netInfo struct {
	prefix netip.Prefix
	info   event.IPInfo
}

// world is what enrichment and intelligence know in a test.
type world struct {
	nets       []netInfo    // geolocation and AS
	aws        *awsip.Table // nil: no ranges loaded
	intel      *fakeIntel
	thresholds map[string]map[string]float64
	allow      map[string]map[string][]string
	flows      []event.Flow // flow records to interleave (instance addresses)
}

func (w *world) lookup(a netip.Addr) event.IPInfo {
	var info event.IPInfo
	best := -1
	for _, n := range w.nets {
		if n.prefix.Contains(a) && n.prefix.Bits() > best {
			info, best = n.info, n.prefix.Bits()
		}
	}
	if w.aws != nil {
		info.AWS = event.TriFalse
		if r, ok := w.aws.Lookup(a); ok {
			info.AWS = event.TriTrue
			info.AWSService, info.AWSRegion = event.Intern(r.Service), event.Intern(r.Region)
		}
	}
	return info
}

// decodeAll decodes the CloudTrail events of the inputs, skipping bad
// ones (the decoder's tests cover them).
func decodeAll(t testing.TB, inputs []input) []*event.APICall {
	t.Helper()
	var out []*event.APICall
	var c event.APICall
	for _, in := range inputs {
		r := cloudtrail.NewReader(bytes.NewReader(in.data), in.name)
		for {
			err := r.Next(&c)
			if errors.Is(err, io.EOF) {
				break
			}
			var pe *cloudtrail.ParseError
			if errors.As(err, &pe) {
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", in.name, err)
			}
			out = append(out, c.Clone())
		}
	}
	slices.SortStableFunc(out, func(a, b *event.APICall) int { return cmp.Compare(a.EventTime, b.EventTime) })
	return out
}

// run analyzes the inputs with every built-in detector.
func (w *world) run(t testing.TB, inputs []input) []*finding.Finding {
	t.Helper()
	return w.runCalls(t, decodeAll(t, inputs))
}

func (w *world) runCalls(t testing.TB, calls []*event.APICall) []*finding.Finding {
	t.Helper()
	env := detect.Env{DetectorID: finding.DetectorID, IPInfo: w.lookup}
	if w.intel != nil {
		env.Intel = w.intel
	}
	stages, dets, err := all.Build(all.Options{Env: env, Thresholds: w.thresholds, Allowlists: w.allow})
	if err != nil {
		t.Fatal(err)
	}
	set := finding.NewSet()
	eng, err := detect.NewEngine(stages, dets, detect.DefaultConfig, func(f *finding.Finding) { set.Add(f) })
	if err != nil {
		t.Fatal(err)
	}
	fi := 0
	for _, c := range calls {
		for fi < len(w.flows) && w.flows[fi].Start <= c.EventTime {
			eng.Observe(&w.flows[fi])
			fi++
		}
		if c.SourceIP.IsValid() {
			c.SourceInfo = w.lookup(c.SourceIP)
		}
		eng.Observe(c)
	}
	for ; fi < len(w.flows); fi++ {
		eng.Observe(&w.flows[fi])
	}
	eng.Flush()
	return set.Sorted()
}

// fakeIntel is threat intelligence from prefix lists.
type fakeIntel struct {
	threat  []netip.Prefix
	list    string
	tor     []netip.Prefix
	trusted []netip.Prefix
}

func has(ps []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
}

func (f *fakeIntel) Trusted(a netip.Addr) bool { return has(f.trusted, a) }

func (f *fakeIntel) Threat(a netip.Addr) (detect.ThreatMatch, bool) {
	switch {
	case f.Trusted(a):
		return detect.ThreatMatch{}, false
	case has(f.threat, a):
		return detect.ThreatMatch{ListName: f.list, ThreatNames: []string{"Scanner"}, FileSHA256: strings.Repeat("ab", 32)}, true
	case has(f.tor, a):
		return detect.ThreatMatch{ListName: "tor-exits", Kind: detect.ThreatTor, Purpose: "exit"}, true
	}
	return detect.ThreatMatch{}, false
}

// summary is the line a finding is expected as: its type, principal
// (accessKeyDetails.userName), pattern (the explanation's kind) and
// severity.
func summary(f *finding.Finding) string {
	user := ""
	if f.Resource.AccessKeyDetails != nil {
		user = f.Resource.AccessKeyDetails.UserName
	}
	kind := ""
	if ai := f.Service.AdditionalInfo; ai != nil && ai.Explanation != nil {
		kind = ai.Explanation.Kind
	}
	s := f.Type + " principal=" + user
	if kind != "" {
		s += " kind=" + strings.ReplaceAll(kind, " ", "_")
	}
	return s + " severity=" + f.Severity.Label()
}

// apiFindings returns the summaries of the CloudTrail findings, sorted.
func apiFindings(fs []*finding.Finding) []string {
	var out []string
	for _, f := range fs {
		if f.Service.FeatureName == finding.FeatureCloudTrail {
			out = append(out, summary(f))
		}
	}
	slices.Sort(out)
	return out
}

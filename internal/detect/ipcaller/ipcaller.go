// Package ipcaller owns the detectors of API calls from addresses that
// threat intelligence names: Recon:IAMUser/MaliciousIPCaller.Custom and
// UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom (an address on one
// of the user's threat lists), Recon:IAMUser/TorIPCaller and
// UnauthorizedAccess:IAMUser/TorIPCaller (a Tor relay or exit node, from
// the Tor lists).
//
// Recon types are for discovery APIs (Describe, List, Get and the other
// calls that map an environment, see trail.Discovery), UnauthorizedAccess
// types for every other call, as GuardDuty splits them. Each call's
// source address is looked up (one longest-prefix match in the immutable
// intel table, no allocation); only public addresses count, and an
// address on a trusted list raises nothing, here or in any CloudTrail
// detector. Calls of one principal fold into one finding per type, which
// names the lists in service.evidence.threatIntelligenceDetails and shows
// the latest call, as GuardDuty's finding does.
//
// Every list picket loads is the user's, so threat-list findings carry
// the .Custom suffix; GuardDuty's MaliciousIPCaller without it is about
// AWS's own intelligence, which picket does not have.
package ipcaller

import (
	"strings"

	"picket/internal/detect"
	"picket/internal/detect/trail"
	"picket/internal/event"
	"picket/internal/finding"
)

// ID is the detector's ID.
const ID = "ipcaller"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "report_failed", Unit: "flag", Default: 1, Min: 0, Max: 1,
		Doc: "1 reports calls that failed too (a listed address trying credentials is news even when it was denied); 0 reports only calls that succeeded"},
	{Name: "max_pending", Unit: "findings", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "findings noted between two watermarks, about 4 KiB each; calls of findings beyond it are counted as lost until the next watermark"},
}

// Detector is the threat-intel caller detector.
type Detector struct {
	env     detect.Env
	th      detect.Tunables
	failed  bool
	pending *trail.Pending
}

var (
	_ detect.Detector    = (*Detector)(nil)
	_ detect.Stater      = (*Detector)(nil)
	_ detect.Snapshotter = (*Detector)(nil)
)

// New builds the detector.
func New(env detect.Env) (*Detector, error) {
	th, err := Thresholds.Apply(ID, env.Thresholds)
	if err != nil {
		return nil, err
	}
	return &Detector{
		env: env, th: th,
		failed:  th.Get("report_failed") >= 0.5,
		pending: trail.NewPending(env.Cap(int(th.Get("max_pending")), 1, 4096)),
	}, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:      ID,
		Summary: "API calls from addresses on threat lists or Tor lists: Recon for discovery APIs, UnauthorizedAccess for the rest",
		FindingTypes: []string{finding.TypeReconMaliciousIPCustom, finding.TypeUnauthMaliciousIPCustom,
			finding.TypeReconTorIPCaller, finding.TypeUnauthTorIPCaller},
		Subscribes: []event.Kind{event.KindAPICall},
		Thresholds: d.th,
	}
}

// State reports the pending findings.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{d.pending.Stats("pending")}
}

// TypeOf returns the finding type of a call by a listed address: by
// whether the API is a discovery API and whether the list is a Tor list.
func TypeOf(api string, kind detect.ThreatKind) string {
	recon := trail.Discovery(api)
	switch {
	case kind == detect.ThreatTor && recon:
		return finding.TypeReconTorIPCaller
	case kind == detect.ThreatTor:
		return finding.TypeUnauthTorIPCaller
	case recon:
		return finding.TypeReconMaliciousIPCustom
	}
	return finding.TypeUnauthMaliciousIPCustom
}

// Observe looks up a call's source address.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	in := d.env.Intel
	if in == nil {
		return
	}
	c, ok := rec.(*event.APICall)
	if !ok || !c.SourceIP.IsValid() || event.Internal(c.SourceIP) {
		return
	}
	if c.Failed() && !d.failed {
		return
	}
	m, listed := in.Threat(c.SourceIP)
	if !listed || trail.Ignored(&d.env, c) {
		return
	}
	typ := TypeOf(c.EventName.String(), m.Kind)
	it := d.pending.Note(trail.Key{Type: typ, Principal: trail.PrincipalOf(c)}, c)
	if it == nil {
		return
	}
	det := m.Detail()
	for i := range it.Threat {
		if it.Threat[i].ThreatListName == det.ThreatListName {
			return
		}
	}
	it.Threat = append(it.Threat, det)
	if it.Vars == nil {
		it.Vars = map[string]string{"list": m.ListName}
	}
	if m.Purpose != "" {
		it.Vars["purpose"] = m.Purpose
	}
}

// Advance reports the calls noted since the last watermark.
func (d *Detector) Advance(_ event.Time, emit detect.Emit) {
	d.pending.Flush(func(k trail.Key, it *trail.Item) {
		lists := make([]string, len(it.Threat))
		for i, t := range it.Threat {
			lists[i] = t.ThreatListName
		}
		what := "threat list"
		if k.Type == finding.TypeReconTorIPCaller || k.Type == finding.TypeUnauthTorIPCaller {
			what = "Tor list"
		}
		exp := &finding.Explanation{
			Kind: "threat-intel",
			// The addresses are in the summary's tallies, which cover
			// every report of the finding.
			Lead:           "calls from addresses named by " + what + " " + strings.Join(lists, ", "),
			ThreatListName: it.Threat[0].ThreatListName,
		}
		if len(it.Threat[0].ThreatNames) > 0 {
			exp.ThreatName = it.Threat[0].ThreatNames[0]
		}
		if p := it.Vars["purpose"]; p != "" {
			exp.Lead += " (" + p + ")"
		}
		r := it.Report(ID, k, exp)
		f := trail.Build(&d.env, r)
		if what == "Tor list" {
			torWording(f, it.Vars["purpose"])
		}
		f.Service.Evidence = &finding.Evidence{ThreatIntelligenceDetails: it.Threat}
		emit(f)
	})
}

// torWording makes a TorIPCaller finding's title and description say
// what the Tor list names. The finding types say "Tor exit node", as
// GuardDuty's do, but a list of every relay (a relay CSV, a consensus)
// names relays, most of which are not exits; the list's purpose says
// which ("Tor relay", "Tor exit node", or "Tor relay or exit node" when
// the list does not tell).
func torWording(f *finding.Finding, purpose string) {
	const exit = "Tor exit node"
	if purpose == exit || !strings.HasPrefix(purpose, "Tor ") {
		return
	}
	f.Title = strings.Replace(f.Title, exit, purpose, 1)
	f.Description = strings.Replace(f.Description, exit, purpose, 1)
}

// MarshalState saves the findings not yet reported.
func (d *Detector) MarshalState() ([]byte, error) { return detect.EncodeState(d.pending) }

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var p trail.Pending
	if err := detect.DecodeState(b, &p); err != nil {
		return err
	}
	d.pending = p.Restored(d.pending.Max)
	return nil
}

// Package rootusage owns the Policy:IAMUser/RootCredentialUsage detector:
// API calls made with the credentials of an account's root user, and
// Policy:IAMUser/ShortTermRootCredentialUsage for the short-term root
// sessions of centralized root access (sts:AssumeRoot).
//
// The root user can do anything in its account and cannot be limited by
// IAM policies; AWS advises using it only for the few tasks that need it.
// Every call it makes is reported, console sign-ins included, except the
// calls AWS services make on its behalf (invokedBy set, or a service name
// as the source), which GuardDuty leaves out too. Calls of one root user
// fold into one finding per account and type whose count grows.
package rootusage

import (
	"picket/internal/detect"
	"picket/internal/detect/trail"
	"picket/internal/event"
	"picket/internal/finding"
)

// ID is the detector's ID.
const ID = "rootusage"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "report_failed", Unit: "flag", Default: 1, Min: 0, Max: 1,
		Doc: "1 reports root calls that failed too (a failed call still used the root credentials); 0 reports only calls that succeeded"},
	{Name: "max_pending", Unit: "findings", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "findings noted between two watermarks, about 4 KiB each; calls of findings beyond it are counted as lost until the next watermark"},
}

// Detector is the root credential usage detector.
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
		ID:           ID,
		Summary:      "API calls made with an account's root user credentials, long-term or short-term",
		FindingTypes: []string{finding.TypeRootCredentialUsage, finding.TypeShortTermRootCredentialUsage},
		Subscribes:   []event.Kind{event.KindAPICall},
		Thresholds:   d.th,
	}
}

// State reports the pending findings.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{d.pending.Stats("pending")}
}

// Observe notes a call made with root credentials.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	c, ok := rec.(*event.APICall)
	if !ok || c.Identity.Type != event.IdentityRoot || trail.Ignored(&d.env, c) {
		return
	}
	if c.Failed() && !d.failed {
		return
	}
	typ := finding.TypeRootCredentialUsage
	if c.Identity.Session.AssumedRoot.True() {
		typ = finding.TypeShortTermRootCredentialUsage
	}
	d.pending.Note(trail.Key{Type: typ, Principal: trail.PrincipalOf(c)}, c)
}

// Advance reports the root calls noted since the last watermark.
func (d *Detector) Advance(_ event.Time, emit detect.Emit) {
	d.pending.Flush(func(k trail.Key, it *trail.Item) {
		// The lead names no API and no count: the finding's summary lists
		// the APIs and counts the calls of every report merged into it,
		// where a sentence about this report's calls alone ("called X and
		// 0 other calls") would contradict the finding's count once a
		// later report is merged.
		exp := &finding.Explanation{
			Lead:   "the root user's credentials were used, with no AWS service acting for it",
			Counts: map[string]int64{"report_failed": boolInt(d.failed)},
		}
		emit(trail.Build(&d.env, it.Report(ID, k, exp)))
	})
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

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

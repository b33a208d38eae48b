// Package riskycall owns the detector of calls that are risky in
// themselves: the <Tactic>:IAMUser/AnomalousBehavior findings that need
// no history. The profile detector (iamanomaly) judges a principal's
// calls against what it and its account did before, and so is blind
// where there is no before: a new account, a key used once, a replay of
// a short trail. Some calls need no before to be suspect: a snapshot
// shared with another account, a role opened to one, a console password
// set for someone else, a function anyone may invoke, AdministratorAccess
// attached, the serial console turned on, many secrets read in minutes.
//
// Which calls, and what makes each risky, is data: risky.txt, embedded,
// one line a call with its tactic, the check that makes it risky and the
// reason. The checks are code: they read the request parameters (a trust
// or session policy, the accounts a snapshot is shared with, the user a
// key is made for) and, for harvesting and probing, count a principal's
// distinct targets or calls within a window of event time.
//
// A call is reported when it succeeded (probing counts refused calls
// too), was made by a principal that is not an AWS service and not on
// allowed_principals (administrators and automation whose work this
// is), and its check holds. Calls of one principal, tactic and check fold
// into one finding, reported at the watermark, Low or Medium by the
// type's default.
package riskycall

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"picket/internal/detect"
	"picket/internal/detect/trail"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// ID is the detector's ID.
const ID = "riskycall"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "window", Unit: "seconds", Default: 600, Min: 10, Max: 86400,
		Doc: "the window over which harvesting and probing are counted (the enumeration detector's ten minutes)"},
	{Name: "min_harvest", Unit: "targets", Default: 10, Min: 2, Max: 10_000,
		Doc: "distinct secrets or parameters one principal reads within window that make a harvest: an application reads the few it is configured with, usually at start"},
	{Name: "min_probes", Unit: "calls", Default: 10, Min: 2, Max: 10_000,
		Doc: "calls of a probed API (GetPasswordData) by one principal within window, allowed or refused, that make a probe: an administrator asks for the password of the instance in front of them"},
	{Name: "max_principals", Unit: "principals", Default: 10_000, Min: 16, Max: 1e7,
		Doc: "principals whose recent reads are counted at once, about 1 KiB each; the least recently active are evicted and counted"},
	{Name: "max_pending", Unit: "findings", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "findings noted between two watermarks, about 4 KiB each; calls of findings beyond it are counted as lost until the next watermark"},
}

// Allowlists are the detector's configurable lists.
var Allowlists = detect.Allowlists{
	{Name: "allowed_principals", Doc: "principals whose work these calls are (administrators, the deployment role, infrastructure as code), matched against the principal's ARN, the role's ARN or name, or the user's name"},
}

//go:embed risky.txt
var riskyFile []byte

// rule is one line of risky.txt.
type rule struct {
	Tactic  trail.Tactic
	Service string
	API     string // exact, or a prefix when Prefix
	Prefix  bool
	Check   string
	Reason  string
}

// The checks a rule may name.
var checks = map[string]bool{
	"-": true, "other-user": true, "admin-policy": true, "external-trust": true, "shared-outside": true,
	"public-invoke": true, "world-admin": true, "user-data": true, "no-mfa": true, "broad-policy": true,
	"harvest": true, "probe": true,
}

// parseRules reads risky.txt's format; errors name the file and line.
func parseRules(data []byte, name string) ([]rule, error) {
	var rules []rule
	var errs []error
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		f := strings.Fields(text)
		if len(f) < 5 {
			errs = append(errs, fmt.Errorf("%s:%d: want tactic, service, api, check and reason, got %d fields", name, line, len(f)))
			continue
		}
		t, ok := trail.ParseTactic(f[0])
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: unknown tactic %q", name, line, f[0]))
			continue
		}
		if !checks[f[3]] {
			errs = append(errs, fmt.Errorf("%s:%d: unknown check %q", name, line, f[3]))
			continue
		}
		r := rule{Tactic: t, Service: f[1], API: f[2], Check: f[3], Reason: strings.Join(f[4:], " ")}
		if strings.HasSuffix(r.API, "*") {
			r.API, r.Prefix = strings.TrimSuffix(r.API, "*"), true
		}
		if r.API == "" || r.Service == "" {
			errs = append(errs, fmt.Errorf("%s:%d: empty service or api", name, line))
			continue
		}
		key := f[0] + " " + f[1] + " " + f[2] + " " + f[3]
		if seen[key] {
			errs = append(errs, fmt.Errorf("%s:%d: %s repeated", name, line, key))
			continue
		}
		seen[key] = true
		rules = append(rules, r)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

// Detector is the risky-call detector.
type Detector struct {
	env     detect.Env
	th      detect.Tunables
	lists   detect.Allowlists
	allowed trail.Allowlist
	rules   map[string][]rule // by service short name
	window  event.Time
	harvest int
	probes  int
	recent  *lru.Table[recentKey, recent]
	pending *trail.Pending
}

// recentKey is a principal's reads of one API group.
type recentKey struct {
	Principal string
	API       string
}

// recent is a principal's recent targets (or calls) of one API, with
// when each was last seen, at most maxTargets.
type recent struct {
	Targets []target
}

type target struct {
	Name string
	At   event.Time
}

const maxTargets = 64

var (
	_ detect.Detector    = (*Detector)(nil)
	_ detect.Stater      = (*Detector)(nil)
	_ detect.Snapshotter = (*Detector)(nil)
)

// New returns the detector with the thresholds and lists in env.
func New(env detect.Env) (*Detector, error) {
	th, err := Thresholds.Apply(ID, env.Thresholds)
	if err != nil {
		return nil, err
	}
	lists, err := Allowlists.Apply(ID, env.Allowlists)
	if err != nil {
		return nil, err
	}
	rules, err := parseRules(riskyFile, "risky.txt")
	if err != nil {
		return nil, err
	}
	d := &Detector{
		env: env, th: th, lists: lists, allowed: trail.NewAllowlist(lists.Get("allowed_principals")), rules: map[string][]rule{},
		window:  event.Time(th.Get("window")),
		harvest: int(th.Get("min_harvest")),
		probes:  int(th.Get("min_probes")),
		recent:  lru.New[recentKey, recent](env.Cap(int(th.Get("max_principals")), 0.6, 1024), nil),
		pending: trail.NewPending(env.Cap(int(th.Get("max_pending")), 0.4, 4096)),
	}
	for _, r := range rules {
		d.rules[r.Service] = append(d.rules[r.Service], r)
	}
	return d, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	types := map[string]bool{}
	for _, rs := range d.rules {
		for _, r := range rs {
			types[typeOf(r.Tactic)] = true
		}
	}
	var list []string
	for t := range types {
		list = append(list, t)
	}
	slices.Sort(list)
	return detect.Definition{
		ID:           ID,
		Summary:      "calls that are risky in themselves (a role opened to another account, a snapshot shared, a password set for someone else, many secrets read), for principals with no history to judge them by",
		FindingTypes: list,
		Subscribes:   []event.Kind{event.KindAPICall},
		Thresholds:   d.th,
		Allowlists:   d.lists,
	}
}

// typeOf is the finding type of a tactic.
func typeOf(t trail.Tactic) string { return t.String() + ":IAMUser/AnomalousBehavior" }

// State reports the tables.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "recent_reads", Len: d.recent.Len(), Cap: d.recent.Cap(), Evicted: d.recent.Evicted()},
		d.pending.Stats("pending"),
	}
}

// Observe checks a call against the rules of its service.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	c, ok := rec.(*event.APICall)
	if !ok {
		return
	}
	rs := d.rules[shortService(c.EventSource.String())]
	if len(rs) == 0 || trail.Ignored(&d.env, c) || d.allowed.Allows(c) {
		return
	}
	api := c.EventName.String()
	for _, r := range rs {
		if r.API != api && (!r.Prefix || !strings.HasPrefix(api, r.API)) {
			continue
		}
		if c.Failed() && r.Check != "probe" {
			continue
		}
		if !d.holds(r, c) {
			continue
		}
		p := trail.PrincipalOf(c)
		if p.IsZero() {
			continue
		}
		it := d.pending.Note(trail.Key{Type: typeOf(r.Tactic), Principal: p, Actor: "risky:" + r.Check}, c)
		if it != nil {
			it.Vars = map[string]string{"detail": "which is risky whatever its history: " + r.Reason}
		}
	}
}

// shortService is an eventSource's short name: "iam" for
// iam.amazonaws.com.
func shortService(source string) string {
	s, _, _ := strings.Cut(source, ".")
	return s
}

// holds reports whether a rule's check holds for a call.
func (d *Detector) holds(r rule, c *event.APICall) bool {
	p := c.RequestParameters
	switch r.Check {
	case "-":
		return true
	case "other-user":
		user, ok := event.JSONString(p, "userName")
		return ok && user != "" && user != trail.UserName(c) && user != c.Identity.UserName.String()
	case "admin-policy":
		arn, _ := event.JSONString(p, "policyArn")
		return adminPolicy(arn)
	case "external-trust":
		doc, ok := policyDoc(p, "policyDocument")
		if !ok {
			doc, ok = policyDoc(p, "assumeRolePolicyDocument")
		}
		return ok && externalTrust(doc, c.Identity.AccountID.String())
	case "shared-outside":
		return sharedOutside(p, c.Identity.AccountID.String())
	case "public-invoke":
		principal, _ := event.JSONString(p, "principal")
		_, conditioned := event.JSONString(p, "sourceArn")
		_, owner := event.JSONString(p, "sourceAccount")
		_, org := event.JSONString(p, "principalOrgID")
		return principal == "*" && !conditioned && !owner && !org
	case "world-admin":
		return worldAdmin(p)
	case "user-data":
		return event.JSONValue(p, "userData") != nil
	case "no-mfa":
		mfa, ok := event.JSONString(c.AdditionalEventData, "MFAUsed")
		return ok && mfa == "No" && c.Identity.Type == event.IdentityIAMUser && !c.Failed()
	case "broad-policy":
		doc, ok := policyDoc(p, "policy")
		return ok && allowsEverything(doc)
	case "harvest":
		return d.count(c, targetsOf(c), d.harvest)
	case "probe":
		// Each call counts: its event ID, or where it was read.
		id := string(c.EventID)
		if id == "" {
			id = c.Origin.File.String() + ":" + strconv.FormatInt(c.Origin.Line, 10)
		}
		return d.count(c, []string{id}, d.probes)
	}
	return false
}

// count adds a call's targets to the principal's recent ones of its API
// and reports whether they reach min within the window.
func (d *Detector) count(c *event.APICall, names []string, min int) bool {
	if len(names) == 0 {
		return false
	}
	key := recentKey{trail.PrincipalOf(c).String(), c.EventName.String()}
	r, _ := d.recent.Put(key)
	t := c.EventTime
	for _, n := range names {
		i := slices.IndexFunc(r.Targets, func(x target) bool { return x.Name == n })
		switch {
		case i >= 0:
			r.Targets[i].At = max(r.Targets[i].At, t)
		case len(r.Targets) < maxTargets:
			r.Targets = append(r.Targets, target{n, t})
		default:
			// The target seen longest ago gives way.
			old := 0
			for j, x := range r.Targets {
				if x.At < r.Targets[old].At {
					old = j
				}
			}
			r.Targets[old] = target{n, t}
		}
	}
	n := 0
	for _, x := range r.Targets {
		if x.At+d.window >= t && x.At <= t+d.window {
			n++
		}
	}
	return n >= min
}

// targetsOf names what a harvesting call read: the secret, or the
// SecureString parameters it decrypted.
func targetsOf(c *event.APICall) []string {
	p := c.RequestParameters
	if s, ok := event.JSONString(p, "secretId"); ok {
		return []string{s}
	}
	// A parameter is a secret only when it is decrypted: plain String
	// parameters are configuration.
	if dec, _ := event.JSONBool(p, "withDecryption"); !dec {
		return nil
	}
	if s, ok := event.JSONString(p, "name"); ok {
		return []string{s}
	}
	var names []string
	if v := event.JSONValue(p, "names"); v != nil {
		_ = json.Unmarshal(v, &names)
	}
	return names
}

// adminPolicy reports whether a managed policy grants every action (or
// every IAM action, which grants the rest).
func adminPolicy(arn string) bool {
	for _, suffix := range []string{":policy/AdministratorAccess", ":policy/IAMFullAccess", ":policy/PowerUserAccess"} {
		if strings.HasPrefix(arn, "arn:aws") && strings.HasSuffix(arn, suffix) && strings.Contains(arn, ":iam::aws:") {
			return true
		}
	}
	return false
}

// policyDoc returns the policy document at key, given as a JSON string
// (as IAM's CloudTrail events record it) or an object.
func policyDoc(params []byte, key string) (map[string]any, bool) {
	v := event.JSONValue(params, key)
	if v == nil {
		return nil, false
	}
	var raw any
	if err := json.Unmarshal(v, &raw); err != nil {
		return nil, false
	}
	if s, ok := raw.(string); ok {
		if err := json.Unmarshal([]byte(s), &raw); err != nil {
			return nil, false
		}
	}
	doc, ok := raw.(map[string]any)
	return doc, ok
}

// statements returns a policy's statements (one or a list).
func statements(doc map[string]any) []map[string]any {
	var out []map[string]any
	switch s := doc["Statement"].(type) {
	case map[string]any:
		out = append(out, s)
	case []any:
		for _, x := range s {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// strs returns a policy element's strings (one or a list).
func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// externalTrust reports whether a trust policy allows, without a
// condition, everyone or a principal of an account other than own to
// assume the role.
func externalTrust(doc map[string]any, own string) bool {
	for _, st := range statements(doc) {
		if e, _ := st["Effect"].(string); e != "Allow" || st["Condition"] != nil {
			continue
		}
		var aws []string
		switch p := st["Principal"].(type) {
		case string:
			aws = []string{p}
		case map[string]any:
			aws = strs(p["AWS"])
		}
		for _, a := range aws {
			if a == "*" {
				return true
			}
			acct := a
			if strings.HasPrefix(a, "arn:") {
				parts := strings.SplitN(a, ":", 6)
				if len(parts) == 6 {
					acct = parts[4]
				}
			}
			if acct != "" && own != "" && acct != own {
				return true
			}
		}
	}
	return false
}

// allowsEverything reports whether a policy allows every action on every
// resource.
func allowsEverything(doc map[string]any) bool {
	for _, st := range statements(doc) {
		if e, _ := st["Effect"].(string); e != "Allow" {
			continue
		}
		if slices.Contains(strs(st["Action"]), "*") && slices.Contains(strs(st["Resource"]), "*") {
			return true
		}
	}
	return false
}

// sharedOutside reports whether a snapshot, image or database snapshot
// attribute change adds an account other than own, or everyone.
func sharedOutside(p []byte, own string) bool {
	var added []string
	for _, path := range [][]string{{"createVolumePermission", "add"}, {"launchPermission", "add"}} {
		v := event.JSONValue(p, path...)
		if v == nil {
			continue
		}
		var add struct {
			Items []struct {
				UserID string `json:"userId"`
				Group  string `json:"group"`
			} `json:"items"`
		}
		if json.Unmarshal(v, &add) == nil {
			for _, it := range add.Items {
				if it.Group == "all" {
					added = append(added, "all")
				}
				if it.UserID != "" {
					added = append(added, it.UserID)
				}
			}
		}
	}
	if v := event.JSONValue(p, "valuesToAdd"); v != nil {
		var vals []string
		if json.Unmarshal(v, &vals) == nil {
			added = append(added, vals...)
		}
	}
	for _, a := range added {
		if a == "all" || a != own {
			return true
		}
	}
	return false
}

// worldAdmin reports whether an ingress rule opens SSH (22) or RDP (3389)
// to every address.
func worldAdmin(p []byte) bool {
	type rng struct {
		From, To int
		CIDRs    []string
	}
	var rules []rng
	if cidr, ok := event.JSONString(p, "cidrIp"); ok {
		var r rng
		_ = json.Unmarshal(event.JSONValue(p, "fromPort"), &r.From)
		_ = json.Unmarshal(event.JSONValue(p, "toPort"), &r.To)
		r.CIDRs = []string{cidr}
		rules = append(rules, r)
	}
	var perms struct {
		Items []struct {
			FromPort int `json:"fromPort"`
			ToPort   int `json:"toPort"`
			IPRanges struct {
				Items []struct {
					CidrIP string `json:"cidrIp"`
				} `json:"items"`
			} `json:"ipRanges"`
			IPv6Ranges struct {
				Items []struct {
					CidrIPv6 string `json:"cidrIpv6"`
				} `json:"items"`
			} `json:"ipv6Ranges"`
		} `json:"items"`
	}
	if v := event.JSONValue(p, "ipPermissions"); v != nil && json.Unmarshal(v, &perms) == nil {
		for _, it := range perms.Items {
			r := rng{From: it.FromPort, To: it.ToPort}
			for _, x := range it.IPRanges.Items {
				r.CIDRs = append(r.CIDRs, x.CidrIP)
			}
			for _, x := range it.IPv6Ranges.Items {
				r.CIDRs = append(r.CIDRs, x.CidrIPv6)
			}
			rules = append(rules, r)
		}
	}
	for _, r := range rules {
		admin := (r.From <= 22 && 22 <= r.To) || (r.From <= 3389 && 3389 <= r.To) || (r.From == -1 && r.To == -1)
		if !admin {
			continue
		}
		for _, c := range r.CIDRs {
			if pfx, err := netip.ParsePrefix(c); err == nil && pfx.Bits() == 0 {
				return true
			}
		}
	}
	return false
}

// Advance reports the risky calls noted since the last watermark.
func (d *Detector) Advance(_ event.Time, emit detect.Emit) {
	d.pending.Flush(func(k trail.Key, it *trail.Item) {
		check := strings.TrimPrefix(k.Actor, "risky:")
		exp := &finding.Explanation{
			Kind:   "risky-call",
			Lead:   "calls risky in themselves (" + check + "): " + strings.TrimPrefix(it.Vars["detail"], "which is risky whatever its history: "),
			Counts: map[string]int64{"allowed_principals": int64(len(d.allowed))},
		}
		emit(trail.Build(&d.env, it.Report(ID, k, exp)))
	})
}

type detectorState struct {
	Recent  lru.Snapshot[recentKey, recent]
	Pending *trail.Pending
}

// MarshalState saves the recent reads and the findings not yet reported.
func (d *Detector) MarshalState() ([]byte, error) {
	return detect.EncodeState(detectorState{Recent: d.recent.View(), Pending: d.pending})
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.recent.Restore(st.Recent)
	st.Pending = st.Pending.Restored(d.pending.Max)
	d.pending = st.Pending
	return nil
}

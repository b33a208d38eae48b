package tamper

import (
	"strconv"
	"strings"

	"picket/internal/detect"
	"picket/internal/detect/trail"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// policy is an account password policy, as UpdateAccountPasswordPolicy
// sets it. Fields are exported for saving state.
type policy struct {
	MinLength                      int
	Symbols, Numbers, Upper, Lower bool
	MaxAge                         int // days; 0: passwords never expire
	Reuse                          int // earlier passwords that may not be reused
	Set, Deleted                   bool
	AllowChange, HardExpiry        bool
}

// The values UpdateAccountPasswordPolicy uses for parameters it is not
// given, and the policy in force once the account's policy is deleted
// (AWS's default: eight characters, no other rule).
const (
	apiDefaultMinLength = 6
	defaultMinLength    = 8
)

// policyOf reads the policy a call sets.
func policyOf(c *event.APICall) policy {
	if c.EventName.String() == "DeleteAccountPasswordPolicy" {
		return policy{MinLength: defaultMinLength, Set: true, Deleted: true}
	}
	req := c.RequestParameters
	num := func(key string, def int) int {
		v := event.JSONValue(req, key)
		if n, err := strconv.Atoi(string(v)); err == nil {
			return n
		}
		return def
	}
	flag := func(key string) bool {
		v, _ := event.JSONBool(req, key)
		return v
	}
	return policy{
		MinLength: num("minimumPasswordLength", apiDefaultMinLength),
		Symbols:   flag("requireSymbols"), Numbers: flag("requireNumbers"),
		Upper: flag("requireUppercaseCharacters"), Lower: flag("requireLowercaseCharacters"),
		MaxAge: num("maxPasswordAge", 0), Reuse: num("passwordReusePrevention", 0),
		AllowChange: flag("allowUsersToChangePassword"), HardExpiry: flag("hardExpiry"),
		Set: true,
	}
}

// weakened lists how cur is weaker than prev.
func weakened(prev, cur policy) []string {
	var out []string
	if cur.MinLength < prev.MinLength {
		out = append(out, "minimum length "+strconv.Itoa(prev.MinLength)+" → "+strconv.Itoa(cur.MinLength))
	}
	for _, r := range []struct {
		name     string
		was, now bool
	}{
		{"symbols", prev.Symbols, cur.Symbols}, {"numbers", prev.Numbers, cur.Numbers},
		{"uppercase letters", prev.Upper, cur.Upper}, {"lowercase letters", prev.Lower, cur.Lower},
	} {
		if r.was && !r.now {
			out = append(out, r.name+" no longer required")
		}
	}
	if cur.Reuse < prev.Reuse {
		out = append(out, "reuse prevention "+strconv.Itoa(prev.Reuse)+" → "+strconv.Itoa(cur.Reuse))
	}
	if prev.MaxAge > 0 && (cur.MaxAge == 0 || cur.MaxAge > prev.MaxAge) {
		age := "never"
		if cur.MaxAge > 0 {
			age = strconv.Itoa(cur.MaxAge) + " days"
		}
		out = append(out, "expiry "+strconv.Itoa(prev.MaxAge)+" days → "+age)
	}
	return out
}

// policySeverity grades a weakening: High when the policy now allows
// passwords shorter than eight characters or four or more rules were
// dropped, Medium when two or three were or the length fell below
// twelve, Low otherwise.
func policySeverity(cur policy, changes []string) finding.Severity {
	switch {
	case cur.MinLength < 8 || len(changes) >= 4:
		return finding.SeverityHigh
	case len(changes) >= 2 || cur.MinLength < 12:
		return finding.SeverityMedium
	}
	return finding.SeverityLow
}

// checkPasswordPolicy compares the policy a call sets with the account's
// previous one, or with the baseline when the run has not seen it.
func checkPasswordPolicy(d *Detector, c *event.APICall) (verdict, bool) {
	cur := policyOf(c)
	acct := trail.PrincipalOf(c).Account
	if !c.Account.IsZero() {
		acct = c.Account
	}
	prev, against := d.baseline, "the baseline (CIS)"
	if p := d.policies.Peek(acct); p != nil && p.Set {
		prev, against = *p, "the previous policy"
	}
	if !c.Failed() {
		p, _ := d.policies.Put(acct)
		*p = cur
	}
	changes := weakened(prev, cur)
	if len(changes) == 0 {
		return verdict{}, false
	}
	what := "policy changed"
	if cur.Deleted {
		what = "policy deleted (AWS's default applies: 8 characters, no other rule)"
	}
	return verdict{
		Type: finding.TypePasswordPolicyChange, Control: "account password policy",
		Detail:   what + "; weaker than " + against + ": " + strings.Join(changes, "; "),
		Severity: policySeverity(cur, changes),
		Affected: map[string]string{"AWS::IAM::AccountPasswordPolicy": acct.String()},
	}, true
}

type detectorState struct {
	Policies lru.Snapshot[event.ID, policy]
	Pending  *trail.Pending
}

// MarshalState saves the password policies and the findings not yet
// reported.
func (d *Detector) MarshalState() ([]byte, error) {
	return detect.EncodeState(detectorState{Policies: d.policies.View(), Pending: d.pending})
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.policies.Restore(st.Policies)
	st.Pending = st.Pending.Restored(d.pending.Max)
	d.pending = st.Pending
	return nil
}

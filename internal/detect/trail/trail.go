// Package trail owns what picket's CloudTrail detectors share: who made a
// call (the principal a finding is about and the accessKeyDetails that
// name it), what kind of call it was (discovery, denied, made by an AWS
// service), the family of the caller's user agent, bounded evidence about
// a principal's calls, and the GuardDuty finding built from them, with
// service.action.awsApiCallAction filled the way GuardDuty fills it (the
// caller's address with the geolocation and AS that enrichment attached,
// or the AWS service or other account that made the call).
//
// The detectors under detect/ that read event.APICall import it; it
// imports detect, event and finding.
package trail

import (
	"strings"

	"picket/internal/detect"
	"picket/internal/event"
)

// Principal identifies who made a call, stably across sessions: the key of
// profiles and of findings. It is a small value safe to use as a map key
// and to save with encoding/gob.
type Principal struct {
	// Account is the account the identity belongs to.
	Account event.ID
	// ARN identifies the principal: an IAM user's ARN; for an assumed
	// role the role's ARN, followed by "/" and the session name when the
	// session name names a person (it holds an "@", as IAM Identity
	// Center and SAML sessions do); the root user's ARN; the federated
	// user's ARN; "identity-center/<user ID>"; "account/<id>/<principal
	// ID>" for another account.
	ARN event.ID
}

// IsZero reports whether the call had no identity that picket can name.
func (p Principal) IsZero() bool { return p.ARN.IsZero() }

// String returns the ARN.
func (p Principal) String() string { return p.ARN.String() }

// PrincipalOf returns the principal of a call; the zero Principal when the
// call has no identity, or only an AWS service's.
func PrincipalOf(c *event.APICall) Principal {
	id := &c.Identity
	acct := id.AccountID
	if acct.IsZero() {
		acct = c.Account
	}
	switch id.Type {
	case event.IdentityNone, event.IdentityAWSService, event.IdentityUnknown:
		return Principal{}
	case event.IdentityAssumedRole:
		role := id.Session.Issuer.ARN
		if role.IsZero() {
			return Principal{Account: acct, ARN: id.ARN}
		}
		if s := id.SessionName(); strings.IndexByte(s, '@') >= 0 {
			return Principal{Account: acct, ARN: event.Intern(role.String() + "/" + s)}
		}
		return Principal{Account: acct, ARN: role}
	case event.IdentityCenterUser:
		if !id.OnBehalfOf.UserID.IsZero() {
			return Principal{Account: acct, ARN: event.Intern("identity-center/" + id.OnBehalfOf.UserID.String())}
		}
	case event.IdentityAWSAccount:
		return Principal{Account: acct, ARN: event.Intern("account/" + acct.String() + "/" + id.PrincipalID.String())}
	case event.IdentityRoot:
		if id.ARN.IsZero() {
			return Principal{Account: acct, ARN: event.Intern("arn:aws:iam::" + acct.String() + ":root")}
		}
	}
	switch {
	case !id.ARN.IsZero():
		return Principal{Account: acct, ARN: id.ARN}
	case !id.PrincipalID.IsZero():
		return Principal{Account: acct, ARN: id.PrincipalID}
	}
	return Principal{}
}

// Label names the principal of a call for titles and summaries: "IAM user
// alice", "role deploy (session i-0abc)", "the root user of 123456789012".
func Label(c *event.APICall) string {
	id := &c.Identity
	switch id.Type {
	case event.IdentityIAMUser:
		if !id.UserName.IsZero() {
			return "IAM user " + id.UserName.String()
		}
	case event.IdentityAssumedRole:
		role := id.Session.Issuer.UserName.String()
		if role == "" {
			role = id.ARN.String()
		}
		if s := id.SessionName(); s != "" {
			return "role " + role + " (session " + s + ")"
		}
		return "role " + role
	case event.IdentityRoot:
		acct := id.AccountID
		if acct.IsZero() {
			acct = c.Account
		}
		return "the root user of " + acct.String()
	case event.IdentityFederatedUser:
		return "federated user " + id.ARN.String()
	case event.IdentityCenterUser:
		return "IAM Identity Center user " + id.OnBehalfOf.UserID.String()
	case event.IdentityAWSAccount:
		return "account " + id.AccountID.String() + " (" + id.PrincipalID.String() + ")"
	}
	if !id.ARN.IsZero() {
		return id.ARN.String()
	}
	return "principal " + id.PrincipalID.String()
}

// UserName returns what GuardDuty puts in accessKeyDetails.userName: the
// user's name, the role's name for an assumed role, "Root" for the root
// user.
func UserName(c *event.APICall) string {
	id := &c.Identity
	switch id.Type {
	case event.IdentityAssumedRole, event.IdentityFederatedUser:
		if !id.Session.Issuer.UserName.IsZero() {
			return id.Session.Issuer.UserName.String()
		}
	case event.IdentityRoot:
		if id.UserName.IsZero() {
			return "Root"
		}
	case event.IdentityCenterUser:
		return id.OnBehalfOf.UserID.String()
	}
	return id.UserName.String()
}

// UserType returns the identity type as CloudTrail writes it.
func UserType(c *event.APICall) string {
	if c.Identity.Type == event.IdentityOther {
		return c.Identity.TypeName.String()
	}
	return c.Identity.Type.String()
}

// Ignored reports whether a CloudTrail detector should pass over a call:
// it has no principal, an AWS service made it (on its own, or on the
// principal's behalf: GuardDuty does not hold a service's calls against
// the principal), or it came from an address on a trusted list (trusted
// addresses silence every detector).
func Ignored(env *detect.Env, c *event.APICall) bool {
	if ByService(c) {
		return true
	}
	switch c.Identity.Type {
	case event.IdentityNone, event.IdentityAWSService:
		return true
	}
	return Trusted(env, c)
}

// ByService is event.APICall.ByAWSService, except that a
// sourceIPAddress that is dotted digits (an address the decoder could not
// read, such as the "08.1.250.216" of anonymized trails) is no service
// name: the call is a principal's from an unknown address.
func ByService(c *event.APICall) bool {
	if c.Identity.Type == event.IdentityAWSService || !c.Identity.InvokedBy.IsZero() {
		return true
	}
	return !c.SourceService.IsZero() && !Numeric(c.SourceService.String())
}

// Numeric reports whether s is made of digits, dots and colons only: an
// address, perhaps malformed, rather than a service name.
func Numeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if ch := s[i]; (ch < '0' || ch > '9') && ch != '.' && ch != ':' {
			return false
		}
	}
	return s != ""
}

// Trusted reports whether the call came from an address on a trusted
// list.
func Trusted(env *detect.Env, c *event.APICall) bool {
	return env.Intel != nil && c.SourceIP.IsValid() && env.Intel.Trusted(c.SourceIP)
}

// Service returns the short name of a call's service: "ec2" for
// "ec2.amazonaws.com".
func Service(c *event.APICall) string {
	s := c.EventSource.String()
	if i := strings.IndexByte(s, '.'); i > 0 {
		return s[:i]
	}
	return s
}

// principalKey is what PrincipalOf reads of an identity.
type principalKey struct {
	Type                             event.IdentityType
	ARN, PrincipalID, Account, Owner event.ID
	Issuer, CenterUser               event.ID
}

// maxPrincipals bounds a Principals cache; when full it starts afresh.
const maxPrincipals = 4096

// Principals caches PrincipalOf by identity: principals whose key is
// built from several fields (a role session of a person, the root user
// without an ARN, another account) would otherwise allocate on every
// call. The zero value is ready to use; it is not safe for concurrent
// use.
type Principals struct{ m map[principalKey]Principal }

// Of returns PrincipalOf(c).
func (ps *Principals) Of(c *event.APICall) Principal {
	id := &c.Identity
	k := principalKey{Type: id.Type, ARN: id.ARN, PrincipalID: id.PrincipalID, Account: id.AccountID, Owner: c.Account,
		Issuer: id.Session.Issuer.ARN, CenterUser: id.OnBehalfOf.UserID}
	if p, ok := ps.m[k]; ok {
		return p
	}
	if ps.m == nil || len(ps.m) >= maxPrincipals {
		ps.m = make(map[principalKey]Principal, 64)
	}
	p := PrincipalOf(c)
	ps.m[k] = p
	return p
}

// Allowlist is a set of principals a detector leaves alone, by name: a
// principal's ARN, a role's ARN or name, or a user's name.
type Allowlist map[string]bool

// NewAllowlist returns the allowlist of names.
func NewAllowlist(names []string) Allowlist {
	a := Allowlist{}
	for _, n := range names {
		a[n] = true
	}
	return a
}

// Allows reports whether the principal of call c is on the list: its ARN
// or user name, its session issuer's ARN or name (the role of an assumed
// role), or the principal it is held against.
func (a Allowlist) Allows(c *event.APICall) bool {
	if len(a) == 0 {
		return false
	}
	id := &c.Identity
	for _, n := range []event.ID{id.ARN, id.UserName, id.Session.Issuer.ARN, id.Session.Issuer.UserName, PrincipalOf(c).ARN} {
		if !n.IsZero() && a[n.String()] {
			return true
		}
	}
	return false
}

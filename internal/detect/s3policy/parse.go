package s3policy

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"

	"picket/internal/event"
)

// This file reads the request parameters of the S3 calls the detector
// checks. CloudTrail records S3's XML requests as JSON converted from the
// XML, so a list of one element may arrive as the element itself, a
// boolean may be written as a string, and a bucket policy, which S3 takes
// as a JSON document, may arrive as that document or as a string holding
// it. Every reader here accepts each of those shapes, and a field that is
// missing or malformed reads as unknown rather than failing.

// access says what a grant lets its grantee do to a bucket.
type access struct {
	Read, Write bool
}

func (a access) any() bool { return a.Read || a.Write }

func (a *access) add(b access) {
	a.Read = a.Read || b.Read
	a.Write = a.Write || b.Write
}

// words describes an access: "read", "write", "read and write".
func (a access) words() string {
	switch {
	case a.Read && a.Write:
		return "read and write"
	case a.Write:
		return "write"
	}
	return "read"
}

// grants is what a policy or an ACL gives to everyone: Anonymous to anyone
// on the internet, signed in or not; Authenticated to any AWS principal of
// any account, signed requests only.
type grants struct {
	Anonymous, Authenticated access
	// How lists what grants the access, for the finding's detail.
	How []string
}

// list returns the elements of a JSON value that is either an array or
// a single element.
func list(v []byte) []json.RawMessage {
	v = trim(v)
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	if v[0] == '[' {
		var out []json.RawMessage
		if json.Unmarshal(v, &out) != nil {
			return nil
		}
		return out
	}
	return []json.RawMessage{v}
}

// strs returns the strings of a JSON value that is a string or an array
// of strings. Numbers and booleans count as their text (an account ID
// may be written as a number); objects and arrays within are left out.
func strs(v []byte) []string {
	var out []string
	for _, e := range list(v) {
		var s string
		switch e = trim(e); {
		case len(e) == 0 || e[0] == '{' || e[0] == '[' || string(e) == "null":
		case e[0] == '"':
			if json.Unmarshal(e, &s) == nil {
				out = append(out, s)
			}
		default:
			out = append(out, strings.TrimSpace(string(e)))
		}
	}
	return out
}

func trim(v []byte) []byte {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\n' || v[0] == '\r' || v[0] == '\t') {
		v = v[1:]
	}
	return v
}

// member returns the value of the first of keys that obj has, trying each
// key as written and then with its first letter's case changed, since
// CloudTrail writes S3's XML element names capitalized and some tools
// rewrite them in lower camel case.
func member(obj []byte, keys ...string) []byte {
	for _, k := range keys {
		if v := event.JSONValue(obj, k); v != nil {
			return v
		}
		if v := event.JSONValue(obj, flipFirst(k)); v != nil {
			return v
		}
	}
	return nil
}

func flipFirst(s string) string {
	if s == "" {
		return s
	}
	c := s[0]
	switch {
	case c >= 'a' && c <= 'z':
		c -= 'a' - 'A'
	case c >= 'A' && c <= 'Z':
		c += 'a' - 'A'
	}
	return string(c) + s[1:]
}

// flag reads a boolean member, written as a boolean or a string.
func flag(obj []byte, key string) (value, ok bool) {
	switch strings.ToLower(strings.Trim(string(member(obj, key)), `"`)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// blockConfig is an S3 Block Public Access configuration.
type blockConfig struct {
	BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets bool
}

// off lists the protections a configuration leaves off.
func (b blockConfig) off() []string {
	var out []string
	for _, s := range []struct {
		name string
		on   bool
	}{
		{"BlockPublicAcls", b.BlockPublicAcls}, {"IgnorePublicAcls", b.IgnorePublicAcls},
		{"BlockPublicPolicy", b.BlockPublicPolicy}, {"RestrictPublicBuckets", b.RestrictPublicBuckets},
	} {
		if !s.on {
			out = append(out, s.name)
		}
	}
	return out
}

// blockConfigOf reads the configuration a PutPublicAccessBlock call sets;
// ok is false when the call carries none that can be read. A setting the
// configuration leaves out is off: the call replaces the whole
// configuration, and S3 takes a missing setting as false.
func blockConfigOf(req []byte) (b blockConfig, ok bool) {
	cfg := member(req, "PublicAccessBlockConfiguration")
	if cfg == nil {
		// Some records nest it under the subresource's name.
		cfg = member(member(req, "PublicAccessBlock"), "PublicAccessBlockConfiguration")
	}
	if len(trim(cfg)) == 0 || trim(cfg)[0] != '{' {
		return blockConfig{}, false
	}
	b.BlockPublicAcls, _ = flag(cfg, "BlockPublicAcls")
	b.IgnorePublicAcls, _ = flag(cfg, "IgnorePublicAcls")
	b.BlockPublicPolicy, _ = flag(cfg, "BlockPublicPolicy")
	b.RestrictPublicBuckets, _ = flag(cfg, "RestrictPublicBuckets")
	return b, true
}

// The groups of S3's ACLs that stand for everyone.
const (
	allUsersGroup      = "/groups/global/AllUsers"
	authenticatedGroup = "/groups/global/AuthenticatedUsers"
)

// permissionAccess maps an ACL permission to what it lets the grantee do.
// READ_ACP and WRITE_ACP are about the ACL itself; whoever may write the
// ACL may give themselves anything, so WRITE_ACP counts as write.
func permissionAccess(p string) access {
	switch strings.ToUpper(strings.TrimSpace(p)) {
	case "READ", "READ_ACP":
		return access{Read: true}
	case "WRITE", "WRITE_ACP":
		return access{Write: true}
	case "FULL_CONTROL":
		return access{Read: true, Write: true}
	}
	return access{}
}

// aclGrants reads what an ACL call (PutBucketAcl, or CreateBucket with
// an ACL) gives to everyone: the grants of its AccessControlPolicy body,
// its canned ACL (the x-amz-acl header) and its grant headers
// (x-amz-grant-read and the like). owner is the bucket owner's canonical
// ID when the body names it.
func aclGrants(req []byte) (g grants, owner string) {
	policy := member(req, "AccessControlPolicy")
	owner, _ = event.JSONString(member(policy, "Owner"), "ID")
	if owner == "" {
		owner, _ = event.JSONString(member(policy, "Owner"), "id")
	}
	for _, grant := range list(member(member(policy, "AccessControlList"), "Grant")) {
		grantee := member(grant, "Grantee")
		uri, _ := event.JSONString(grantee, "URI")
		if uri == "" {
			uri, _ = event.JSONString(grantee, "uri")
		}
		perm, _ := event.JSONString(grant, "Permission")
		if perm == "" {
			perm, _ = event.JSONString(grant, "permission")
		}
		a := permissionAccess(perm)
		switch {
		case !a.any():
		case strings.HasSuffix(uri, allUsersGroup):
			g.Anonymous.add(a)
			g.How = append(g.How, "the ACL grants "+strings.ToUpper(perm)+" to AllUsers")
		case strings.HasSuffix(uri, authenticatedGroup):
			g.Authenticated.add(a)
			g.How = append(g.How, "the ACL grants "+strings.ToUpper(perm)+" to AuthenticatedUsers")
		}
	}
	for _, canned := range strs(event.JSONValue(req, "x-amz-acl")) {
		switch strings.ToLower(strings.TrimSpace(canned)) {
		case "public-read":
			g.Anonymous.add(access{Read: true})
		case "public-read-write":
			g.Anonymous.add(access{Read: true, Write: true})
		case "authenticated-read":
			g.Authenticated.add(access{Read: true})
		default:
			continue
		}
		g.How = append(g.How, "canned ACL "+canned)
	}
	for _, h := range []struct {
		header string
		access access
	}{
		{"x-amz-grant-read", access{Read: true}}, {"x-amz-grant-read-acp", access{Read: true}},
		{"x-amz-grant-write", access{Write: true}}, {"x-amz-grant-write-acp", access{Write: true}},
		{"x-amz-grant-full-control", access{Read: true, Write: true}},
	} {
		for _, v := range strs(event.JSONValue(req, h.header)) {
			switch {
			case strings.Contains(v, allUsersGroup):
				g.Anonymous.add(h.access)
				g.How = append(g.How, h.header+" to AllUsers")
			case strings.Contains(v, authenticatedGroup):
				g.Authenticated.add(h.access)
				g.How = append(g.How, h.header+" to AuthenticatedUsers")
			}
		}
	}
	return g, owner
}

// statement is one statement of a bucket policy.
type statement struct {
	Sid          json.RawMessage `json:"Sid"`
	Effect       string          `json:"Effect"`
	Principal    json.RawMessage `json:"Principal"`
	NotPrincipal json.RawMessage `json:"NotPrincipal"`
	Action       json.RawMessage `json:"Action"`
	NotAction    json.RawMessage `json:"NotAction"`
	Condition    json.RawMessage `json:"Condition"`
}

// policyDocument returns a call's bucket policy document: the
// bucketPolicy parameter, an object or a string holding one.
func policyDocument(req []byte) []byte {
	v := trim(member(req, "bucketPolicy"))
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil
		}
		v = trim([]byte(s))
	}
	if len(v) == 0 || v[0] != '{' {
		return nil
	}
	return v
}

// policyGrants reads what a bucket policy gives to everyone: the Allow
// statements whose principal is everyone ("*", {"AWS":"*"}, or a
// NotPrincipal, which allows everyone but the principals it names) and
// whose condition does not narrow the callers to known networks,
// accounts or organizations. ok is false when the call carries no policy
// that can be read.
func policyGrants(req []byte) (g grants, ok bool) {
	doc := policyDocument(req)
	if doc == nil {
		return grants{}, false
	}
	for i, raw := range list(member(doc, "Statement")) {
		var st statement
		if json.Unmarshal(raw, &st) != nil || !strings.EqualFold(st.Effect, "Allow") {
			continue
		}
		everyone := wildcardPrincipal(st.Principal)
		if st.NotPrincipal != nil && string(trim(st.NotPrincipal)) != "null" {
			everyone = true
		}
		if !everyone || restricted(st.Condition) {
			continue
		}
		a := actionAccess(st.Action, st.NotAction)
		if !a.any() {
			continue
		}
		g.Anonymous.add(a)
		name := strconv.Itoa(i + 1)
		if sid := strs(st.Sid); len(sid) == 1 && sid[0] != "" {
			name = sid[0]
		}
		g.How = append(g.How, "policy statement "+name+" allows "+a.words()+" to everyone")
	}
	return g, true
}

// wildcardPrincipal reports whether a Principal element names everyone:
// "*", or "*" among its AWS principals.
func wildcardPrincipal(p []byte) bool {
	p = trim(p)
	if len(p) == 0 {
		return false
	}
	if p[0] == '"' {
		var s string
		return json.Unmarshal(p, &s) == nil && s == "*"
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(p, &m) != nil {
		return false
	}
	for k, v := range m {
		if !strings.EqualFold(k, "AWS") {
			continue
		}
		for _, s := range strs(v) {
			if s == "*" {
				return true
			}
		}
	}
	return false
}

// Representative actions of reading and of writing a bucket, to match
// wildcard actions ("s3:Get*") against.
var (
	readActions  = []string{"s3:getobject", "s3:listbucket", "s3:getobjectversion", "s3:getbucketacl"}
	writeActions = []string{"s3:putobject", "s3:deleteobject", "s3:putbucketpolicy", "s3:putbucketacl", "s3:putobjectacl"}
)

// actionAccess says what the actions of a statement allow. NotAction
// allows everything but what it names: both, to be safe.
func actionAccess(action, notAction []byte) access {
	if n := trim(notAction); len(n) > 0 && string(n) != "null" {
		return access{Read: true, Write: true}
	}
	var a access
	for _, s := range strs(action) {
		s = strings.ToLower(strings.TrimSpace(s))
		if strings.ContainsAny(s, "*?") {
			for _, r := range readActions {
				a.Read = a.Read || glob(s, r)
			}
			for _, w := range writeActions {
				a.Write = a.Write || glob(s, w)
			}
			continue
		}
		name, _ := strings.CutPrefix(s, "s3:")
		if strings.HasPrefix(name, "get") || strings.HasPrefix(name, "list") {
			a.Read = true
		} else if name != "" {
			a.Write = true
		}
	}
	return a
}

// glob reports whether s matches the IAM pattern p, in which "*" matches
// any run of characters and "?" any one.
func glob(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if glob(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}

// narrowingKeys are the condition keys that, compared with fixed values,
// keep a statement from being public: S3 itself does not count a policy
// limited by them as public ("The meaning of public" in the S3 user
// guide). They name the caller's network (aws:SourceIp, aws:SourceVpc,
// aws:SourceVpce), account, organization or identity (aws:PrincipalOrgID,
// aws:PrincipalAccount, aws:PrincipalArn, aws:userid), or the resource or
// account on whose behalf a service calls (aws:SourceArn,
// aws:SourceAccount).
var narrowingKeys = map[string]bool{
	"aws:sourceip": true, "aws:sourcevpc": true, "aws:sourcevpce": true,
	"aws:sourcearn": true, "aws:sourceaccount": true, "aws:sourceowner": true,
	"aws:sourceorgid": true, "aws:sourceorgpaths": true,
	"aws:principalorgid": true, "aws:principalorgpaths": true, "aws:principalaccount": true,
	"aws:principalarn": true, "aws:principalservicename": true, "aws:userid": true,
	"s3:dataaccesspointarn": true, "s3:dataaccesspointaccount": true,
}

// restricted reports whether a statement's Condition narrows who may use
// it: some operator that must match (not a negated one such as
// StringNotEquals, nor an ...IfExists one, which passes when the key is
// absent, as it is for anonymous callers, nor ForAllValues, which passes
// on an empty key) compares a narrowing key with values that are not
// all wildcards.
func restricted(cond []byte) bool {
	var c map[string]map[string]json.RawMessage
	if len(trim(cond)) == 0 || json.Unmarshal(cond, &c) != nil {
		return false
	}
	for op, keys := range c {
		o := strings.ToLower(op)
		if strings.Contains(o, "not") || strings.HasSuffix(o, "ifexists") || strings.HasPrefix(o, "forallvalues:") ||
			o == "null" || o == "bool" {
			continue
		}
		for key, vals := range keys {
			k := strings.ToLower(key)
			if !narrowingKeys[k] {
				continue
			}
			for _, v := range strs(vals) {
				if narrowingValue(k, v) {
					return true
				}
			}
		}
	}
	return false
}

// narrowingValue reports whether v, a value compared with key k,
// narrows the callers: not a bare wildcard, and for addresses an address
// or a prefix of at least /8 for IPv4 and /32 for IPv6 (0.0.0.0/0 is the
// whole internet; a /8 is already a sixteen-millionth of it, and a /32
// is what a regional internet registry allocates to one network).
func narrowingValue(k, v string) bool {
	v = strings.TrimSpace(v)
	if v == "" || strings.Trim(v, "*?") == "" {
		return false
	}
	if k == "aws:sourceip" {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, err := netip.ParseAddr(v)
			return err == nil && a.IsValid()
		}
		if p.Addr().Is4() {
			return p.Bits() >= 8
		}
		return p.Bits() >= 32
	}
	return true
}

package cloudtrail

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"

	"picket/internal/event"
	"picket/internal/jsonscan"
)

// Internal control flow. errShort, the scanner's, means the bytes ran out
// before the value did: the Reader reads more and tries again. errBad
// means the event is bad; the details are in the Decoder's failure.
// errWrapper means the object is a container of events ({"Records":[...]}),
// to be streamed. errDigest means the object is a CloudTrail digest
// file's, to be skipped.
var (
	errShort   = jsonscan.ErrShort
	errBad     = errors.New("bad event")
	errWrapper = errors.New("wrapper object")
	errDigest  = errors.New("digest file")
)

// field numbers the interned fields, for the decoder's last-value cache.
type field uint8

const (
	fVersion field = iota
	fEventSource
	fEventName
	fRegion
	fAccount
	fAPIVersion
	fSourceService
	fUserAgent
	fErrorCode
	fErrorMessage
	fEventType
	fEventCategory
	fVPCE
	fVPCEAccount
	fTLSVersion
	fCipherSuite
	fClientHost
	fIDType
	fIDPrincipal
	fIDARN
	fIDAccount
	fIDAccessKey
	fIDUserName
	fIDInvokedBy
	fIDProvider
	fIDCredential
	fOnBehalfUser
	fOnBehalfStore
	fIssuerType
	fIssuerPrincipal
	fIssuerARN
	fIssuerAccount
	fIssuerUserName
	fSourceIdentity
	fEC2RoleDelivery
	fFederatedProvider
	numFields
)

// objKind says which object the walker is in, and so which keys it knows.
type objKind uint8

const (
	objEvent      objKind = iota // a top-level item: an event, an EventBridge envelope or a wrapper
	objDetail                    // an event inside an envelope
	objIdentity                  // userIdentity
	objSession                   // userIdentity.sessionContext
	objIssuer                    // sessionContext.sessionIssuer
	objAttributes                // sessionContext.attributes
	objWebID                     // sessionContext.webIdFederationData
	objOnBehalfOf                // userIdentity.onBehalfOf
	objTLS                       // tlsDetails
	objMessage                   // a logEvents or Events element, holding the event as a string
)

// Bits of Decoder.seen: the keys that make an object an event.
const (
	seenTime uint8 = 1 << iota
	seenName
	seenSource
	seenVersion
	seenTimestamp // "@timestamp" only: see eventMember
	seenDigest    // digestStartTime: a CloudTrail digest file, not events
)

// maxInterned bounds the decoder's intern cache; when full it starts over.
const maxInterned = 1 << 14

// failure holds the first problem found in an event.
type failure struct {
	err   error  // one of the Err* values
	field string // dotted key path
	pos   int    // where the value (or the bad byte) is, in the event's bytes
	end   int    // end of the bad value to show, or -1: up to maxValueInError bytes
	msg   string
	// malformed is set for broken JSON: the event's end is not known.
	// Otherwise the event ended where it should, and only a value is bad.
	malformed bool
}

// Decoder decodes single CloudTrail events held in memory. It keeps an
// intern cache across events, so reuse one per input (or per goroutine);
// it is not safe for concurrent use. A Reader holds one.
type Decoder struct {
	name string
	ids  map[string]event.ID
	last [numFields]event.ID // last ID per field: most repeat event to event

	arena []byte // unescaped values of borrowed fields, reset per event
	tmp   []byte // unescaped strings about to be interned
	key   []byte // an unescaped key

	fail    failure
	failed  bool
	seen    uint8
	detail  [2]int // span of an EventBridge envelope's detail object, or -1
	wrapKey string // the container key of a wrapper object (errWrapper)
	msgKey  string // the key that holds the event string, for objMessage
	msg     [2]int // span of that string, quotes included, or -1
	msgEsc  bool

	timestamp event.Time // "@timestamp", the fallback for eventTime
}

// NewDecoder returns a decoder for events of the input called name (used
// in errors).
func NewDecoder(name string) *Decoder {
	d := &Decoder{ids: make(map[string]event.ID)}
	d.Reset(name)
	return d
}

// Reset prepares the decoder for a new input, keeping its intern cache.
func (d *Decoder) Reset(name string) { d.name = name }

// Decode decodes the single event in b into c: a CloudTrail event object,
// or an EventBridge event whose detail is one. Surrounding whitespace is
// allowed. c is reset first; on error its contents are unspecified. The
// error is a *ParseError (its Line and Record are 0: the caller knows
// where b came from). c.Origin is left for the caller to set.
//
// c's borrowed fields (Raw, EventID, RequestParameters, ...) point into b,
// or into the decoder's scratch space for values that had to be
// unescaped: they are valid while b is and until the next call to Decode.
func (d *Decoder) Decode(b []byte, c *event.APICall) error {
	d.arena = d.arena[:0]
	i := jsonscan.SkipSpace(b, 0)
	if i == len(b) {
		return d.errorf(b, 0, 0, &failure{err: ErrNotEvent, msg: "empty input", end: -1})
	}
	if b[i] != '{' {
		end, _, _ := jsonscan.Value(b, i)
		return d.errorf(b, 0, 0, &failure{err: ErrNotEvent, pos: i, end: end, msg: "not a JSON object"})
	}
	n, err := d.item(b[i:], c)
	if err == nil || errors.Is(err, errBad) && !d.fail.malformed {
		if j := jsonscan.SkipSpace(b, i+n); j != len(b) {
			return d.errorf(b, 0, 0, &failure{err: ErrSyntax, pos: j, end: -1, msg: "data after the event"})
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errShort):
		return d.errorf(b, 0, 0, &failure{err: ErrTruncated, pos: len(b), end: -1, msg: "the event is cut off"})
	case errors.Is(err, errWrapper):
		return d.errorf(b, 0, 0, &failure{err: ErrNotEvent, pos: i, end: -1, field: d.wrapKey, msg: "a container of events, not an event: use a Reader"})
	case errors.Is(err, errDigest):
		return d.errorf(b, 0, 0, &failure{err: ErrNotEvent, pos: -1, msg: "a CloudTrail digest file, which holds no events"})
	}
	return d.errorf(b[i:], 0, 0, &d.fail)
}

// errorf builds the ParseError for a failure in the event bytes b.
func (d *Decoder) errorf(b []byte, line, record int64, f *failure) *ParseError {
	e := &ParseError{File: d.name, Line: line, Record: record, Field: f.field, Err: f.err, Msg: f.msg}
	if f.pos >= 0 && f.pos <= len(b) {
		end := f.end
		if end < f.pos || end > len(b) {
			end = len(b)
		}
		v := b[f.pos:end]
		if len(v) > maxValueInError {
			v = v[:maxValueInError]
		}
		if k := bytes.IndexByte(v, '\n'); k >= 0 && k > 0 {
			v = v[:k]
		}
		e.Value = string(v)
	}
	return e
}

// bad records malformed JSON at pos and returns errBad.
func (d *Decoder) bad(err error, field string, pos int, msg string) error {
	if errors.Is(err, errShort) {
		return errShort
	}
	reason := ErrSyntax
	if errors.Is(err, jsonscan.ErrTooDeep) {
		reason, msg = ErrTooDeep, "nested more than 512 levels"
	}
	d.fail = failure{err: reason, field: field, pos: pos, end: -1, msg: msg, malformed: true}
	d.failed = true
	return errBad
}

// keys lists the first keys of a valid object, for an error message.
func keys(obj []byte) string {
	var out []byte
	i := jsonscan.SkipSpace(obj, 1)
	for n := 0; i < len(obj) && obj[i] == '"'; n++ {
		end, _, _, err := jsonscan.String(obj, i)
		if err != nil {
			break
		}
		if n == 5 {
			out = append(out, ", ..."...)
			break
		}
		if n > 0 {
			out = append(out, ", "...)
		}
		out = append(out, obj[i:min(end, i+40)]...)
		i = jsonscan.SkipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			break
		}
		if i, _, err = jsonscan.Value(obj, jsonscan.SkipSpace(obj, i+1)); err != nil {
			break
		}
		i = jsonscan.SkipSpace(obj, i)
		if i < len(obj) && obj[i] == ',' {
			i = jsonscan.SkipSpace(obj, i+1)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return string(out)
}

// found names a byte for an error message.
func found(c byte) string {
	if c == '{' || c == '[' {
		return strconv.QuoteRune(rune(c)) + " (a missing '}' before it?)"
	}
	return strconv.QuoteRune(rune(c))
}

// badString records a string that scanString rejected: the string starts
// at b[i], the problem is at b[p].
func (d *Decoder) badString(err error, b []byte, i, p int, path string) error {
	if errors.Is(err, errShort) {
		return errShort
	}
	msg := "raw control character in a string"
	switch b[p] {
	case '\\':
		msg = "invalid escape " + strconv.Quote(string(b[p:min(len(b), p+2)])) + " in a string"
	case '\n':
		msg = "a string is cut off by a line break"
	}
	d.bad(err, path, i, msg)
	d.fail.end = p
	return errBad
}

// reject records the first wrong value of an event; the walk goes on, so
// that the event's end is found and the stream can continue after it.
func (d *Decoder) reject(err error, field string, pos, end int, msg string) {
	if !d.failed {
		d.fail = failure{err: err, field: field, pos: pos, end: end, msg: msg}
		d.failed = true
	}
}

// item decodes the object at b[0] into c. It returns the object's end, or
// errShort, errWrapper (d.wrapKey is the container key, and the returned
// index is the container's '['), or errBad (details in d.fail; for a
// wrong value rather than malformed JSON the end is still returned).
func (d *Decoder) item(b []byte, c *event.APICall) (int, error) {
	c.Reset()
	d.arena = d.arena[:0]
	d.failed = false
	d.seen = 0
	d.detail = [2]int{-1, -1}
	end, err := d.walk(b, 0, objEvent, c, "")
	if err != nil {
		return end, err
	}
	c.Raw = b[:end]
	if d.seen&^(seenTimestamp|seenDigest) == 0 && d.detail[0] >= 0 && !d.failed {
		// An EventBridge envelope: the event is the detail.
		c.Reset()
		d.seen = 0
		det := b[d.detail[0]:d.detail[1]]
		if _, err := d.walk(det, 0, objDetail, c, "detail"); err != nil {
			return end, errBad // skip validated it: only a wrong value can fail here
		}
		c.Raw = det
		if d.failed {
			d.fail.pos += d.detail[0]
			if d.fail.end >= 0 {
				d.fail.end += d.detail[0]
			}
		}
	}
	if d.failed {
		return end, errBad
	}
	if d.seen == seenDigest {
		return end, errDigest
	}
	if d.seen&(seenTime|seenTimestamp) == seenTimestamp {
		c.EventTime = d.timestamp
		d.seen |= seenTime
	}
	switch {
	case d.seen&^(seenTimestamp|seenDigest) == 0:
		d.reject(ErrNotEvent, "", 0, 0, "no eventTime, eventName, eventSource or eventVersion; keys: "+keys(b[:end]))
		d.fail.pos = -1 // the keys say more than the first bytes
		return end, errBad
	case d.seen&seenTime == 0:
		d.reject(ErrMissing, "eventTime", 0, 0, "")
		return end, errBad
	}
	return end, nil
}

// walk walks the object at b[i] (its '{'), handling each member by kind,
// and returns the object's end. path is the dotted key path of the
// object, for errors.
func (d *Decoder) walk(b []byte, i int, kind objKind, c *event.APICall, path string) (int, error) {
	i = jsonscan.SkipSpace(b, i+1)
	if i >= len(b) {
		return i, errShort
	}
	if b[i] == '}' {
		return i + 1, nil
	}
	for {
		if b[i] != '"' {
			return i, d.bad(errBad, path, i, "expected a key, found "+found(b[i]))
		}
		end, esc, p, err := jsonscan.String(b, i)
		if err != nil {
			return i, d.badString(err, b, i, p, path)
		}
		key := b[i+1 : end-1]
		if esc {
			d.key = jsonscan.AppendUnescaped(d.key[:0], key)
			key = d.key
		}
		i = jsonscan.SkipSpace(b, end)
		if i >= len(b) {
			return i, errShort
		}
		if b[i] != ':' {
			return i, d.bad(errBad, path, i, "expected ':' after a key, found "+found(b[i]))
		}
		i = jsonscan.SkipSpace(b, i+1)
		if i >= len(b) {
			return i, errShort
		}
		i, err = d.member(b, i, kind, key, c, path)
		if err != nil {
			return i, err
		}
		i = jsonscan.SkipSpace(b, i)
		if i >= len(b) {
			return i, errShort
		}
		switch b[i] {
		case ',':
			i = jsonscan.SkipSpace(b, i+1)
			if i >= len(b) {
				return i, errShort
			}
		case '}':
			return i + 1, nil
		default:
			return i, d.bad(errBad, path, i, "expected ',' or '}' after a value, found "+found(b[i]))
		}
	}
}

// member decodes the value at b[i] of key in an object of the given kind,
// and returns its end.
func (d *Decoder) member(b []byte, i int, kind objKind, key []byte, c *event.APICall, path string) (int, error) {
	switch kind {
	case objEvent, objDetail:
		return d.eventMember(b, i, kind, key, c)
	case objIdentity:
		id := &c.Identity
		switch string(key) {
		case "type":
			end, err := d.id(b, i, fIDType, &id.TypeName, "userIdentity.type")
			id.Type = event.ParseIdentityType(id.TypeName.String())
			if id.TypeName.IsZero() {
				id.Type = event.IdentityNone
			}
			return end, err
		case "principalId":
			return d.id(b, i, fIDPrincipal, &id.PrincipalID, "userIdentity.principalId")
		case "arn":
			return d.id(b, i, fIDARN, &id.ARN, "userIdentity.arn")
		case "accountId":
			return d.id(b, i, fIDAccount, &id.AccountID, "userIdentity.accountId")
		case "accessKeyId":
			return d.id(b, i, fIDAccessKey, &id.AccessKeyID, "userIdentity.accessKeyId")
		case "userName":
			return d.id(b, i, fIDUserName, &id.UserName, "userIdentity.userName")
		case "invokedBy":
			return d.id(b, i, fIDInvokedBy, &id.InvokedBy, "userIdentity.invokedBy")
		case "identityProvider":
			return d.id(b, i, fIDProvider, &id.IdentityProvider, "userIdentity.identityProvider")
		case "credentialId":
			return d.id(b, i, fIDCredential, &id.CredentialID, "userIdentity.credentialId")
		case "sessionContext":
			id.Session = event.Session{}
			return d.object(b, i, objSession, c, "userIdentity.sessionContext")
		case "onBehalfOf":
			id.OnBehalfOf = event.OnBehalfOf{}
			return d.object(b, i, objOnBehalfOf, c, "userIdentity.onBehalfOf")
		}
	case objSession:
		s := &c.Identity.Session
		switch string(key) {
		case "sessionIssuer":
			s.Issuer = event.SessionIssuer{}
			return d.object(b, i, objIssuer, c, "userIdentity.sessionContext.sessionIssuer")
		case "attributes":
			s.MFAAuthenticated, s.Created = event.TriUnset, 0
			return d.object(b, i, objAttributes, c, "userIdentity.sessionContext.attributes")
		case "webIdFederationData":
			s.FederatedProvider = event.ID{}
			return d.object(b, i, objWebID, c, "userIdentity.sessionContext.webIdFederationData")
		case "sourceIdentity":
			return d.id(b, i, fSourceIdentity, &s.SourceIdentity, "userIdentity.sessionContext.sourceIdentity")
		case "ec2RoleDelivery":
			return d.id(b, i, fEC2RoleDelivery, &s.EC2RoleDelivery, "userIdentity.sessionContext.ec2RoleDelivery")
		case "assumedRoot":
			return d.tri(b, i, &s.AssumedRoot, "userIdentity.sessionContext.assumedRoot")
		}
	case objIssuer:
		s := &c.Identity.Session.Issuer
		switch string(key) {
		case "type":
			return d.id(b, i, fIssuerType, &s.Type, "userIdentity.sessionContext.sessionIssuer.type")
		case "principalId":
			return d.id(b, i, fIssuerPrincipal, &s.PrincipalID, "userIdentity.sessionContext.sessionIssuer.principalId")
		case "arn":
			return d.id(b, i, fIssuerARN, &s.ARN, "userIdentity.sessionContext.sessionIssuer.arn")
		case "accountId":
			return d.id(b, i, fIssuerAccount, &s.AccountID, "userIdentity.sessionContext.sessionIssuer.accountId")
		case "userName":
			return d.id(b, i, fIssuerUserName, &s.UserName, "userIdentity.sessionContext.sessionIssuer.userName")
		}
	case objAttributes:
		s := &c.Identity.Session
		switch string(key) {
		case "mfaAuthenticated":
			return d.tri(b, i, &s.MFAAuthenticated, "userIdentity.sessionContext.attributes.mfaAuthenticated")
		case "creationDate":
			return d.time(b, i, &s.Created, "userIdentity.sessionContext.attributes.creationDate")
		}
	case objWebID:
		if string(key) == "federatedProvider" {
			return d.id(b, i, fFederatedProvider, &c.Identity.Session.FederatedProvider, "userIdentity.sessionContext.webIdFederationData.federatedProvider")
		}
	case objOnBehalfOf:
		o := &c.Identity.OnBehalfOf
		switch string(key) {
		case "userId":
			return d.id(b, i, fOnBehalfUser, &o.UserID, "userIdentity.onBehalfOf.userId")
		case "identityStoreArn":
			return d.id(b, i, fOnBehalfStore, &o.IdentityStoreARN, "userIdentity.onBehalfOf.identityStoreArn")
		}
	case objTLS:
		t := &c.TLS
		switch string(key) {
		case "tlsVersion":
			return d.id(b, i, fTLSVersion, &t.Version, "tlsDetails.tlsVersion")
		case "cipherSuite":
			return d.id(b, i, fCipherSuite, &t.CipherSuite, "tlsDetails.cipherSuite")
		case "clientProvidedHostHeader":
			return d.id(b, i, fClientHost, &t.ClientHost, "tlsDetails.clientProvidedHostHeader")
		}
	case objMessage:
		if string(key) == d.msgKey && b[i] == '"' {
			end, esc, p, err := jsonscan.String(b, i)
			if err != nil {
				return i, d.badString(err, b, i, p, d.msgKey)
			}
			d.msg = [2]int{i, end}
			d.msgEsc = esc
			return end, nil
		}
	}
	return d.skip(b, i, path, key)
}

// eventMember decodes a member of an event (or of an item that may turn
// out to be an envelope or a wrapper).
func (d *Decoder) eventMember(b []byte, i int, kind objKind, key []byte, c *event.APICall) (int, error) {
	switch string(key) {
	case "eventVersion":
		d.seen |= seenVersion
		return d.id(b, i, fVersion, &c.Version, "eventVersion")
	case "eventTime":
		d.seen |= seenTime
		return d.time(b, i, &c.EventTime, "eventTime")
	case "@timestamp":
		// Logstash and Elastic pipelines move eventTime here. It is used
		// only when the event has no eventTime of its own, and ignored
		// when it does not parse.
		if b[i] != '"' {
			return d.skip(b, i, "", key)
		}
		d.tmp = d.tmp[:0]
		s, end, ok, err := d.str(b, i, "@timestamp", &d.tmp)
		if ok {
			if t, valid := parseTime(s); valid {
				d.seen |= seenTimestamp
				d.timestamp = t
			}
		}
		return end, err
	case "eventSource":
		d.seen |= seenSource
		return d.id(b, i, fEventSource, &c.EventSource, "eventSource")
	case "eventName":
		d.seen |= seenName
		return d.id(b, i, fEventName, &c.EventName, "eventName")
	case "awsRegion":
		return d.id(b, i, fRegion, &c.Region, "awsRegion")
	case "recipientAccountId":
		return d.id(b, i, fAccount, &c.Account, "recipientAccountId")
	case "apiVersion":
		return d.id(b, i, fAPIVersion, &c.APIVersion, "apiVersion")
	case "sourceIPAddress":
		return d.sourceIP(b, i, c)
	case "userAgent":
		return d.id(b, i, fUserAgent, &c.UserAgent, "userAgent")
	case "errorCode":
		return d.id(b, i, fErrorCode, &c.ErrorCode, "errorCode")
	case "errorMessage":
		return d.id(b, i, fErrorMessage, &c.ErrorMessage, "errorMessage")
	case "readOnly":
		return d.tri(b, i, &c.ReadOnly, "readOnly")
	case "managementEvent":
		return d.tri(b, i, &c.ManagementEvent, "managementEvent")
	case "sessionCredentialFromConsole":
		return d.tri(b, i, &c.SessionCredentialFromConsole, "sessionCredentialFromConsole")
	case "eventType":
		return d.id(b, i, fEventType, &c.EventType, "eventType")
	case "eventCategory":
		return d.id(b, i, fEventCategory, &c.EventCategory, "eventCategory")
	case "eventID":
		return d.bytes(b, i, &c.EventID, "eventID")
	case "requestID":
		return d.bytes(b, i, &c.RequestID, "requestID")
	case "sharedEventID":
		return d.bytes(b, i, &c.SharedEventID, "sharedEventID")
	case "vpcEndpointId":
		return d.id(b, i, fVPCE, &c.VPCEndpointID, "vpcEndpointId")
	case "vpcEndpointAccountId":
		return d.id(b, i, fVPCEAccount, &c.VPCEndpointAccountID, "vpcEndpointAccountId")
	case "tlsDetails":
		c.TLS = event.TLSDetails{}
		return d.object(b, i, objTLS, c, "tlsDetails")
	case "userIdentity":
		c.Identity = event.Identity{}
		return d.object(b, i, objIdentity, c, "userIdentity")
	case "requestParameters":
		return d.raw(b, i, &c.RequestParameters, "requestParameters")
	case "responseElements":
		return d.raw(b, i, &c.ResponseElements, "responseElements")
	case "resources":
		return d.raw(b, i, &c.Resources, "resources")
	case "additionalEventData":
		return d.raw(b, i, &c.AdditionalEventData, "additionalEventData")
	case "serviceEventDetails":
		return d.raw(b, i, &c.ServiceEventDetails, "serviceEventDetails")
	case "Records", "logEvents", "Events":
		if kind == objEvent && b[i] == '[' {
			switch key[0] {
			case 'R':
				d.wrapKey = "Records"
			case 'l':
				d.wrapKey = "logEvents"
			default:
				d.wrapKey = "Events"
			}
			return i, errWrapper
		}
	case "digestStartTime", "digestSignatureAlgorithm":
		if kind == objEvent {
			d.seen |= seenDigest
		}
	case "detail":
		if kind == objEvent && b[i] == '{' {
			end, err := d.skip(b, i, "", key)
			if err == nil {
				d.detail = [2]int{i, end}
			}
			return end, err
		}
	}
	return d.skip(b, i, "", key)
}

// skip passes over a value the decoder does not read, checking its syntax.
func (d *Decoder) skip(b []byte, i int, path string, key []byte) (int, error) {
	end, pos, err := jsonscan.Value(b, i)
	if err != nil {
		f := path
		if f == "" {
			f = string(key)
		} else {
			f = path + "." + string(key)
		}
		return i, d.bad(err, f, pos, "")
	}
	return end, nil
}

// object walks a nested object of a known kind; null is an absent object.
func (d *Decoder) object(b []byte, i int, kind objKind, c *event.APICall, path string) (int, error) {
	switch b[i] {
	case '{':
		return d.walk(b, i, kind, c, path)
	case 'n':
		return d.null(b, i, path)
	}
	return d.wrongType(b, i, path, "want an object")
}

func (d *Decoder) null(b []byte, i int, path string) (int, error) {
	end, err := jsonscan.Literal(b, i)
	if err != nil {
		return i, d.bad(err, path, i, "")
	}
	return end, nil
}

// wrongType rejects the value at b[i] and skips it.
func (d *Decoder) wrongType(b []byte, i int, path, msg string) (int, error) {
	end, pos, err := jsonscan.Value(b, i)
	if err != nil {
		return i, d.bad(err, path, pos, "")
	}
	d.reject(ErrType, path, i, end, msg)
	return end, nil
}

// str returns the string at b[i] (unescaped into buf when it had to be)
// and its end; ok is false for null, and for other types after rejecting
// them.
func (d *Decoder) str(b []byte, i int, path string, buf *[]byte) (s []byte, end int, ok bool, err error) {
	switch b[i] {
	case '"':
		e, esc, p, err := jsonscan.String(b, i)
		if err != nil {
			return nil, i, false, d.badString(err, b, i, p, path)
		}
		s = b[i+1 : e-1]
		if esc {
			start := len(*buf)
			*buf = jsonscan.AppendUnescaped(*buf, s)
			s = (*buf)[start:]
		}
		return s, e, true, nil
	case 'n':
		end, err := d.null(b, i, path)
		return nil, end, false, err
	}
	end, err = d.wrongType(b, i, path, "want a string")
	return nil, end, false, err
}

// id interns the string at b[i] into dst.
func (d *Decoder) id(b []byte, i int, f field, dst *event.ID, path string) (int, error) {
	d.tmp = d.tmp[:0]
	s, end, ok, err := d.str(b, i, path, &d.tmp)
	if !ok {
		*dst = event.ID{}
		return end, err
	}
	*dst = d.intern(f, s)
	return end, nil
}

// intern returns the ID of s. Values repeat heavily from event to event,
// so the last value of each field is checked first, then a map keyed
// without allocating.
func (d *Decoder) intern(f field, s []byte) event.ID {
	if len(s) == 0 {
		return event.ID{}
	}
	if last := d.last[f]; !last.IsZero() && last.String() == string(s) {
		return last
	}
	id, ok := d.ids[string(s)]
	if !ok {
		if len(d.ids) >= maxInterned {
			clear(d.ids)
		}
		k := string(s)
		id = event.Intern(k)
		d.ids[k] = id
	}
	d.last[f] = id
	return id
}

// bytes points dst at the string at b[i] (or its unescaped copy in the
// arena).
func (d *Decoder) bytes(b []byte, i int, dst *[]byte, path string) (int, error) {
	s, end, ok, err := d.str(b, i, path, &d.arena)
	if !ok {
		*dst = nil
		return end, err
	}
	*dst = s
	return end, nil
}

// raw points dst at the JSON value at b[i]; null is nil.
func (d *Decoder) raw(b []byte, i int, dst *[]byte, path string) (int, error) {
	if b[i] == 'n' {
		*dst = nil
		return d.null(b, i, path)
	}
	end, pos, err := jsonscan.Value(b, i)
	if err != nil {
		return i, d.bad(err, path, pos, "")
	}
	*dst = b[i:end]
	return end, nil
}

// tri reads a boolean, or a string "true"/"false" (as sessionContext
// attributes are written), into dst.
func (d *Decoder) tri(b []byte, i int, dst *event.Tri, path string) (int, error) {
	switch b[i] {
	case 't', 'f', 'n':
		end, err := jsonscan.Literal(b, i)
		if err != nil {
			return i, d.bad(err, path, i, "")
		}
		switch b[i] {
		case 't':
			*dst = event.TriTrue
		case 'f':
			*dst = event.TriFalse
		default:
			*dst = event.TriUnset
		}
		return end, nil
	case '"':
		d.tmp = d.tmp[:0]
		s, end, _, err := d.str(b, i, path, &d.tmp)
		if err != nil {
			return end, err
		}
		switch string(s) {
		case "true", "TRUE", "True":
			*dst = event.TriTrue
		case "false", "FALSE", "False":
			*dst = event.TriFalse
		case "":
			*dst = event.TriUnset
		default:
			d.reject(ErrValue, path, i, end, "want true or false")
		}
		return end, nil
	}
	return d.wrongType(b, i, path, "want a boolean")
}

// time reads a timestamp string into dst.
func (d *Decoder) time(b []byte, i int, dst *event.Time, path string) (int, error) {
	d.tmp = d.tmp[:0]
	s, end, ok, err := d.str(b, i, path, &d.tmp)
	if !ok {
		*dst = 0
		if err == nil && b[i] == 'n' && path == "eventTime" {
			d.reject(ErrMissing, path, i, end, "eventTime is null")
		}
		return end, err
	}
	t, valid := parseTime(s)
	if !valid {
		d.reject(ErrValue, path, i, end, "want an RFC 3339 time such as 2024-01-02T03:04:05Z")
		return end, nil
	}
	*dst = t
	return end, nil
}

// sourceIP reads sourceIPAddress: an address, or the name of the AWS
// service that made the call.
func (d *Decoder) sourceIP(b []byte, i int, c *event.APICall) (int, error) {
	d.tmp = d.tmp[:0]
	s, end, ok, err := d.str(b, i, "sourceIPAddress", &d.tmp)
	c.SourceIP, c.SourceService = netip.Addr{}, event.ID{}
	if !ok {
		return end, err
	}
	if a, isAddr := event.ParseAddr(s); isAddr {
		c.SourceIP = a
		return end, nil
	}
	c.SourceService = d.intern(fSourceService, s)
	return end, nil
}

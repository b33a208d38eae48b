package event

import (
	"net/netip"
	"strings"
)

// Tri is a boolean that may be absent from a record.
type Tri uint8

// The values of a Tri. The zero value is TriUnset.
const (
	TriUnset Tri = iota
	TriFalse
	TriTrue
)

// TriOf returns TriTrue or TriFalse.
func TriOf(b bool) Tri {
	if b {
		return TriTrue
	}
	return TriFalse
}

// True reports whether t is set and true.
func (t Tri) True() bool { return t == TriTrue }

// False reports whether t is set and false.
func (t Tri) False() bool { return t == TriFalse }

// IsSet reports whether t holds a value.
func (t Tri) IsSet() bool { return t != TriUnset }

func (t Tri) String() string {
	switch t {
	case TriTrue:
		return "true"
	case TriFalse:
		return "false"
	}
	return "-"
}

// IdentityType is the type of the identity that made an API call: the
// userIdentity.type of a CloudTrail event.
type IdentityType uint8

// The identity types CloudTrail records. IdentityNone means the event had
// no userIdentity; IdentityOther a type not listed here (Identity.TypeName
// holds it as recorded).
const (
	IdentityNone            IdentityType = iota
	IdentityIAMUser                      // an IAM user's long-term or session credentials
	IdentityAssumedRole                  // temporary credentials from sts:AssumeRole*, instance and task roles
	IdentityRoot                         // the account's root user
	IdentityFederatedUser                // sts:GetFederationToken
	IdentityAWSService                   // a service acting on its own (invokedBy names it)
	IdentityAWSAccount                   // another account, or an anonymous caller (accountId ANONYMOUS_PRINCIPAL)
	IdentityCenterUser                   // an IAM Identity Center user (onBehalfOf names them)
	IdentitySAMLUser                     // sts:AssumeRoleWithSAML
	IdentityWebIdentityUser              // sts:AssumeRoleWithWebIdentity
	IdentityDirectory                    // an AWS Directory Service user
	IdentityRole                         // a role, as sessionIssuer.type says
	IdentityUnknown                      // "Unknown": the caller could not be identified (failed sign-in, say)
	IdentityOther
)

var identityNames = [...]string{"", "IAMUser", "AssumedRole", "Root", "FederatedUser", "AWSService", "AWSAccount",
	"IdentityCenterUser", "SAMLUser", "WebIdentityUser", "Directory", "Role", "Unknown", "other"}

// String returns the type as CloudTrail writes it ("" for IdentityNone,
// "other" for IdentityOther).
func (t IdentityType) String() string {
	if int(t) < len(identityNames) {
		return identityNames[t]
	}
	return "other"
}

// ParseIdentityType returns the IdentityType of a userIdentity.type value:
// IdentityNone for "", IdentityOther for a value it does not know.
func ParseIdentityType(s string) IdentityType {
	for i, n := range identityNames[:IdentityOther] {
		if n == s {
			return IdentityType(i)
		}
	}
	return IdentityOther
}

// SessionIssuer is the principal that issued a session's temporary
// credentials: usually the role (Type "Role"), or the IAM user of a
// federated session.
type SessionIssuer struct {
	Type        ID // "Role", "IAMUser", ...
	PrincipalID ID
	ARN         ID
	AccountID   ID
	UserName    ID // the role's or user's friendly name
}

// Session is the userIdentity.sessionContext of a call made with
// temporary credentials.
type Session struct {
	Issuer SessionIssuer
	// MFAAuthenticated is attributes.mfaAuthenticated: whether the
	// credentials were issued after multi-factor authentication.
	MFAAuthenticated Tri
	// Created is attributes.creationDate: when the credentials were
	// issued. Zero when absent.
	Created Time
	// SourceIdentity is the source identity set when the role was
	// assumed, if any.
	SourceIdentity ID
	// EC2RoleDelivery is "1.0" or "2.0" (IMDSv1 or v2) when the
	// credentials are an EC2 instance role's, delivered by the instance
	// metadata service; absent otherwise. The session name (see
	// Identity.SessionName) is then the instance ID.
	EC2RoleDelivery ID
	// FederatedProvider is webIdFederationData.federatedProvider: the
	// identity provider of a web identity session.
	FederatedProvider ID
	// AssumedRoot is true for sessions from sts:AssumeRoot (centralized
	// root access).
	AssumedRoot Tri
}

// OnBehalfOf names the IAM Identity Center user an IdentityCenterUser
// call was made for.
type OnBehalfOf struct {
	UserID           ID
	IdentityStoreARN ID
}

// Identity is the userIdentity of a CloudTrail event: who made the call.
// Which fields are set depends on Type (see the CloudTrail userIdentity
// element reference); absent fields are zero.
type Identity struct {
	Type        IdentityType
	TypeName    ID // the type as recorded, for IdentityOther
	PrincipalID ID // for AssumedRole, "<role id>:<session name>"
	ARN         ID
	AccountID   ID
	AccessKeyID ID // AKIA... long-term, ASIA... temporary
	UserName    ID
	// InvokedBy is the AWS service that made the call on the principal's
	// behalf ("ec2.amazonaws.com", "AWS Internal"), or the service itself
	// for IdentityAWSService.
	InvokedBy ID
	// IdentityProvider is the SAML or web identity provider of a
	// SAMLUser or WebIdentityUser.
	IdentityProvider ID
	// CredentialID identifies the IAM Identity Center credentials of an
	// IdentityCenterUser.
	CredentialID ID
	OnBehalfOf   OnBehalfOf
	Session      Session
}

// SessionName returns the session name of an AssumedRole identity, the
// part of the principal ID after the colon (for an EC2 instance role, the
// instance ID), or "" when there is none.
func (id *Identity) SessionName() string {
	p := id.PrincipalID.String()
	if i := strings.IndexByte(p, ':'); i >= 0 {
		return p[i+1:]
	}
	return ""
}

// TLSDetails is the tlsDetails of a call made over TLS.
type TLSDetails struct {
	Version     ID // "TLSv1.2"
	CipherSuite ID
	ClientHost  ID // clientProvidedHostHeader: the endpoint name the client used
}

// APICall is one AWS API call as CloudTrail records it: a management,
// data, network activity or service event, normalized from the event JSON.
// Field comments name the CloudTrail field each comes from.
//
// An APICall is a value that a decoder fills in place. Repeated strings
// are interned IDs and stay valid forever; the []byte fields (Raw,
// EventID, RequestID, SharedEventID, RequestParameters, ResponseElements,
// Resources, AdditionalEventData, ServiceEventDetails) are borrowed: they
// point into the decoder's buffer and are valid only until the decoder
// delivers the next record. A consumer that keeps them beyond the call
// that delivered the record must copy them (bytes.Clone, or Clone for the
// whole record).
type APICall struct {
	// Origin locates the event: the file, and the line number for inputs
	// with one event per line, or the 1-based index of the event within
	// the file for events in an array (a CloudTrail {"Records":[...]}
	// file, a JSON array, a CloudWatch Logs payload).
	Origin Origin

	EventTime Time // eventTime
	Version   ID   // eventVersion, "1.08"

	EventSource ID // eventSource: the service's endpoint, "iam.amazonaws.com"
	EventName   ID // eventName: the API, "ListBuckets"
	Region      ID // awsRegion
	Account     ID // recipientAccountId: the account the event was delivered to
	APIVersion  ID // apiVersion, for the services that record it

	// SourceIP is sourceIPAddress when it is an address (IPv4-mapped IPv6
	// unmapped). When the call came from an AWS service, sourceIPAddress
	// names the service instead ("ec2.amazonaws.com", "AWS Internal"):
	// SourceIP is then the zero Addr and SourceService holds the name.
	SourceIP      netip.Addr
	SourceService ID
	// SourceInfo is what enrichment knows about SourceIP: country, city,
	// AS and whether it is an AWS address. Decoders leave it zero.
	SourceInfo IPInfo
	UserAgent  ID // userAgent, as recorded (console, SDK, CLI, tool)

	ErrorCode    ID // errorCode: "AccessDenied", "Client.UnauthorizedOperation", ...
	ErrorMessage ID // errorMessage

	ReadOnly        Tri // readOnly
	ManagementEvent Tri // managementEvent
	EventType       ID  // eventType: "AwsApiCall", "AwsServiceEvent", "AwsConsoleSignIn", ...
	EventCategory   ID  // eventCategory: "Management", "Data", "NetworkActivity", "Insight"

	EventID       []byte // eventID (borrowed)
	RequestID     []byte // requestID (borrowed)
	SharedEventID []byte // sharedEventID: the same call as recorded in another account (borrowed)

	VPCEndpointID        ID // vpcEndpointId: the endpoint the call went through
	VPCEndpointAccountID ID // vpcEndpointAccountId
	TLS                  TLSDetails
	// SessionCredentialFromConsole is sessionCredentialFromConsole: the
	// call used the console's session credentials.
	SessionCredentialFromConsole Tri

	Identity Identity // userIdentity

	// The free-form parts of the event, as raw JSON (borrowed; nil when
	// absent or null). Detectors read the few fields they need with
	// JSONString, JSONBool and JSONValue.
	RequestParameters   []byte // requestParameters: an object
	ResponseElements    []byte // responseElements: an object
	Resources           []byte // resources: an array of {"ARN", "accountId", "type"}
	AdditionalEventData []byte // additionalEventData: an object
	ServiceEventDetails []byte // serviceEventDetails: an object

	// Raw is the whole event as it appeared in the input (for events that
	// came inside an EventBridge envelope, the detail object; for
	// CloudWatch Logs payloads, the unescaped message): the evidence a
	// finding can quote. Borrowed.
	Raw []byte
}

// Kind returns KindAPICall.
func (c *APICall) Kind() Kind { return KindAPICall }

// Time returns eventTime.
func (c *APICall) Time() Time { return c.EventTime }

// Source returns where the event came from.
func (c *APICall) Source() Origin { return c.Origin }

// Reset clears c for reuse.
func (c *APICall) Reset() { *c = APICall{} }

// Failed reports whether the call failed: the event has an errorCode.
func (c *APICall) Failed() bool { return !c.ErrorCode.IsZero() }

// ByAWSService reports whether an AWS service made the call, on its own
// (userIdentity.type AWSService) or on a principal's behalf (invokedBy, or
// a service name as sourceIPAddress).
func (c *APICall) ByAWSService() bool {
	return c.Identity.Type == IdentityAWSService || !c.Identity.InvokedBy.IsZero() || !c.SourceService.IsZero()
}

// Clone returns a copy of c whose borrowed []byte fields are its own, for
// consumers that keep records (evidence samples). The copies share one
// allocation.
func (c *APICall) Clone() *APICall {
	out := *c
	fields := out.borrowed()
	n := len(c.Raw)
	for _, p := range fields {
		n += len(*p)
	}
	buf := make([]byte, 0, n)
	for _, p := range append(fields[:], &out.Raw) {
		if *p != nil {
			start := len(buf)
			buf = append(buf, *p...)
			*p = buf[start:len(buf):len(buf)]
		}
	}
	return &out
}

func (c *APICall) borrowed() [8]*[]byte {
	return [8]*[]byte{&c.EventID, &c.RequestID, &c.SharedEventID, &c.RequestParameters,
		&c.ResponseElements, &c.Resources, &c.AdditionalEventData, &c.ServiceEventDetails}
}

package finding

import (
	"slices"
	"strconv"
	"time"
)

// Sequence is service.detection.sequence: an attack sequence, a finding
// made of other findings (its signals) about the same actors and
// resources, with the indicators that tie them together. GuardDuty's
// Extended Threat Detection writes it on AttackSequence:* findings.
type Sequence struct {
	// UID identifies the sequence; Description says in one sentence what
	// it is.
	UID         string `json:"uid"`
	Description string `json:"description"`
	// Actors, Resources and Endpoints are who acted, on what and from
	// where; signals refer to them by ID.
	Actors    []Actor           `json:"actors,omitempty"`
	Resources []ResourceV2      `json:"resources,omitempty"`
	Endpoints []NetworkEndpoint `json:"endpoints,omitempty"`
	// Signals are the findings the sequence was built from, in the order
	// they began.
	Signals []Signal `json:"signals"`
	// SequenceIndicators are the indicators of the whole sequence (the
	// tactics it covers, its high-risk APIs, suspicious user agents and
	// networks).
	SequenceIndicators []Indicator `json:"sequenceIndicators,omitempty"`
	// AdditionalSequenceTypes names other sequence types the same
	// activity also matches.
	AdditionalSequenceTypes []string `json:"additionalSequenceTypes,omitempty"`
}

// Signal is one finding (or raw activity) within a sequence.
type Signal struct {
	UID              string      `json:"uid"`  // the finding's ARN
	Type             string      `json:"type"` // SignalFinding for a finding
	Description      string      `json:"description,omitempty"`
	Name             string      `json:"name"` // the finding type
	CreatedAt        EpochTime   `json:"createdAt"`
	UpdatedAt        EpochTime   `json:"updatedAt"`
	FirstSeenAt      EpochTime   `json:"firstSeenAt"`
	LastSeenAt       EpochTime   `json:"lastSeenAt"`
	Severity         float64     `json:"severity,omitempty"`
	Count            int32       `json:"count"`
	ResourceUIDs     []string    `json:"resourceUids,omitempty"`
	ActorIDs         []string    `json:"actorIds,omitempty"`
	EndpointIDs      []string    `json:"endpointIds,omitempty"`
	SignalIndicators []Indicator `json:"signalIndicators,omitempty"`
}

// The attack-sequence finding types.
const (
	TypeAttackSequenceIAM = "AttackSequence:IAM/CompromisedCredentials"
	TypeAttackSequenceEC2 = "AttackSequence:EC2/CompromisedInstanceGroup"
)

// The signal types picket writes.
const (
	SignalFinding = "FINDING"
)

// Actor is who acted in a sequence: an IAM user or role session.
type Actor struct {
	ID      string        `json:"id"`
	User    *User         `json:"user,omitempty"`
	Session *Session      `json:"session,omitempty"`
	Process *ActorProcess `json:"process,omitempty"`
}

// User is an actor's identity.
type User struct {
	Name          string   `json:"name"`
	UID           string   `json:"uid"`
	Type          string   `json:"type"`
	CredentialUID string   `json:"credentialUid,omitempty"`
	Account       *Account `json:"account,omitempty"`
}

// Account is an AWS account.
type Account struct {
	UID  string `json:"uid"`
	Name string `json:"account,omitempty"`
}

// Session is an actor's session, when its credentials were temporary.
type Session struct {
	UID         string    `json:"uid,omitempty"`
	MfaStatus   string    `json:"mfaStatus,omitempty"`
	CreatedTime EpochTime `json:"createdTime,omitzero"`
	Issuer      string    `json:"issuer,omitempty"`
}

// ActorProcess is the process that acted (runtime monitoring); picket,
// reading logs, names none, but the shape is GuardDuty's.
type ActorProcess struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Sha256 string `json:"sha256,omitempty"`
}

// ResourceV2 is a resource a sequence touched.
type ResourceV2 struct {
	UID            string `json:"uid"`
	Name           string `json:"name,omitempty"`
	AccountID      string `json:"accountId,omitempty"`
	ResourceType   string `json:"resourceType"`
	Region         string `json:"region,omitempty"`
	Service        string `json:"service,omitempty"`
	CloudPartition string `json:"cloudPartition,omitempty"`
	Tags           []Tag  `json:"tags,omitempty"`
}

// The resource types of ResourceV2 picket writes.
const (
	ResourceV2AccessKey   = "ACCESS_KEY"
	ResourceV2EC2Instance = "EC2_INSTANCE"
)

// NetworkEndpoint is an address a sequence's actors acted from or
// reached.
type NetworkEndpoint struct {
	ID               string              `json:"id"`
	IP               string              `json:"ip,omitempty"`
	Domain           string              `json:"domain,omitempty"`
	Port             int32               `json:"port,omitempty"`
	Location         *NetworkGeoLocation `json:"location,omitempty"`
	AutonomousSystem *AutonomousSystem   `json:"autonomousSystem,omitempty"`
	Connection       *NetworkConnection  `json:"connection,omitempty"`
}

// NetworkGeoLocation is where an endpoint is.
type NetworkGeoLocation struct {
	City      string  `json:"city,omitempty"`
	Country   string  `json:"country,omitempty"`
	Latitude  float64 `json:"lat,omitempty"`
	Longitude float64 `json:"lon,omitempty"`
}

// AutonomousSystem is the network an endpoint belongs to.
type AutonomousSystem struct {
	Name   string `json:"name"`
	Number int32  `json:"number"`
}

// NetworkConnection is the direction of an endpoint's traffic.
type NetworkConnection struct {
	Direction string `json:"direction"`
}

// Indicator is one piece of evidence of a signal or sequence: a key
// (IndicatorAttackTactic, IndicatorHighRiskAPI, ...) and its values.
type Indicator struct {
	Key    string   `json:"key"`
	Values []string `json:"values,omitempty"`
	Title  string   `json:"title,omitempty"`
}

// The indicator keys picket writes.
const (
	IndicatorAttackTactic        = "ATTACK_TACTIC"
	IndicatorAttackTechnique     = "ATTACK_TECHNIQUE"
	IndicatorHighRiskAPI         = "HIGH_RISK_API"
	IndicatorSuspiciousUserAgent = "SUSPICIOUS_USER_AGENT"
	IndicatorSuspiciousNetwork   = "SUSPICIOUS_NETWORK"
	IndicatorMaliciousIP         = "MALICIOUS_IP"
	IndicatorTorIP               = "TOR_IP"
)

// EpochTime is a time written as seconds since the epoch, with
// milliseconds: the JSON of the timestamps of a sequence's signals, as
// GuardDuty's service model reads them.
type EpochTime struct{ time.Time }

// MarshalJSON writes the seconds since the epoch.
func (t EpochTime) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

// UnmarshalJSON reads seconds since the epoch.
func (t *EpochTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = EpochTime{}
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	t.Time = time.UnixMilli(int64(f*1000 + 0.5)).UTC()
	return nil
}

// clone returns a deep copy of s.
func (s *Sequence) clone() *Sequence {
	if s == nil {
		return nil
	}
	c := *s
	c.Actors = cloneEach(s.Actors, Actor.clone)
	c.Resources = cloneEach(s.Resources, func(r ResourceV2) ResourceV2 {
		r.Tags = slices.Clone(r.Tags)
		return r
	})
	c.Endpoints = cloneEach(s.Endpoints, NetworkEndpoint.clone)
	c.Signals = cloneEach(s.Signals, Signal.clone)
	c.SequenceIndicators = cloneEach(s.SequenceIndicators, Indicator.clone)
	c.AdditionalSequenceTypes = slices.Clone(s.AdditionalSequenceTypes)
	return &c
}

func (a Actor) clone() Actor {
	if a.User != nil {
		u := *a.User
		if u.Account != nil {
			acc := *u.Account
			u.Account = &acc
		}
		a.User = &u
	}
	if a.Session != nil {
		s := *a.Session
		a.Session = &s
	}
	if a.Process != nil {
		p := *a.Process
		a.Process = &p
	}
	return a
}

func (e NetworkEndpoint) clone() NetworkEndpoint {
	if e.Location != nil {
		l := *e.Location
		e.Location = &l
	}
	if e.AutonomousSystem != nil {
		as := *e.AutonomousSystem
		e.AutonomousSystem = &as
	}
	if e.Connection != nil {
		c := *e.Connection
		e.Connection = &c
	}
	return e
}

func (s Signal) clone() Signal {
	s.ResourceUIDs = slices.Clone(s.ResourceUIDs)
	s.ActorIDs = slices.Clone(s.ActorIDs)
	s.EndpointIDs = slices.Clone(s.EndpointIDs)
	s.SignalIndicators = cloneEach(s.SignalIndicators, Indicator.clone)
	return s
}

func (i Indicator) clone() Indicator {
	i.Values = slices.Clone(i.Values)
	return i
}

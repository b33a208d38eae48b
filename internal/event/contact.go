package event

import "net/netip"

// Outcome is how a contact between two endpoints went.
type Outcome uint8

// The outcomes, from worst to best for the initiator. Rejected, Unanswered
// and Refused are failures: the initiator reached nothing.
const (
	OutcomeUnknown     Outcome = iota
	OutcomeRejected            // blocked by a security group or network ACL
	OutcomeUnanswered          // the responder never answered
	OutcomeRefused             // the responder answered with a reset
	OutcomeEstablished         // a connection was set up, with little or no data
	OutcomeData                // data flowed both ways
)

var outcomeNames = [...]string{"unknown", "rejected", "unanswered", "refused", "established", "data"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Failed reports whether the initiator reached no service.
func (o Outcome) Failed() bool {
	return o == OutcomeRejected || o == OutcomeUnanswered || o == OutcomeRefused
}

// InitiatorBasis says how the initiator of a contact was told apart from
// the responder.
type InitiatorBasis uint8

// The bases, from most to least certain.
const (
	InitiatorUnknown InitiatorBasis = iota
	InitiatorSYN                    // one side sent SYN without ACK
	InitiatorOneWay                 // only one side sent anything
	InitiatorPorts                  // a service port faced an ephemeral one
)

// Half is what one side of a contact sent.
type Half struct {
	Packets  uint64
	Bytes    uint64
	Flags    uint8  // TCP flags seen, OR-ed
	Records  uint32 // flow records that made up this half
	Rejected bool   // some of this side's traffic was rejected
	HasFlags bool   // the records carried tcp-flags
}

// Contact is one conversation between an initiator and a responder as
// reconstructed from the flow records of one interface: both directions
// joined, and judged. It is a derived record: the engine's contact stage
// makes Contacts from Flows and dispatches them to detectors that
// subscribe to KindContact.
type Contact struct {
	Origin Origin // the earliest record of the conversation
	Latest Origin // the latest record

	Interface ID
	Account   ID
	Region    ID
	VPC       ID
	Subnet    ID
	Instance  ID
	ECS       ECS

	Protocol  uint8
	Initiator netip.Addr
	Responder netip.Addr
	IPort     uint16 // initiator's port
	RPort     uint16 // responder's port
	// Inbound is true when the remote side initiated: the interface was
	// contacted. When false, the interface's side initiated.
	Inbound bool
	// Local is the interface's address in the conversation, and PktLocal
	// the address the packets were actually sent to or from when it
	// differs (pkt-dstaddr of inbound traffic through a translation).
	Local    netip.Addr
	PktLocal netip.Addr

	Start Time
	End   Time

	Fwd Half // initiator to responder
	Rev Half // responder to initiator

	Outcome Outcome
	Basis   InitiatorBasis
	// Continued is true when the same conversation (the same addresses,
	// ports and protocol) was reported for the previous bucket too: this
	// contact is a later part of a longer connection, not a new one.
	Continued bool
}

// Kind returns KindContact.
func (c *Contact) Kind() Kind { return KindContact }

// Time returns the start of the conversation.
func (c *Contact) Time() Time { return c.Start }

// Source returns the earliest record of the conversation.
func (c *Contact) Source() Origin { return c.Origin }

// Remote returns the address of the side that is not the interface's.
func (c *Contact) Remote() netip.Addr {
	if c.Inbound {
		return c.Initiator
	}
	return c.Responder
}

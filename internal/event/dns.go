package event

import "net/netip"

// MaxAnswers bounds the answers a DNSQuery keeps; a response with more
// keeps the first MaxAnswers and counts the rest in DNSQuery.MoreAnswers.
const MaxAnswers = 8

// DNS record types a detector needs by name (IANA numbers).
const (
	DNSTypeA     uint16 = 1
	DNSTypeNS    uint16 = 2
	DNSTypeCNAME uint16 = 5
	DNSTypeSOA   uint16 = 6
	DNSTypeNULL  uint16 = 10
	DNSTypePTR   uint16 = 12
	DNSTypeMX    uint16 = 15
	DNSTypeTXT   uint16 = 16
	DNSTypeAAAA  uint16 = 28
	DNSTypeSRV   uint16 = 33
	DNSTypeANY   uint16 = 255
)

// DNS response codes (IANA numbers).
const (
	RCodeNoError  uint8 = 0
	RCodeFormErr  uint8 = 1
	RCodeServFail uint8 = 2
	RCodeNXDomain uint8 = 3
	RCodeNotImp   uint8 = 4
	RCodeRefused  uint8 = 5
	// RCodeUnknown marks a response code the record did not give.
	RCodeUnknown uint8 = 255
)

// DNSAnswer is one answer of a response: its type, and the address of an
// A or AAAA answer or the data of another (a name, text), borrowed as
// DNSQuery.Name is.
type DNSAnswer struct {
	Type  uint16
	Class uint16
	Addr  netip.Addr // A and AAAA answers
	Data  []byte     // other answers: the record data as the log writes it
}

// DNSQuery is one resolver query and its response, from a Route 53
// Resolver query log or a Zeek dns.log.
//
// Name and the Data of the answers are borrowed from the decoder's buffer
// and valid only until the decoder reads the next record; a detector that
// keeps a name copies it.
type DNSQuery struct {
	T      Time
	Origin Origin

	// Where the query came from.
	Account  ID
	Region   ID
	VPC      ID
	Instance ID         // the querying instance, when the log names it
	Src      netip.Addr // the address the query came from
	SrcPort  uint16
	Protocol uint8 // ProtoUDP or ProtoTCP; 0 when the log does not say
	// Resolver is the address the query was sent to (Zeek's responder;
	// Route 53 Resolver logs leave it unset: the VPC's resolver), and
	// ResolverEndpoint the Resolver inbound endpoint that took a query
	// from outside the VPC.
	Resolver         netip.Addr
	ResolverPort     uint16
	ResolverEndpoint ID

	// The question: the name in lower case without the final dot, its
	// type and class.
	Name   []byte
	QType  uint16
	QClass uint16

	// The response.
	RCode       uint8 // RCodeUnknown when not given
	Answers     [MaxAnswers]DNSAnswer
	NumAnswers  uint8
	MoreAnswers uint16 // answers beyond MaxAnswers

	// Route 53 Resolver DNS Firewall: the rule that matched, if any.
	FirewallRuleGroup  ID
	FirewallDomainList ID
	FirewallAction     ID // ALERT, BLOCK, ALLOW
}

// Kind returns KindDNSQuery.
func (q *DNSQuery) Kind() Kind { return KindDNSQuery }

// Time returns when the query was made.
func (q *DNSQuery) Time() Time { return q.T }

// Source returns where the record came from.
func (q *DNSQuery) Source() Origin { return q.Origin }

// AnswerList returns the answers kept.
func (q *DNSQuery) AnswerList() []DNSAnswer { return q.Answers[:q.NumAnswers] }

// Reset clears q for the next record, keeping nothing borrowed.
func (q *DNSQuery) Reset() { *q = DNSQuery{} }

// Clone returns a copy of q that owns its name and answer data, for
// keeping a query past the decoder's next read.
func (q *DNSQuery) Clone() *DNSQuery {
	c := *q
	n := len(q.Name)
	for i := range q.NumAnswers {
		n += len(q.Answers[i].Data)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, q.Name...)
	c.Name = buf[:len(q.Name):len(q.Name)]
	for i := range q.NumAnswers {
		if d := q.Answers[i].Data; d != nil {
			start := len(buf)
			buf = append(buf, d...)
			c.Answers[i].Data = buf[start:len(buf):len(buf)]
		}
	}
	return &c
}

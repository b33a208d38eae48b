package event

import (
	"net/netip"
)

// Action is what the security groups and network ACLs did with a flow.
type Action uint8

// The actions a flow record can carry.
const (
	ActionUnknown Action = iota
	Accept
	Reject
)

func (a Action) String() string {
	switch a {
	case Accept:
		return "ACCEPT"
	case Reject:
		return "REJECT"
	}
	return "-"
}

// Status is the logging status of a flow record.
type Status uint8

// The logging statuses. NoData means no traffic in the capture window;
// SkipData means records were skipped during the window (an internal
// capacity limit or error on the AWS side).
const (
	StatusUnknown Status = iota
	StatusOK
	StatusNoData
	StatusSkipData
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusNoData:
		return "NODATA"
	case StatusSkipData:
		return "SKIPDATA"
	}
	return "-"
}

// Direction is the direction of a flow relative to the network interface
// that recorded it: Inbound traffic arrives at the interface, Outbound
// traffic leaves it.
type Direction uint8

// The directions.
const (
	DirectionUnknown Direction = iota
	Inbound
	Outbound
)

func (d Direction) String() string {
	switch d {
	case Inbound:
		return "INBOUND"
	case Outbound:
		return "OUTBOUND"
	}
	return "UNKNOWN"
}

// DirectionBasis says how a flow's Direction was established.
type DirectionBasis uint8

// How a direction is known: from the record's flow-direction field, from a
// known address of the interface, from the private/public split of the two
// addresses, or not at all.
const (
	BasisNone DirectionBasis = iota
	BasisField
	BasisInterfaceAddress
	BasisAddressScope
)

func (b DirectionBasis) String() string {
	switch b {
	case BasisField:
		return "flow-direction field"
	case BasisInterfaceAddress:
		return "interface address"
	case BasisAddressScope:
		return "private/public address scope"
	}
	return "unknown"
}

// AddrType is the type of traffic in a flow record.
type AddrType uint8

// The traffic types.
const (
	AddrTypeUnknown AddrType = iota
	AddrIPv4
	AddrIPv6
	AddrEFA // Elastic Fabric Adapter traffic
)

func (t AddrType) String() string {
	switch t {
	case AddrIPv4:
		return "IPv4"
	case AddrIPv6:
		return "IPv6"
	case AddrEFA:
		return "EFA"
	}
	return "-"
}

// TCP flag bits as VPC Flow Logs report them: the bitwise OR of the flags
// seen in the aggregation window. SYN-ACK appears as SYN|ACK (18).
const (
	TCPFin uint8 = 1
	TCPSyn uint8 = 2
	TCPRst uint8 = 4
	TCPPsh uint8 = 8
	TCPAck uint8 = 16
	TCPUrg uint8 = 32
)

// IP protocol numbers that detectors name.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
)

// Has is a set of Flow fields whose value was present in the record. Fields
// whose zero value already means absent (addresses, IDs) need no bit.
type Has uint16

// The presence bits.
const (
	HasVersion Has = 1 << iota
	HasSrcPort
	HasDstPort
	HasProtocol
	HasPackets
	HasBytes
	HasStart
	HasEnd
	HasTCPFlags
	HasTrafficPath
	HasPacketsLost
)

// ECS identifies the Amazon ECS task behind a flow's interface.
type ECS struct {
	ClusterARN           ID
	ClusterName          ID
	ContainerInstanceARN ID
	ContainerInstanceID  ID
	ContainerID          ID
	SecondContainerID    ID
	ServiceName          ID
	TaskDefinitionARN    ID
	TaskARN              ID
	TaskID               ID
}

// TransitGateway holds the fields that only transit gateway flow logs carry.
type TransitGateway struct {
	ResourceType     ID
	ID               ID
	AttachmentID     ID
	SrcVPCAccountID  ID
	DstVPCAccountID  ID
	SrcVPCID         ID
	DstVPCID         ID
	SrcSubnetID      ID
	DstSubnetID      ID
	SrcENI           ID
	DstENI           ID
	SrcAZID          ID
	DstAZID          ID
	PairAttachmentID ID
	LostNoRoute      uint64
	LostBlackhole    uint64
	LostMTUExceeded  uint64
	LostTTLExpired   uint64
}

// Flow is one network flow record: the traffic between two endpoints, seen
// at one network interface, during one aggregation window.
//
// A Flow is a value that a decoder fills in place; a consumer that keeps
// one beyond the call that delivered it must copy it (a plain assignment is
// a complete copy: every field is a value).
type Flow struct {
	Origin Origin
	Has    Has

	Version   uint8
	Account   ID
	Interface ID
	Src, Dst  netip.Addr
	SrcPort   uint16
	DstPort   uint16
	Protocol  uint8
	Packets   uint64
	Bytes     uint64
	Start     Time // first packet of the flow within the window
	End       Time // last packet of the flow within the window
	Action    Action
	Status    Status

	VPC      ID
	Subnet   ID
	Instance ID
	TCPFlags uint8
	Type     AddrType
	PktSrc   netip.Addr // original source when srcaddr is an intermediate
	PktDst   netip.Addr // original destination when dstaddr is an intermediate

	Region          ID
	AZ              ID
	SublocationType ID
	SublocationID   ID

	PktSrcService ID // AWS service name of pkt-srcaddr's range, if any
	PktDstService ID
	TrafficPath   uint8 // egress path code, 1..8

	// Direction is the direction relative to the interface and Basis says
	// how it was established. A decoder sets both from the flow-direction
	// field when the record has one; otherwise Resolve infers them.
	Direction Direction
	Basis     DirectionBasis

	ECS          ECS
	RejectReason ID // BPA (block public access), EC (encryption controls)
	Resource     ID // resource-id: the regional NAT gateway when Interface is absent
	Encryption   ID // encryption-status, as recorded: 0, 1, 2 or 3

	Meta Metadata
	TGW  TransitGateway
}

// Metadata holds the version 11 fields: tag values chosen when the flow
// log was created, and the type and next hop of the capturing interface.
type Metadata struct {
	InstanceTag          ID
	InstanceTag2         ID
	InterfaceTag         ID
	InterfaceTag2        ID
	ASGTag               ID
	ASGTag2              ID
	InterfaceType        ID // nat_gateway, network_load_balancer, vpc_endpoint, ...
	NextHopInterface     ID
	NextHopSubnet        ID
	NextHopAZ            ID
	NextHopVPC           ID
	NextHopInterfaceType ID
}

// Kind returns KindFlow.
func (f *Flow) Kind() Kind { return KindFlow }

// Time returns the end of the flow, the moment the record describes.
func (f *Flow) Time() Time {
	if f.Has&HasEnd != 0 {
		return f.End
	}
	return f.Start
}

// Source returns where the record came from.
func (f *Flow) Source() Origin { return f.Origin }

// Reset clears f for reuse.
func (f *Flow) Reset() { *f = Flow{} }

// Local returns the address of the interface's side of the flow, and Remote
// the other side. Both are the zero Addr when the direction is unknown.
func (f *Flow) Local() netip.Addr {
	switch f.Direction {
	case Inbound:
		return f.Dst
	case Outbound:
		return f.Src
	}
	return netip.Addr{}
}

// Remote returns the address of the far side of the flow (see Local).
func (f *Flow) Remote() netip.Addr {
	switch f.Direction {
	case Inbound:
		return f.Src
	case Outbound:
		return f.Dst
	}
	return netip.Addr{}
}

// LocalPort and RemotePort are the ports on each side (see Local).
func (f *Flow) LocalPort() uint16 {
	if f.Direction == Outbound {
		return f.SrcPort
	}
	return f.DstPort
}

// RemotePort returns the port on the far side of the flow (see Local).
func (f *Flow) RemotePort() uint16 {
	if f.Direction == Outbound {
		return f.DstPort
	}
	return f.SrcPort
}

// HasData reports whether the record describes traffic: a NODATA or
// SKIPDATA record carries no flow.
func (f *Flow) HasData() bool {
	return f.Status != StatusNoData && f.Status != StatusSkipData && f.Src.IsValid() && f.Dst.IsValid()
}

var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// Internal reports whether a is an address that is not routable on the
// internet: private (RFC 1918, unique local IPv6), shared carrier-grade
// NAT space (RFC 6598), loopback or link-local.
func Internal(a netip.Addr) bool {
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || (a.Is4() && sharedSpace.Contains(a))
}

// Host reports whether a can be one host's address in a conversation:
// valid, not unspecified, not in 0.0.0.0/8 ("this network", which no
// packet may be sent to), not multicast, not the limited broadcast
// address. Traffic to such addresses reaches no one host, so it says
// nothing about who probes whom. The rest of the reserved 240.0.0.0/4 is
// left alone: some networks and anonymized captures use it for hosts.
func Host(a netip.Addr) bool {
	if a.Is4() || a.Is4In6() {
		b := a.As16()
		switch {
		case b[12] == 0, b[12] >= 224 && b[12] < 240: // 0/8, 224/4 multicast
			return false
		case b[12] == 255 && b[13] == 255 && b[14] == 255 && b[15] == 255:
			return false
		}
		return true
	}
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast()
}

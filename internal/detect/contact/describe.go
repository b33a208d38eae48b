package contact

import (
	"picket/internal/event"
	"picket/internal/finding"
)

// Describe renders a contact in one line for evidence samples, such as
// "198.51.100.7:40112 -> 10.0.1.15:22 TCP refused (2 pkts out / 1 back)".
// It reads only the fields Evidence keeps.
func Describe(c *event.Contact) string {
	return EvidenceOf(c).describe()
}

// Sample returns a contact as an evidence sample. A detector that keeps
// contacts as evidence of findings it may never make keeps their
// Evidence instead, and renders it when it makes one.
func Sample(c *event.Contact) finding.Sample {
	return EvidenceOf(c).Sample()
}

// NetworkPath explains how a contact reached or left the interface, for
// a finding's explanation.
func NetworkPath(c *event.Contact) []string {
	var out []string
	remote := c.Remote()
	if c.Inbound && !event.Internal(remote) && event.Internal(c.Local) {
		out = append(out, "the traffic came from the internet to a public address of interface "+c.Interface.String()+
			"; flow logs record the interface's private address "+c.Local.String()+" as the destination, because the public address is translated before the record is made")
	}
	if c.PktLocal.IsValid() && c.PktLocal != c.Local {
		out = append(out, "the packets were addressed to "+c.PktLocal.String()+" (pkt-dstaddr) and delivered through interface "+c.Interface.String())
	}
	if !c.ECS.TaskARN.IsZero() {
		out = append(out, "the interface belongs to ECS task "+c.ECS.TaskARN.String())
	}
	return out
}

// Connection returns the networkConnectionAction of a finding about one of
// a contact's ends: the initiator's when actor is true (the resource did
// it: OUTBOUND), the responder's otherwise (the resource was acted on:
// INBOUND). Local and remote are seen from that end. iface is the
// interface of the resource.
func Connection(c *event.Contact, actor bool, iface event.ID) *finding.NetworkConnectionAction {
	nc := &finding.NetworkConnectionAction{
		Protocol:              finding.Protocol(c.Protocol),
		LocalNetworkInterface: iface.String(),
		Blocked:               c.Outcome == event.OutcomeRejected,
	}
	if actor {
		nc.ConnectionDirection = finding.DirectionOutbound
		nc.LocalIPDetails, nc.LocalPortDetails = finding.LocalIP(c.Initiator), finding.Port(int(c.IPort))
		nc.RemoteIPDetails, nc.RemotePortDetails = finding.RemoteIP(c.Responder), finding.Port(int(c.RPort))
	} else {
		nc.ConnectionDirection = finding.DirectionInbound
		nc.LocalIPDetails, nc.LocalPortDetails = finding.LocalIP(c.Responder), finding.Port(int(c.RPort))
		nc.RemoteIPDetails, nc.RemotePortDetails = finding.RemoteIP(c.Initiator), finding.Port(int(c.IPort))
	}
	return nc
}

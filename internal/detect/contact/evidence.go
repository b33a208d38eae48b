package contact

import (
	"net/netip"
	"strconv"

	"picket/internal/event"
	"picket/internal/finding"
)

// Evidence is a contact kept as evidence: the fields of the contact that
// its finding.Sample shows, not the sample's text, which Sample makes
// only when a finding is. Detectors that keep the first contacts of many
// hosts, targets or ports, few of which are ever in a finding, keep
// these: making the text of each as it came (three strings, built from
// more) was, in the port probe detector, 71% of the allocations of
// picket analyze over the dense estate (BenchmarkAnalyzeDense in
// internal/app), and most of the scan tracker's (BenchmarkScanDetectorsState
// in internal/detect/all: 529,000 allocations for 500,000 contacts with
// the text, 224,000 without). It takes less room too: 104 bytes against
// about 180 with the text.
//
// Fields are exported for saving state, and their names are that state's:
// gob matches fields by name, so renaming one drops what saved states
// hold of it.
type Evidence struct {
	Origin                 event.Origin
	Start                  event.Time
	Initiator, Responder   netip.Addr
	FwdPackets, RevPackets uint64
	IPort, RPort           uint16
	Protocol               uint8
	Outcome                event.Outcome
	FwdFlags, RevFlags     uint8
	HasFlags               bool // either half carried tcp-flags
}

// EvidenceOf returns the evidence of a contact.
func EvidenceOf(c *event.Contact) Evidence {
	return Evidence{
		Origin: c.Origin, Start: c.Start, Initiator: c.Initiator, Responder: c.Responder,
		FwdPackets: c.Fwd.Packets, RevPackets: c.Rev.Packets, IPort: c.IPort, RPort: c.RPort,
		Protocol: c.Protocol, Outcome: c.Outcome, FwdFlags: c.Fwd.Flags, RevFlags: c.Rev.Flags,
		HasFlags: c.Fwd.HasFlags || c.Rev.HasFlags,
	}
}

// Sample renders the evidence as a finding's sample, as Sample renders
// the contact it was taken from.
func (e Evidence) Sample() finding.Sample {
	return finding.Sample{
		Origin: e.Origin.String(),
		Time:   e.Start.String(),
		Record: e.describe(),
	}
}

// Samples renders evidence as a finding's samples: nil for none.
func Samples(evidence []Evidence) []finding.Sample {
	if len(evidence) == 0 {
		return nil
	}
	out := make([]finding.Sample, len(evidence))
	for i := range evidence {
		out[i] = evidence[i].Sample()
	}
	return out
}

// describe is Describe's text.
func (e Evidence) describe() string {
	b := make([]byte, 0, 96)
	b = appendEndpoint(b, e.Initiator, e.IPort)
	b = append(b, " -> "...)
	b = appendEndpoint(b, e.Responder, e.RPort)
	b = append(b, ' ')
	b = append(b, finding.Protocol(e.Protocol)...)
	b = append(b, ' ')
	b = append(b, e.Outcome.String()...)
	b = append(b, " ("...)
	b = strconv.AppendUint(b, e.FwdPackets, 10)
	b = append(b, " pkts out / "...)
	b = strconv.AppendUint(b, e.RevPackets, 10)
	b = append(b, " back"...)
	if e.HasFlags {
		b = append(b, ", flags "...)
		b = strconv.AppendUint(b, uint64(e.FwdFlags), 10)
		b = append(b, '/')
		b = strconv.AppendUint(b, uint64(e.RevFlags), 10)
	}
	b = append(b, ')')
	return string(b)
}

func appendEndpoint(b []byte, a netip.Addr, port uint16) []byte {
	s := a.String()
	if len(s) > 0 && containsColon(s) {
		b = append(b, '[')
		b = append(b, s...)
		b = append(b, ']')
	} else {
		b = append(b, s...)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(port), 10)
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}

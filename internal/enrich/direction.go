// Package enrich attaches context to records between decoding and
// detection: the direction of a flow relative to its interface (learned
// from the records themselves), and what the user's geolocation and AS
// databases and AWS's ip ranges say about an API caller's address
// (OpenIPInfos loads them; IPInfos looks addresses up).
//
// It may import event, lru and the packages whose data it attaches; the
// detectors read what it filled in and never call it.
package enrich

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"net/netip"

	"picket/internal/event"
	"picket/internal/lru"
)

// maxLearned is how many addresses Directions remembers per interface: the
// primary private address, secondary ones, and an IPv6 address or two.
const maxLearned = 4

type ifaceAddrs struct {
	Account event.ID
	Addrs   [maxLearned]netip.Addr
	N       uint8 // addresses learned; the slot to replace next is n % maxLearned
	PendSrc netip.Addr
	PendDst netip.Addr
}

func (a *ifaceAddrs) has(x netip.Addr) bool {
	for i := 0; i < int(min(a.N, maxLearned)); i++ {
		if a.Addrs[i] == x {
			return true
		}
	}
	return false
}

func (a *ifaceAddrs) learn(x netip.Addr) {
	if !x.IsValid() || a.has(x) {
		return
	}
	a.Addrs[a.N%maxLearned] = x
	a.N++
	if a.N == 2*maxLearned {
		a.N = maxLearned // keep the counter small; slot order is all it encodes
	}
}

// Directions sets the direction of flows that lack a flow-direction field.
// A flow log records traffic at one network interface, so one of the two
// addresses of every record is the interface's own (for traffic sent to a
// public or Elastic IP, the interface's private address, since the
// translation happens before the record is made). Directions learns each
// interface's addresses from records whose direction is certain, and
// decides the others by them:
//
//  1. the flow-direction field, when present, decides (and teaches);
//  2. else an address already known to be the interface's decides;
//  3. else, if exactly one side is a private or shared address (RFC 1918,
//     RFC 6598, unique local IPv6, link-local), that side is the
//     interface's (and is learned);
//  4. else an address known to belong to another interface of the same
//     account is the remote side: an address has one owner, so two
//     instances that only talk to each other teach each other as soon as
//     one of them is known (an address that two interfaces claimed, as a
//     NAT gateway's interface claims the instances behind it, decides
//     nothing);
//  5. else a rejected record is inbound: security groups are stateful and
//     allow all egress unless told otherwise, so what they reject is
//     traffic arriving at the interface;
//  6. else, for two private or two public addresses, the first such
//     record is held as a candidate pair; the address it shares with the
//     next one is learned as the interface's.
//
// A flow that none of these decides keeps DirectionUnknown.
//
// State is one small entry per interface and one per learned address in
// bounded tables; evictions are counted.
type Directions struct {
	ifaces *lru.Table[event.ID, ifaceAddrs]
	owners *lru.Table[owned, event.ID] // interface that owns each learned address
	counts [4]uint64                   // by basis
}

// owned is an address within an account: accounts reuse private ranges,
// so the same address may belong to one interface in each.
type owned struct {
	Account event.ID
	Addr    netip.Addr
}

// NewDirections returns a resolver that remembers the addresses of up to
// maxInterfaces interfaces.
func NewDirections(maxInterfaces int) *Directions {
	return &Directions{
		ifaces: lru.New[event.ID, ifaceAddrs](maxInterfaces, nil),
		owners: lru.New[owned, event.ID](maxInterfaces*maxLearned, nil),
	}
}

// learn records x as an address of the interface of f.
//
// Only certain knowledge (a flow-direction field, a rejected record, an
// inventory) makes x the interface's as other interfaces see it: the
// private/public split and pairing are guesses, and wrong on a NAT
// gateway's interface, which records the private addresses of the
// instances behind it talking to the internet.
func (d *Directions) learn(st *ifaceAddrs, f *event.Flow, x netip.Addr, certain bool) {
	st.learn(x)
	if !certain || f.Interface.IsZero() || !x.IsValid() {
		return
	}
	st.Account = f.Account
	d.own(f.Account, x, f.Interface)
}

// shared marks an address that more than one interface has claimed: a
// NAT gateway's interface records the private addresses of the instances
// behind it, and an address may move. It decides nothing.
var shared = event.Intern("(shared address)")

// own records that interface iface claims address x.
func (d *Directions) own(account event.ID, x netip.Addr, iface event.ID) {
	o, created := d.owners.Put(owned{account, x})
	if created || *o == iface {
		*o = iface
		return
	}
	*o = shared
}

// Learn records addr as an address of interface iface of account, as an
// inventory tells it: records of the interface are then decided by it, and
// records of other interfaces that name it are decided too (rules 2 and 3).
// Without it, a version 2 record between two private hosts that talk to
// no one else says nothing of which side is the interface's.
func (d *Directions) Learn(account, iface event.ID, addr netip.Addr) {
	if iface.IsZero() || !addr.IsValid() {
		return
	}
	st, _ := d.ifaces.Put(iface)
	d.learn(st, &event.Flow{Account: account, Interface: iface}, addr.Unmap(), true)
}

// elsewhere reports whether x is known to be an address of an interface
// other than f's.
func (d *Directions) elsewhere(f *event.Flow, x netip.Addr) bool {
	o := d.owners.Peek(owned{f.Account, x})
	return o != nil && *o != f.Interface && *o != shared
}

// Resolve sets f.Direction and f.Basis if they are not set.
func (d *Directions) Resolve(f *event.Flow) {
	if !f.Src.IsValid() || !f.Dst.IsValid() {
		return
	}
	if f.Basis == event.BasisField {
		if !f.Interface.IsZero() {
			st, _ := d.ifaces.Put(f.Interface)
			if f.Direction == event.Inbound {
				d.learn(st, f, f.Dst, true)
			} else {
				d.learn(st, f, f.Src, true)
			}
		}
		d.counts[event.BasisField]++
		return
	}
	var st *ifaceAddrs
	if !f.Interface.IsZero() {
		st, _ = d.ifaces.Put(f.Interface)
	} else {
		st = &ifaceAddrs{} // no interface: decide by scope alone
	}
	switch {
	case st.has(f.Src):
		f.Direction, f.Basis = event.Outbound, event.BasisInterfaceAddress
	case st.has(f.Dst):
		f.Direction, f.Basis = event.Inbound, event.BasisInterfaceAddress
	default:
		ps, pd := event.Internal(f.Src), event.Internal(f.Dst)
		switch {
		case ps && !pd:
			f.Direction, f.Basis = event.Outbound, event.BasisAddressScope
			d.learn(st, f, f.Src, false)
		case pd && !ps:
			f.Direction, f.Basis = event.Inbound, event.BasisAddressScope
			d.learn(st, f, f.Dst, false)
		case !f.Interface.IsZero() && d.elsewhere(f, f.Src) && !d.elsewhere(f, f.Dst):
			f.Direction, f.Basis = event.Inbound, event.BasisInterfaceAddress
			d.learn(st, f, f.Dst, false)
		case !f.Interface.IsZero() && d.elsewhere(f, f.Dst) && !d.elsewhere(f, f.Src):
			f.Direction, f.Basis = event.Outbound, event.BasisInterfaceAddress
			d.learn(st, f, f.Src, false)
		case f.Action == event.Reject:
			f.Direction, f.Basis = event.Inbound, event.BasisInterfaceAddress
			d.learn(st, f, f.Dst, true)
		default:
			d.pair(st, f)
		}
	}
	d.counts[f.Basis]++
}

// pair decides a flow between two private (or two public) addresses from
// the address it shares with the interface's previous such flow.
func (d *Directions) pair(st *ifaceAddrs, f *event.Flow) {
	var shared netip.Addr
	switch {
	case !st.PendSrc.IsValid():
		st.PendSrc, st.PendDst = f.Src, f.Dst
		return
	case f.Src == st.PendSrc || f.Src == st.PendDst:
		if f.Dst != st.PendSrc && f.Dst != st.PendDst {
			shared = f.Src
		}
	case f.Dst == st.PendSrc || f.Dst == st.PendDst:
		shared = f.Dst
	}
	if !shared.IsValid() {
		st.PendSrc, st.PendDst = f.Src, f.Dst
		return
	}
	d.learn(st, f, shared, false)
	st.PendSrc, st.PendDst = netip.Addr{}, netip.Addr{}
	if shared == f.Src {
		f.Direction, f.Basis = event.Outbound, event.BasisInterfaceAddress
	} else {
		f.Direction, f.Basis = event.Inbound, event.BasisInterfaceAddress
	}
}

// DirectionStats counts flows by how their direction was established, and
// the interfaces forgotten to stay within the bound.
type DirectionStats struct {
	Field, InterfaceAddress, AddressScope, Unknown uint64
	Interfaces                                     int
	Evicted                                        uint64
}

// Stats returns the counts so far.
func (d *Directions) Stats() DirectionStats {
	return DirectionStats{
		Field:            d.counts[event.BasisField],
		InterfaceAddress: d.counts[event.BasisInterfaceAddress],
		AddressScope:     d.counts[event.BasisAddressScope],
		Unknown:          d.counts[event.BasisNone],
		Interfaces:       d.ifaces.Len(),
		Evicted:          d.ifaces.Evicted() + d.owners.Evicted(),
	}
}

type directionsState struct {
	Interfaces lru.Snapshot[event.ID, ifaceAddrs]
	Owners     lru.Snapshot[owned, event.ID]
	Counts     [4]uint64
}

// MarshalState saves the learned addresses of every interface.
func (d *Directions) MarshalState() ([]byte, error) {
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(directionsState{Interfaces: d.ifaces.Snapshot(), Owners: d.owners.Snapshot(), Counts: d.counts})
	return buf.Bytes(), err
}

// UnmarshalState restores them.
func (d *Directions) UnmarshalState(b []byte) error {
	var st directionsState
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil {
		return fmt.Errorf("decoding direction state: %w", err)
	}
	d.ifaces.Restore(st.Interfaces)
	d.counts = st.Counts
	d.owners.Restore(st.Owners)
	if d.owners.Len() == 0 {
		// State saved before owners were: they follow from the
		// interfaces' addresses.
		d.ifaces.All(func(id event.ID, a *ifaceAddrs) bool {
			for _, x := range a.Addrs[:min(a.N, maxLearned)] {
				d.own(a.Account, x, id)
			}
			return true
		})
	}
	return nil
}

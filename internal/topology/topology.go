// Package topology owns the description of a small VPC that captures are
// taken in: its account, region and VPC, and each network interface with
// its addresses and the security group rules that filter its traffic. The
// flow meter reads it to record packets as VPC Flow Logs would (which
// interface, ACCEPT or REJECT); the capture lab writes the same file.
//
// The file is JSON, decoded strictly (unknown keys are errors), and one
// validation pass reports every problem at once. The package depends on
// the standard library only and may be imported by any package.
package topology

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// Topology is a VPC and the network interfaces whose traffic is recorded.
type Topology struct {
	Account    string
	Region     string
	VPC        string
	Interfaces []Interface
}

// Interface is one network interface: who it belongs to, its private
// addresses, and its security group rules.
type Interface struct {
	ID       string // eni-...
	Instance string // i-..., empty when the interface has no instance
	Subnet   string
	Type     string // the flow log interface type: interface, nat_gateway, network_load_balancer, ...
	Name     string // a short name for people and file names, such as web1
	// Addresses are the interface's private addresses: packets to them
	// are ingress, packets from them egress.
	Addresses []netip.Addr
	// Public addresses are informational: they are translated to the
	// private ones before packets reach the interface.
	Public []netip.Addr
	// Ingress and Egress are the security group rules of each direction.
	// Nil allows everything; an empty, non-nil list denies everything.
	Ingress []Rule
	Egress  []Rule
}

// Rule allows the traffic of one protocol, port range and address range.
type Rule struct {
	// Proto is the IP protocol number, or ProtoAll.
	Proto uint8
	// All is true for "proto": "all".
	All bool
	// FromPort and ToPort bound the port (the destination port of the
	// packet that opens the connection), inclusive. For ICMP they bound
	// the type. Absent ports (or -1 for both, as AWS writes "all ICMP
	// types") mean every port: 0 to 65535.
	FromPort, ToPort uint16
	// CIDR is the remote address range: the source of ingress traffic,
	// the destination of egress traffic. 0.0.0.0/0 matches IPv4 only and
	// ::/0 IPv6 only, as in AWS.
	CIDR netip.Prefix
}

// Matches reports whether the rule allows a packet of protocol proto to
// port (for ICMP: of that type) whose remote address is remote.
func (r *Rule) Matches(proto uint8, port uint16, remote netip.Addr) bool {
	if !r.All && r.Proto != proto {
		return false
	}
	if port < r.FromPort || port > r.ToPort {
		return false
	}
	return r.CIDR.Contains(remote)
}

// Allows reports whether any rule of rules allows the packet (see
// Rule.Matches); nil rules allow everything.
func Allows(rules []Rule, proto uint8, port uint16, remote netip.Addr) bool {
	if rules == nil {
		return true
	}
	for i := range rules {
		if rules[i].Matches(proto, port, remote) {
			return true
		}
	}
	return false
}

// The wire shape of the file.
type fileTopology struct {
	Account    string          `json:"account"`
	Region     string          `json:"region"`
	VPC        string          `json:"vpc"`
	Interfaces []fileInterface `json:"interfaces"`
}

type fileInterface struct {
	ID        string      `json:"id"`
	Instance  string      `json:"instance"`
	Subnet    string      `json:"subnet"`
	Type      string      `json:"type"`
	Name      string      `json:"name"`
	Addresses []string    `json:"addresses"`
	Public    []string    `json:"public"`
	Ingress   *[]fileRule `json:"ingress"`
	Egress    *[]fileRule `json:"egress"`
}

type fileRule struct {
	Proto    string `json:"proto"`
	FromPort *int   `json:"from_port"`
	ToPort   *int   `json:"to_port"`
	CIDR     string `json:"cidr"`
}

// Load reads and validates the topology file at path.
func Load(path string) (*Topology, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading topology: %w", err)
	}
	t, err := Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("topology %s: %w", path, err)
	}
	return t, nil
}

// Decode reads a topology from r: strict JSON (unknown keys and trailing
// data are errors), then one validation pass whose error lists every
// problem found.
func Decode(r io.Reader) (*Topology, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var ft fileTopology
	if err := dec.Decode(&ft); err != nil {
		return nil, fmt.Errorf("decoding topology: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decoding topology: data after the topology object")
	}
	return ft.convert()
}

// problems collects validation errors.
type problems []error

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Errorf(format, args...)) }

func (ft *fileTopology) convert() (*Topology, error) {
	var errs problems
	t := &Topology{Account: ft.Account, Region: ft.Region, VPC: ft.VPC}
	if ft.Account != "" && (len(ft.Account) != 12 || strings.Trim(ft.Account, "0123456789") != "") {
		errs.add("account %q: want 12 digits", ft.Account)
	}
	if ft.VPC != "" && !strings.HasPrefix(ft.VPC, "vpc-") {
		errs.add("vpc %q: want vpc-...", ft.VPC)
	}
	if len(ft.Interfaces) == 0 {
		errs.add("interfaces: none given")
	}
	ids := map[string]int{}
	owner := map[netip.Addr]int{}
	for i := range ft.Interfaces {
		fi := &ft.Interfaces[i]
		where := fmt.Sprintf("interfaces[%d]", i)
		if fi.ID != "" {
			where += " (" + fi.ID + ")"
		}
		in := Interface{ID: fi.ID, Instance: fi.Instance, Subnet: fi.Subnet, Type: fi.Type, Name: fi.Name}
		switch {
		case fi.ID == "":
			errs.add("%s: id: missing", where)
		case !strings.HasPrefix(fi.ID, "eni-") || strings.ContainsAny(fi.ID, " \t\r\n"):
			errs.add("%s: id %q: want eni-...", where, fi.ID)
		default:
			if j, dup := ids[fi.ID]; dup {
				errs.add("%s: id %q: already used by interfaces[%d]", where, fi.ID, j)
			}
			ids[fi.ID] = i
		}
		if fi.Instance != "" && !strings.HasPrefix(fi.Instance, "i-") {
			errs.add("%s: instance %q: want i-...", where, fi.Instance)
		}
		if fi.Subnet != "" && !strings.HasPrefix(fi.Subnet, "subnet-") {
			errs.add("%s: subnet %q: want subnet-...", where, fi.Subnet)
		}
		if strings.ContainsAny(fi.Type+fi.Name, " \t\r\n") {
			errs.add("%s: type and name may not contain spaces", where)
		}
		if in.Type == "" {
			in.Type = "interface"
		}
		if len(fi.Addresses) == 0 {
			errs.add("%s: addresses: none given", where)
		}
		for k, s := range fi.Addresses {
			a, err := netip.ParseAddr(s)
			if err != nil {
				errs.add("%s: addresses[%d] %q: not an IP address", where, k, s)
				continue
			}
			a = a.Unmap()
			if j, dup := owner[a]; dup {
				errs.add("%s: addresses[%d] %s: already an address of interfaces[%d]", where, k, a, j)
				continue
			}
			owner[a] = i
			in.Addresses = append(in.Addresses, a)
		}
		for k, s := range fi.Public {
			a, err := netip.ParseAddr(s)
			if err != nil {
				errs.add("%s: public[%d] %q: not an IP address", where, k, s)
				continue
			}
			in.Public = append(in.Public, a.Unmap())
		}
		in.Ingress = convertRules(fi.Ingress, where+": ingress", &errs)
		in.Egress = convertRules(fi.Egress, where+": egress", &errs)
		t.Interfaces = append(t.Interfaces, in)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid topology: %w", errors.Join(errs...))
	}
	return t, nil
}

// protocols names the values of a rule's proto.
var protocols = map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}

func convertRules(in *[]fileRule, where string, errs *problems) []Rule {
	if in == nil {
		return nil
	}
	out := make([]Rule, 0, len(*in))
	for k, fr := range *in {
		at := fmt.Sprintf("%s[%d]", where, k)
		r := Rule{FromPort: 0, ToPort: 65535}
		ok := true
		if fr.Proto == "all" || fr.Proto == "-1" {
			r.All = true
		} else if p, known := protocols[fr.Proto]; known {
			r.Proto = p
		} else {
			errs.add("%s: proto %q: want tcp, udp, icmp, icmpv6 or all", at, fr.Proto)
			ok = false
		}
		if fr.FromPort != nil || fr.ToPort != nil {
			if r.All {
				errs.add("%s: ports given for proto all", at)
				ok = false
			}
			from, to := fr.FromPort, fr.ToPort
			if from == nil {
				from = to
			}
			if to == nil {
				to = from
			}
			switch {
			case *from == -1 && *to == -1:
				// AWS's "all types" for ICMP.
			case *from < 0 || *from > 65535 || *to < 0 || *to > 65535:
				errs.add("%s: ports %d-%d: want 0 to 65535", at, *from, *to)
				ok = false
			case *from > *to:
				errs.add("%s: from_port %d is above to_port %d", at, *from, *to)
				ok = false
			default:
				r.FromPort, r.ToPort = uint16(*from), uint16(*to)
			}
		}
		p, err := netip.ParsePrefix(fr.CIDR)
		switch {
		case fr.CIDR == "":
			errs.add("%s: cidr: missing", at)
			ok = false
		case err != nil:
			errs.add("%s: cidr %q: not a CIDR block", at, fr.CIDR)
			ok = false
		default:
			r.CIDR = p.Masked()
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// Lookup returns the index of the interface that has address a, or -1.
// It is linear; callers that look up per packet build a map once.
func (t *Topology) Lookup(a netip.Addr) int {
	for i := range t.Interfaces {
		for _, b := range t.Interfaces[i].Addresses {
			if a == b {
				return i
			}
		}
	}
	return -1
}

// Match returns the ID of the interface that a capture or log called
// name was taken on: the interface whose ID, or else whose name, appears
// in name as a whole word (delimited by anything but letters and digits);
// the longest such match wins. It returns "" when none does.
// The capture lab names its files after the interfaces (web1.pcap,
// eni-0a00000000000010.pcapng), so each capture records only its own
// interface's side of the traffic, as a flow log would.
func (t *Topology) Match(name string) string {
	best, bestLen := "", 0
	for i := range t.Interfaces {
		in := &t.Interfaces[i]
		for _, w := range []string{in.ID, in.Name} {
			if len(w) > bestLen && containsWord(name, w) {
				best, bestLen = in.ID, len(w)
			}
		}
	}
	return best
}

func containsWord(s, w string) bool {
	if w == "" {
		return false
	}
	for i := 0; i+len(w) <= len(s); {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(w)
		if (j == 0 || !wordByte(s[j-1])) && (end == len(s) || !wordByte(s[end])) {
			return true
		}
		i = j + 1
	}
	return false
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

package scenario

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"picket/internal/event"
	"picket/internal/synth"
)

// Conn is one connection of a Zeek conn.log, with its ground-truth label.
type Conn struct {
	Line       int
	TS         float64 // start, Unix seconds
	Duration   float64
	Orig, Resp netip.Addr
	OrigPort   uint16
	RespPort   uint16
	Proto      uint8
	State      string // conn_state: S0, REJ, SF, RSTO ...
	History    string
	OrigPkts   uint64
	OrigBytes  uint64 // IP-level bytes (orig_ip_bytes)
	RespPkts   uint64
	RespBytes  uint64
	LocalOrig  string // "T", "F" or "" when unset
	LocalResp  string
	Label      string // label/detailedlabel, or "" when the log has none
}

// ReadZeekConn reads a conn.log in Zeek's TSV format (with its #fields
// header) or as JSON lines, gzip-compressed or not.
func ReadZeekConn(r io.Reader) ([]Conn, error) {
	br := bufio.NewReader(r)
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var fields []string
	var out []Conn
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "#fields"):
			fields = strings.Split(line, "\t")[1:]
			continue
		case strings.HasPrefix(line, "#"):
			continue
		}
		var rec map[string]string
		if line[0] == '{' {
			var raw map[string]any
			if err := json.Unmarshal([]byte(line), &raw); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			rec = map[string]string{}
			for k, v := range raw {
				switch v := v.(type) {
				case string:
					rec[k] = v
				case float64:
					rec[k] = strconv.FormatFloat(v, 'f', -1, 64)
				case bool:
					rec[k] = map[bool]string{true: "T", false: "F"}[v]
				}
			}
		} else {
			if fields == nil {
				return nil, fmt.Errorf("line %d: a record before the #fields header", n)
			}
			vals := strings.Split(line, "\t")
			rec = make(map[string]string, len(fields))
			for i, f := range fields {
				if i < len(vals) && vals[i] != "-" && vals[i] != "(empty)" {
					rec[f] = vals[i]
				}
			}
		}
		c, err := connOf(rec)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		c.Line = n
		out = append(out, c)
	}
	return out, sc.Err()
}

func connOf(rec map[string]string) (Conn, error) {
	var c Conn
	var err error
	num := func(k string) uint64 {
		v, e := strconv.ParseUint(rec[k], 10, 64)
		if e != nil && rec[k] != "" && err == nil {
			err = fmt.Errorf("%s=%q: %w", k, rec[k], e)
		}
		return v
	}
	if c.TS, err = strconv.ParseFloat(rec["ts"], 64); err != nil {
		return c, fmt.Errorf("ts=%q: %w", rec["ts"], err)
	}
	if d := rec["duration"]; d != "" {
		if c.Duration, err = strconv.ParseFloat(d, 64); err != nil {
			return c, fmt.Errorf("duration=%q: %w", d, err)
		}
	}
	if c.Orig, err = netip.ParseAddr(rec["id.orig_h"]); err != nil {
		return c, err
	}
	if c.Resp, err = netip.ParseAddr(rec["id.resp_h"]); err != nil {
		return c, err
	}
	c.Orig, c.Resp = c.Orig.Unmap(), c.Resp.Unmap()
	c.OrigPort, c.RespPort = uint16(num("id.orig_p")), uint16(num("id.resp_p"))
	switch rec["proto"] {
	case "tcp":
		c.Proto = event.ProtoTCP
	case "udp":
		c.Proto = event.ProtoUDP
	case "icmp":
		c.Proto = event.ProtoICMP
		if c.Orig.Is6() {
			c.Proto = event.ProtoICMPv6
		}
	default:
		return c, fmt.Errorf("proto=%q", rec["proto"])
	}
	c.State, c.History = rec["conn_state"], rec["history"]
	c.OrigPkts, c.OrigBytes = num("orig_pkts"), num("orig_ip_bytes")
	c.RespPkts, c.RespBytes = num("resp_pkts"), num("resp_ip_bytes")
	c.LocalOrig, c.LocalResp = rec["local_orig"], rec["local_resp"]
	label := rec["label"]
	if d := cmp.Or(rec["detailedlabel"], rec["detailed-label"], rec["detailed_label"]); d != "" {
		label += "/" + d
	}
	c.Label = label
	return c, err
}

// flags returns the TCP flags each side sent, as flow logs report them
// (FIN 1, SYN 2, RST 4, SYN-ACK 18), from Zeek's history (upper case: the
// originator; lower case: the responder), else from the connection state.
func (c *Conn) flags() (orig, resp uint8) {
	if c.Proto != event.ProtoTCP {
		return 0, 0
	}
	if h := c.History; h != "" {
		for _, ch := range h {
			switch ch {
			case 'S':
				orig |= event.TCPSyn
			case 'H':
				orig |= event.TCPSyn | event.TCPAck
			case 'F':
				orig |= event.TCPFin
			case 'R':
				orig |= event.TCPRst
			case 's':
				resp |= event.TCPSyn
			case 'h':
				resp |= event.TCPSyn | event.TCPAck
			case 'f':
				resp |= event.TCPFin
			case 'r':
				resp |= event.TCPRst
			}
		}
		return orig, resp
	}
	switch c.State {
	case "S0", "S1", "SH":
		orig = event.TCPSyn
	case "REJ":
		orig, resp = event.TCPSyn, event.TCPRst
	case "SF":
		orig, resp = event.TCPSyn|event.TCPFin, event.TCPSyn|event.TCPAck|event.TCPFin
	case "RSTO":
		orig, resp = event.TCPSyn|event.TCPRst, event.TCPSyn|event.TCPAck
	case "RSTR":
		orig, resp = event.TCPSyn, event.TCPSyn|event.TCPAck|event.TCPRst
	}
	if c.State == "S1" {
		resp = event.TCPSyn | event.TCPAck
	}
	return orig, resp
}

// answered reports whether the responder of a TCP connection answered
// its SYN with a SYN-ACK: the port was open.
func (c *Conn) answered() bool {
	if c.Proto != event.ProtoTCP {
		return false
	}
	_, resp := c.flags()
	return resp&(event.TCPSyn|event.TCPAck) == event.TCPSyn|event.TCPAck
}

// local reports whether each side is a host of the monitored network: as
// Zeek's local_orig and local_resp say, else by the address being private.
func (c *Conn) local() (orig, resp bool) {
	orig, resp = c.Orig.IsPrivate(), c.Resp.IsPrivate()
	if c.LocalOrig != "" {
		orig = c.LocalOrig == "T"
	}
	if c.LocalResp != "" {
		resp = c.LocalResp == "T"
	}
	return orig, resp
}

// ZeekConverter turns connections into flow log records. Every local
// host becomes an interface of its own (with an instance), and each
// connection yields, on the interface of each local end, the records of
// its two directions, split at one-minute aggregation windows as Nitro
// interfaces record them. Zeek sees no security groups: every record is
// ACCEPT, and the outcome of a connection shows in its packets and flags
// (S0: nothing back; REJ: a reset back; SF: data both ways).
type ZeekConverter struct {
	ifaces  map[netip.Addr]*synth.Interface
	Skipped int // connections with no local end
}

// Interface returns the interface standing for a local address.
func (z *ZeekConverter) Interface(a netip.Addr) *synth.Interface {
	if z.ifaces == nil {
		z.ifaces = map[netip.Addr]*synth.Interface{}
	}
	if i := z.ifaces[a]; i != nil {
		return i
	}
	b := a.As16()
	var h uint64 = 14695981039346656037
	for _, x := range b {
		h ^= uint64(x)
		h *= 1099511628211
	}
	id := fmt.Sprintf("%017x", h)[:17]
	i := &synth.Interface{ID: "eni-" + id, Instance: "i-" + id, Role: synth.RoleApp, Private: a,
		Subnet: "subnet-0zeek000000000000", VPC: "vpc-0zeek000000000000", AZ: "use1-az1"}
	z.ifaces[a] = i
	return i
}

// Records converts connections, in the order flow log files deliver them.
func (z *ZeekConverter) Records(conns []Conn) []synth.Record {
	var out []synth.Record
	for i := range conns {
		c := &conns[i]
		lo, lr := c.local()
		if !lo && !lr {
			z.Skipped++
			continue
		}
		of, rf := c.flags()
		start := int64(math.Floor(c.TS))
		end := int64(math.Floor(c.TS + c.Duration))
		fwd := synth.Record{Src: c.Orig, Dst: c.Resp, SrcPort: c.OrigPort, DstPort: c.RespPort, Proto: c.Proto,
			Packets: c.OrigPkts, Bytes: c.OrigBytes, Flags: of}
		rev := synth.Record{Src: c.Resp, Dst: c.Orig, SrcPort: c.RespPort, DstPort: c.OrigPort, Proto: c.Proto,
			Packets: c.RespPkts, Bytes: c.RespBytes, Flags: rf}
		if c.Proto == event.ProtoICMP || c.Proto == event.ProtoICMPv6 {
			// Zeek keeps ICMP type and code in the port fields; flow logs
			// have no ports for ICMP.
			fwd.SrcPort, fwd.DstPort, rev.SrcPort, rev.DstPort = 0, 0, 0, 0
		}
		if lo {
			ifc := z.Interface(c.Orig)
			out = split(out, fwd, ifc, true, start, end, lr)
			out = split(out, rev, ifc, false, start, end, lr)
		}
		if lr {
			ifc := z.Interface(c.Resp)
			out = split(out, fwd, ifc, false, start, end, lo)
			out = split(out, rev, ifc, true, start, end, lo)
		}
	}
	slices.SortStableFunc(out, func(a, b synth.Record) int {
		if c := cmp.Compare(a.End-a.End%60, b.End-b.End%60); c != 0 {
			return c
		}
		return cmp.Compare(a.Start, b.Start)
	})
	return out
}

// split renders one direction of a connection at an interface, one
// record per minute it spans (the first carries the opening flags, the
// last the closing ones).
func split(out []synth.Record, r synth.Record, ifc *synth.Interface, egress bool, start, end int64, peerLocal bool) []synth.Record {
	if r.Packets == 0 {
		return out
	}
	r.Iface, r.Egress, r.Action, r.Status = ifc, egress, event.Accept, event.StatusOK
	if egress {
		r.Path = 8
		if peerLocal {
			r.Path = 1
		}
	}
	first := start - start%60
	n := (end-first)/60 + 1
	n = min(n, int64(r.Packets))
	if n <= 1 {
		r.Start, r.End = start, end
		return append(out, r)
	}
	flags := r.Flags
	var sentP, sentB uint64
	for k := int64(0); k < n; k++ {
		w := r
		w.Start = max(first+60*k, start)
		w.End = min(first+60*k+59, end)
		if k == n-1 {
			w.Packets, w.Bytes = r.Packets-sentP, r.Bytes-sentB
		} else {
			w.Packets, w.Bytes = r.Packets/uint64(n), r.Bytes/uint64(n)
		}
		sentP += w.Packets
		sentB += w.Bytes
		switch k {
		case 0:
			w.Flags = flags &^ (event.TCPFin | event.TCPRst)
		case n - 1:
			w.Flags = flags & (event.TCPFin | event.TCPRst)
		default:
			w.Flags = 0
		}
		out = append(out, w)
	}
	return out
}

// writeRecords writes records as one flow log file of the given version.
func writeRecords(file string, recs []synth.Record, version int) error {
	format, err := synth.FormatFor(version)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString(format.String())
	buf.WriteByte('\n')
	var line []byte
	for i := range recs {
		line = synth.AppendRecord(line[:0], format, &recs[i], synth.DefaultConfig.Account, synth.DefaultConfig.Region)
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, buf.Bytes(), 0o644)
}

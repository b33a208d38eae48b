package synth

import (
	"bufio"
	"cmp"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/klauspost/compress/gzip"

	"picket/internal/decode/vpcflow"
	"picket/internal/event"
)

// FormatFor returns the format of a flow log version: 2 is the default
// format; 3, 4, 5, 7 and 8 add each version's fields in the documented
// order (version 6 is the transit gateway format, which this generator
// does not produce; it gives version 5).
func FormatFor(version int) (vpcflow.Format, error) {
	if version == 2 {
		return vpcflow.DefaultFormat, nil
	}
	if version < 2 || version > 11 {
		return vpcflow.Format{}, fmt.Errorf("flow log version %d: choose 2 to 11", version)
	}
	var f vpcflow.Format
	for _, fd := range vpcflow.Fields() {
		v := fd.Version()
		if v <= version && v != 6 {
			f.Columns = append(f.Columns, fd)
			f.Names = append(f.Names, fd.String())
		}
	}
	return f, nil
}

// AppendRecord renders r as one line of flow log text (without newline) in
// format f, for account and region: the record that Flow makes of r,
// written by vpcflow.AppendFlow.
func AppendRecord(b []byte, f vpcflow.Format, r *Record, account, region string) []byte {
	var fl event.Flow
	r.Flow(&fl, flowVersion(f), event.Intern(account), event.Intern(region))
	return vpcflow.AppendFlow(b, f, &fl)
}

// flowVersion returns the version a flow log of format f writes in its
// version field: the highest version among its fields, at least 2.
func flowVersion(f vpcflow.Format) int { return max(f.Version(), 2) }

// The values of the fields that synth derives rather than records.
var (
	encryptedNo   = event.Intern("0")
	encryptedYes  = event.Intern("1")
	natGatewayENI = event.Intern("nat_gateway")
	nlbENI        = event.Intern("network_load_balancer")
)

// ifaceIDs are an interface's identifiers as a flow record holds them.
type ifaceIDs struct {
	id, vpc, subnet, instance, az, kind event.ID
}

func (i *Interface) ids() ifaceIDs {
	ids := ifaceIDs{
		id:       event.Intern(i.ID),
		vpc:      event.Intern(i.VPC),
		subnet:   event.Intern(i.Subnet),
		instance: event.Intern(i.Instance),
		az:       event.Intern(i.AZ),
	}
	switch i.Role {
	case RoleNAT:
		ids.kind = natGatewayENI
	case RoleLB:
		ids.kind = nlbENI
	}
	return ids
}

// Flow fills f with r as a flow log of the given version records it, on
// r.Iface, in account and region: every field of every version that
// synth models is set, whichever a format writes. The direction comes
// from the flow-direction field's value (BasisField); pkt-srcaddr and
// pkt-dstaddr are srcaddr and dstaddr unless r says otherwise; traffic
// is encrypted (encryption-status 1) between private addresses only;
// interface-type names the NAT gateway and load balancer interfaces.
func (r *Record) Flow(f *event.Flow, version int, account, region event.ID) {
	ids := r.Iface.ids()
	r.flow(f, uint8(version), account, region, &ids)
}

func (r *Record) flow(f *event.Flow, version uint8, account, region event.ID, ids *ifaceIDs) {
	*f = event.Flow{
		Has: event.HasVersion | event.HasSrcPort | event.HasDstPort | event.HasProtocol | event.HasPackets |
			event.HasBytes | event.HasStart | event.HasEnd | event.HasTCPFlags,
		Version:    version,
		Account:    account,
		Interface:  ids.id,
		Src:        r.Src,
		Dst:        r.Dst,
		SrcPort:    r.SrcPort,
		DstPort:    r.DstPort,
		Protocol:   r.Proto,
		Packets:    r.Packets,
		Bytes:      r.Bytes,
		Start:      event.Time(r.Start),
		End:        event.Time(r.End),
		Action:     r.Action,
		Status:     r.Status,
		VPC:        ids.vpc,
		Subnet:     ids.subnet,
		Instance:   ids.instance,
		TCPFlags:   r.Flags,
		Type:       event.AddrIPv4,
		PktSrc:     r.PktSrc,
		PktDst:     r.PktDst,
		Region:     region,
		AZ:         ids.az,
		Direction:  event.Inbound,
		Basis:      event.BasisField,
		Encryption: encryptedNo,
	}
	if r.Src.Is6() {
		f.Type = event.AddrIPv6
	}
	if !f.PktSrc.IsValid() {
		f.PktSrc = r.Src
	}
	if !f.PktDst.IsValid() {
		f.PktDst = r.Dst
	}
	if r.Egress {
		f.Direction = event.Outbound
		if r.Path > 0 {
			f.Has |= event.HasTrafficPath
			f.TrafficPath = r.Path
		}
	}
	if r.Src.IsPrivate() && r.Dst.IsPrivate() {
		f.Encryption = encryptedYes
	}
	f.Meta.InterfaceType = ids.kind
}

// Layout is how generated records are laid out in files.
type Layout uint8

// The layouts.
const (
	LayoutSingle       Layout = iota // one stream
	LayoutS3                         // S3 delivery: one object per five minutes
	LayoutPerInterface               // one file per interface, as CloudWatch Logs exports
)

// ParseLayout names a layout: "single", "s3" or "per-interface".
func ParseLayout(s string) (Layout, error) {
	switch s {
	case "single", "":
		return LayoutSingle, nil
	case "s3":
		return LayoutS3, nil
	case "per-interface":
		return LayoutPerInterface, nil
	}
	return 0, fmt.Errorf("unknown layout %q (single, s3, per-interface)", s)
}

// Writer renders records into files.
type Writer struct {
	Format  vpcflow.Format
	Layout  Layout
	Header  bool   // write the header line (S3 delivery always has one)
	Gzip    bool   // compress files
	Parquet bool   // S3 layout only: write Parquet objects instead of text
	Dir     string // where files go (S3 and per-interface layouts)
	Out     io.Writer
	Account string
	Region  string
	// Seed makes object names reproducible.
	Seed uint64

	period  int64 // seconds of one S3 object
	batches map[int64][]line
	maxEnd  int64
	files   map[string]*fileOut
	wrote   int

	// For Add: the record being encoded, and the identifiers it names,
	// interned once per writer (interning them per record made
	// BenchmarkWriter about 20% slower).
	flow            event.Flow
	version         uint8
	account, region event.ID
	ifaces          map[*Interface]ifaceIDs
}

// line is one rendered record waiting for its batch to be written.
type line struct {
	start int64
	iface string
	text  []byte // without newline
}

type fileOut struct {
	f  *os.File
	zw *gzip.Writer
	bw *bufio.Writer
}

// Add buffers a record, as the flow that Record.Flow makes of it, and
// writes the batches that are complete. The writer keeps the identifiers
// of each *Interface it meets, so an Interface must not change while the
// writer is in use.
func (w *Writer) Add(r Record) error {
	if w.ifaces == nil {
		w.ifaces = map[*Interface]ifaceIDs{}
		w.version = uint8(flowVersion(w.Format))
		w.account, w.region = event.Intern(w.Account), event.Intern(w.Region)
	}
	ids, ok := w.ifaces[r.Iface]
	if !ok {
		ids = r.Iface.ids()
		w.ifaces[r.Iface] = ids
	}
	r.flow(&w.flow, w.version, w.account, w.region, &ids)
	return w.AddFlow(&w.flow)
}

// AddFlow buffers a flow record, rendered in the writer's format with
// vpcflow.AppendFlow, and writes the batches that are complete: this is
// how picket convert writes the S3 layout.
func (w *Writer) AddFlow(f *event.Flow) error {
	text := vpcflow.AppendFlow(nil, w.Format, f)
	return w.add(int64(f.Start), int64(f.End), f.Interface.String(), text)
}

func (w *Writer) add(start, end int64, iface string, text []byte) error {
	if w.batches == nil {
		w.batches = map[int64][]line{}
		w.period = 300
		if w.Layout != LayoutS3 {
			w.period = 60
		}
	}
	p := end - end%w.period
	w.batches[p] = append(w.batches[p], line{start: start, iface: iface, text: text})
	if end > w.maxEnd {
		w.maxEnd = end
		// Conversations last up to an hour; records older than that
		// behind the newest are complete.
		return w.flushBefore(w.maxEnd - 3600)
	}
	return nil
}

// Close writes what is buffered and closes the files.
func (w *Writer) Close() error {
	if err := w.flushBefore(1 << 62); err != nil {
		return err
	}
	var first error
	for _, f := range w.files {
		if err := f.close(); err != nil && first == nil {
			first = err
		}
	}
	w.files = nil
	return first
}

// Records returns how many records were written.
func (w *Writer) Records() int { return w.wrote }

func (w *Writer) flushBefore(t int64) error {
	var ps []int64
	for p := range w.batches {
		if p+w.period <= t {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	for _, p := range ps {
		recs := w.batches[p]
		delete(w.batches, p)
		slices.SortStableFunc(recs, func(a, b line) int {
			if c := cmp.Compare(a.start, b.start); c != 0 {
				return c
			}
			return cmp.Compare(a.iface, b.iface)
		})
		if err := w.writeBatch(p, recs); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) writeBatch(p int64, recs []line) error {
	switch w.Layout {
	case LayoutS3:
		name := w.objectName(p)
		if w.Parquet {
			return w.writeParquet(name, recs)
		}
		fo, err := w.open(name, true)
		if err != nil {
			return err
		}
		if err := w.writeLines(fo.bw, recs); err != nil {
			return err
		}
		err = fo.close()
		delete(w.files, name)
		return err
	case LayoutPerInterface:
		for i := range recs {
			name := filepath.Join(w.Dir, recs[i].iface+".log")
			if w.Gzip {
				name += ".gz"
			}
			fo, err := w.open(name, w.files[name] == nil)
			if err != nil {
				return err
			}
			if err := w.writeLines(fo.bw, recs[i:i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	if w.files == nil {
		w.files = map[string]*fileOut{}
	}
	fo := w.files[""]
	if fo == nil {
		fo = &fileOut{bw: bufio.NewWriterSize(w.Out, 256<<10)}
		if w.Gzip {
			fo.zw = gzip.NewWriter(w.Out)
			fo.bw = bufio.NewWriterSize(fo.zw, 256<<10)
		}
		w.files[""] = fo
		if w.Header {
			fo.bw.WriteString(w.Format.String() + "\n")
		}
	}
	return w.writeLines(fo.bw, recs)
}

func (w *Writer) writeLines(bw *bufio.Writer, recs []line) error {
	for i := range recs {
		if _, err := bw.Write(recs[i].text); err != nil {
			return err
		}
		if err := bw.WriteByte('\n'); err != nil {
			return err
		}
		w.wrote++
	}
	return nil
}

// objectName returns the S3 key of the object for period p.
func (w *Writer) objectName(p int64) string {
	t := time.Unix(p, 0).UTC()
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%d", w.Seed, p)
	ext := ".log.gz"
	if w.Parquet {
		ext = ".log.parquet"
	}
	name := fmt.Sprintf("%s_vpcflowlogs_%s_fl-%016x_%s_%08x%s", w.Account, w.Region, w.Seed, t.Format("20060102T1504Z"), h.Sum32(), ext)
	return filepath.Join(w.Dir, "AWSLogs", w.Account, "vpcflowlogs", w.Region, t.Format("2006"), t.Format("01"), t.Format("02"), name)
}

func (w *Writer) open(name string, header bool) (*fileOut, error) {
	if w.files == nil {
		w.files = map[string]*fileOut{}
	}
	if fo := w.files[name]; fo != nil {
		return fo, nil
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fo := &fileOut{f: f}
	gz := w.Gzip || w.Layout == LayoutS3
	if gz {
		fo.zw = gzip.NewWriter(f)
		fo.bw = bufio.NewWriterSize(fo.zw, 64<<10)
	} else {
		fo.bw = bufio.NewWriterSize(f, 64<<10)
	}
	w.files[name] = fo
	if header && (w.Header || w.Layout == LayoutS3) {
		fo.bw.WriteString(w.Format.String() + "\n")
	}
	return fo, nil
}

func (w *Writer) writeParquet(name string, recs []line) error {
	rows := make([][]string, len(recs))
	for i := range recs {
		rows[i] = splitSpaces(string(recs[i].text))
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := vpcflow.WriteParquet(f, w.Format, rows); err != nil {
		f.Close()
		return err
	}
	w.wrote += len(recs)
	return f.Close()
}

func splitSpaces(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func (fo *fileOut) close() error {
	err := fo.bw.Flush()
	if fo.zw != nil {
		if e := fo.zw.Close(); err == nil {
			err = e
		}
	}
	if fo.f != nil {
		if e := fo.f.Close(); err == nil {
			err = e
		}
	}
	return err
}

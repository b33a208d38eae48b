package synth

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"
)

// QueryWriter renders queries as a Route 53 Resolver query log: one JSON
// object a line (version 1.100000), in one stream or in the S3 layout
// Resolver delivers, an object of each VPC's queries every five minutes
// under AWSLogs/<account>/vpcdnsquerylogs/<vpc>/YYYY/MM/DD/. Queries must
// come in time order, as Gen.RunDNS hands them out.
type QueryWriter struct {
	Layout  Layout // LayoutSingle or LayoutS3
	Gzip    bool   // compress the stream (S3 objects always are)
	Dir     string // where the S3 layout's objects go
	Out     io.Writer
	Account string
	Region  string
	// Seed makes object names reproducible.
	Seed uint64

	line    []byte
	stream  *fileOut
	batches map[string][][]byte // by object name, S3 layout
	period  int64               // the period the batches hold
	wrote   int
}

// Add writes a query, or buffers it until its object is complete.
func (w *QueryWriter) Add(q *Query) error {
	w.line = AppendQuery(w.line[:0], q, w.Account, w.Region)
	w.line = append(w.line, '\n')
	if w.Layout != LayoutS3 {
		if w.stream == nil {
			w.stream = &fileOut{bw: bufio.NewWriterSize(w.Out, 256<<10)}
			if w.Gzip {
				w.stream.zw = gzip.NewWriter(w.Out)
				w.stream.bw = bufio.NewWriterSize(w.stream.zw, 256<<10)
			}
		}
		w.wrote++
		_, err := w.stream.bw.Write(w.line)
		return err
	}
	p := q.Time - q.Time%300
	if p != w.period && len(w.batches) > 0 {
		if err := w.flush(); err != nil {
			return err
		}
	}
	w.period = p
	if w.batches == nil {
		w.batches = map[string][][]byte{}
	}
	name := w.objectName(q.Iface.VPC, p)
	w.batches[name] = append(w.batches[name], append([]byte(nil), w.line...))
	return nil
}

// Close writes what is buffered and flushes the stream (which it does not
// close).
func (w *QueryWriter) Close() error {
	if w.stream != nil {
		return w.stream.close()
	}
	return w.flush()
}

// Records returns how many queries were written.
func (w *QueryWriter) Records() int { return w.wrote }

// flush writes the buffered objects.
func (w *QueryWriter) flush() error {
	for name, lines := range w.batches {
		if err := writeObject(name, lines); err != nil {
			return fmt.Errorf("writing query log object %q: %w", name, err)
		}
		w.wrote += len(lines)
	}
	clear(w.batches)
	return nil
}

func writeObject(name string, lines [][]byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	fo := &fileOut{f: f, zw: gzip.NewWriter(f)}
	fo.bw = bufio.NewWriterSize(fo.zw, 64<<10)
	for _, l := range lines {
		if _, err := fo.bw.Write(l); err != nil {
			fo.close()
			return err
		}
	}
	return fo.close()
}

// objectName returns the S3 key of the object of vpc's queries for the
// period starting at p.
func (w *QueryWriter) objectName(vpc string, p int64) string {
	t := time.Unix(p, 0).UTC()
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%s/%d", w.Seed, vpc, p)
	name := fmt.Sprintf("%s_vpcdnsquerylogs_%s_%s_%08x.log.gz", w.Account, vpc, t.Format("20060102T1504Z"), h.Sum32())
	return filepath.Join(w.Dir, "AWSLogs", w.Account, "vpcdnsquerylogs", vpc, t.Format("2006"), t.Format("01"), t.Format("02"), name)
}

// AppendQuery renders q as one line of a Route 53 Resolver query log
// (without newline), for account and region.
func AppendQuery(b []byte, q *Query, account, region string) []byte {
	b = append(b, `{"version":"1.100000","account_id":`...)
	b = appendJSONString(b, account)
	b = append(b, `,"region":`...)
	b = appendJSONString(b, region)
	b = append(b, `,"vpc_id":`...)
	b = appendJSONString(b, q.Iface.VPC)
	b = append(b, `,"query_timestamp":"`...)
	b = time.Unix(q.Time, 0).UTC().AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, `","query_name":`...)
	b = appendJSONString(b, q.Name+".")
	b = append(b, `,"query_type":`...)
	b = appendJSONString(b, q.Type)
	b = append(b, `,"query_class":"IN","rcode":`...)
	b = appendJSONString(b, q.RCode)
	b = append(b, `,"answers":[`...)
	for k, a := range q.Answers {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Rdata":`...)
		b = appendJSONString(b, a.Data)
		b = append(b, `,"Type":`...)
		b = appendJSONString(b, a.Type)
		b = append(b, `,"Class":"IN"}`...)
	}
	b = append(b, `],"srcaddr":"`...)
	b = q.Iface.Private.AppendTo(b)
	b = append(b, `","srcport":"`...)
	b = strconv.AppendUint(b, uint64(q.SrcPort), 10)
	b = append(b, `","transport":"`...)
	if q.TCP {
		b = append(b, "TCP"...)
	} else {
		b = append(b, "UDP"...)
	}
	b = append(b, `","srcids":{"instance":`...)
	b = appendJSONString(b, q.Iface.Instance)
	return append(b, "}}"...)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

package decode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"picket/internal/event"
)

// memInput is an Input over bytes in memory.
type memInput struct {
	b   []byte
	off int
}

func (m *memInput) Read(p []byte) (int, error) {
	if m.off >= len(m.b) {
		return 0, io.EOF
	}
	n := copy(p, m.b[m.off:])
	m.off += n
	return n, nil
}

func (m *memInput) Head(n int) []byte { return m.b[m.off:min(m.off+n, len(m.b))] }

func (m *memInput) Skip(n int64) error {
	if int64(len(m.b)) < n {
		return io.ErrUnexpectedEOF
	}
	m.off = int(n)
	return nil
}

func (m *memInput) ReaderAt(max int64) (io.ReaderAt, int64, error) {
	return bytes.NewReader(m.b), int64(len(m.b)), nil
}

// readAll reads an input from start, returning each record rendered (bad
// ones as "!reason") with the position after it.
func readAll(t testing.TB, b []byte, opt Options) ([]string, []Position, error) {
	r, err := Open(&memInput{b: b}, "test", opt)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	var recs []string
	var pos []Position
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs, pos, nil
		}
		var bad RecordError
		switch {
		case errors.As(err, &bad):
			recs = append(recs, "!"+bad.Reason())
		case err != nil:
			return recs, pos, err
		default:
			recs = append(recs, render(rec))
		}
		pos = append(pos, r.Position())
	}
}

func render(rec event.Record) string {
	switch r := rec.(type) {
	case *event.Flow:
		return fmt.Sprintf("flow %s %s:%d>%s:%d %d", r.Account, r.Src, r.SrcPort, r.Dst, r.DstPort, r.End)
	case *event.APICall:
		return fmt.Sprintf("call %s %s", r.EventName, r.Account)
	}
	return rec.Kind().String()
}

const (
	flowHeader = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
	flowLine   = "2 123456789012 eni-0a1b2c3d 10.0.0.5 198.51.100.7 443 50000 6 10 4000 1772618400 1772618460 ACCEPT OK"
)

// TestOpenResumes reads inputs of several formats whole, then again from
// the position after each record: the rest is always what remained.
func TestOpenResumes(t *testing.T) {
	cwl := `{"messageType":"DATA_MESSAGE","owner":"111122223333","logEvents":[{"id":"1","message":"` + flowLine + `"},{"id":"2","message":"garbage"},{"id":"3","message":"` + strings.Replace(flowLine, "443", "22", 1) + `"}]}` +
		`{"messageType":"CONTROL_MESSAGE","logEvents":[{"id":"4","message":"CWL CONTROL MESSAGE"}]}` +
		`{"messageType":"DATA_MESSAGE","owner":"111122223333","logEvents":[{"id":"5","message":"` + strings.Replace(flowLine, "50000", "50001", 1) + `"}]}`
	tests := map[string]string{
		"flow text":  flowHeader + flowLine + "\nnot a record\n\n" + strings.Replace(flowLine, "443", "80", 1) + "\n",
		"cloudwatch": cwl,
		"cloudtrail": `{"Records":[{"eventVersion":"1.09","eventTime":"2026-03-04T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"}},{"eventVersion":"1.09","eventTime":"2026-03-04T10:00:01Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"}}]}`,
		// Mixed lines: CloudTrail events among flow records, a document
		// of two events and a bad one on one line; flow lines, a header
		// among them, after CloudTrail lines; a junk first line.
		"flows and events": flowHeader + flowLine + "\n" + trailLine("A") + "\n" + `{"Records":[` + trailLine("B") + `,{"eventTime":1},` + trailLine("C") + "]}\n" +
			`{"other":1}` + "\n" + strings.Replace(flowLine, "443", "80", 1) + "\n",
		"events and flows": trailLine("A") + "\n" + trailLine("B") + "\n" + flowLine + "\njunk\n" + flowHeader + strings.Replace(flowLine, "443", "80", 1) + "\n" + trailLine("C"),
		"junk first":       "junk\n" + flowLine + "\n" + strings.Replace(flowLine, "443", "80", 1) + "\n",
		"zeek conn":        "{\"ts\":1772618400.5,\"uid\":\"C1\",\"id.orig_h\":\"203.0.113.9\",\"id.orig_p\":40000,\"id.resp_h\":\"10.0.0.5\",\"id.resp_p\":22,\"proto\":\"tcp\",\"conn_state\":\"REJ\",\"history\":\"Sr\",\"orig_pkts\":1,\"orig_ip_bytes\":40,\"resp_pkts\":1,\"resp_ip_bytes\":40}\n",
		"zeek dns":         zeekDNSLog,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			whole, pos, err := readAll(t, []byte(in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(whole) < 2 {
				t.Fatalf("only %q", whole)
			}
			for i, p := range pos {
				rest, _, err := readAll(t, []byte(in), Options{Start: p})
				if err != nil {
					t.Fatalf("resuming at %+v: %v", p, err)
				}
				if want := whole[i+1:]; fmt.Sprint(rest) != fmt.Sprint(want) {
					t.Errorf("resumed at %+v: %q, want %q", p, rest, want)
				}
			}
		})
	}
}

// TestOpenCloudWatchFlows checks the CloudWatch Logs envelope: flow
// lines in DATA_MESSAGEs, the owner as account, control messages passed
// over, a bad line counted and the rest kept.
func TestOpenCloudWatchFlows(t *testing.T) {
	line := strings.Replace(flowLine, "123456789012", "unknown", 1)
	in := `{"messageType":"CONTROL_MESSAGE","logEvents":[{"id":"0","message":"CWL CONTROL MESSAGE"}]}` + "\n" +
		`{"messageType":"DATA_MESSAGE","owner":"111122223333","logEvents":[{"id":"1","message":"` + line + `"},{"id":"2","message":"2 x"}]}`
	if f := Detect([]byte(in)); f != VPCFlowCloudWatch {
		t.Fatalf("detected %s", f)
	}
	got, _, err := readAll(t, []byte(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"flow 111122223333 10.0.0.5:443>198.51.100.7:50000 1772618460", "!no-format"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// A payload that is not JSON to its end: the good events before it are
	// kept, the rest is one bad record.
	got, _, err = readAll(t, []byte(in[:len(in)-10]), Options{})
	if err != nil || len(got) == 0 || got[len(got)-1] != "!syntax" {
		t.Errorf("cut payload: %q, %v", got, err)
	}
}

// TestOpenResolver reads Route 53 Resolver query logs through Open: bad
// lines are counted apart and the queries around them kept, and a
// reading resumed at any position gives what remained.
func TestOpenResolver(t *testing.T) {
	in := resolverLine("a.example.com.") + "\n{\"query_name\":\"b.\"}\n" + resolverLine("c.example.com.") + "\n"
	got, pos, err := readAll(t, []byte(in), Options{})
	want := []string{"dns-query", "!resolver-missing-field", "dns-query"}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	for i, p := range pos {
		rest, _, err := readAll(t, []byte(in), Options{Start: p})
		if err != nil || fmt.Sprint(rest) != fmt.Sprint(got[i+1:]) {
			t.Errorf("resumed at %+v: %q, %v; want %q", p, rest, err, got[i+1:])
		}
	}
	r, err := Open(&memInput{b: []byte(in)}, "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if q, ok := rec.(*event.DNSQuery); err != nil || !ok || string(q.Name) != "a.example.com" || r.Format() != Resolver {
		t.Errorf("first record: %v, %v", rec, err)
	}

	// A CloudWatch Logs subscription payload of query log lines: the
	// payload's owner stands in for a missing account.
	msg := strconv.Quote(`{"query_timestamp":"2026-03-04T10:00:00Z","query_name":"d.example.com."}`)
	payload := `{"messageType":"DATA_MESSAGE","owner":"444455556666","logEvents":[{"id":"1","message":` + msg +
		`},{"id":"2","message":"{\"query_name\":1}"},{"id":"3","message":` + strconv.Quote(resolverLine("e.")) + `}]}`
	if f := Detect([]byte(payload)); f != Resolver {
		t.Fatalf("payload detected as %v", f)
	}
	r, err = Open(&memInput{b: []byte(payload)}, "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var bad RecordError
		if errors.As(err, &bad) {
			names = append(names, "!"+bad.Reason())
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		q := rec.(*event.DNSQuery)
		names = append(names, string(q.Name)+" "+q.Account.String())
	}
	want = []string{"d.example.com 444455556666", "!resolver-type", "e 111122223333"}
	if fmt.Sprint(names) != fmt.Sprint(want) || r.Format() != Resolver {
		t.Errorf("payload: %q (%v), want %q", names, r.Format(), want)
	}
}

func resolverLine(name string) string {
	return `{"version":"1.100000","account_id":"111122223333","region":"us-east-1","vpc_id":"vpc-1","query_timestamp":"2026-03-04T10:00:00Z","query_name":"` +
		name + `","query_type":"A","query_class":"IN","rcode":"NOERROR","answers":[],"srcaddr":"10.0.0.5","srcport":"5353","transport":"UDP","srcids":{}}`
}

// TestOpenErrors checks the errors of inputs that cannot be read.
func TestOpenErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		opt  Options
		want error
	}{
		{"empty", "", Options{}, ErrEmpty},
		{"unknown", "\x00\x01\x02 hello", Options{}, ErrUnrecognized},
		{"capture still written", "\xd4\xc3\xb2\xa1\x02\x00\x04\x00", Options{Partial: true}, ErrIncomplete},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(&memInput{b: []byte(tt.in)}, "test", tt.opt)
			if !errors.Is(err, tt.want) {
				t.Errorf("Open: %v, want %v", err, tt.want)
			}
		})
	}
	// A headerless custom format may not look like flow logs: the
	// fallback reads it.
	r, err := Open(&memInput{b: []byte("x y\n")}, "test", Options{Fallback: VPCFlow})
	if err != nil || r.Format() != VPCFlow {
		t.Errorf("fallback: %v", err)
	}
}

// FuzzOpen reads any input through Open whole, and again from the
// position after each of its first records: no input makes it panic, and
// resuming always gives what remained.
func FuzzOpen(f *testing.F) {
	// Seeds: flow text with a header, a bad line and a blank one; a
	// CloudWatch Logs payload of flow lines; a CloudTrail file; a Zeek
	// JSON line; a cut capture header.
	f.Add([]byte(flowHeader + flowLine + "\nbad line\n\n" + flowLine))
	f.Add([]byte(`{"messageType":"DATA_MESSAGE","owner":"111122223333","logEvents":[{"id":"1","message":"` + flowLine + `"}]}`))
	f.Add([]byte(`{"Records":[{"eventVersion":"1.09","eventTime":"2026-03-04T10:00:00Z","eventName":"ListBuckets"}]}`))
	f.Add([]byte("{\"ts\":1772618400.5,\"id.orig_h\":\"203.0.113.9\",\"id.orig_p\":1,\"id.resp_h\":\"10.0.0.5\",\"id.resp_p\":22,\"proto\":\"tcp\"}\n"))
	f.Add([]byte("\xd4\xc3\xb2\xa1\x02\x00\x04\x00"))
	// Mixed lines: CloudTrail events, one a document on one line, among
	// flow records; flow lines after CloudTrail lines; a junk first line.
	f.Add([]byte(flowHeader + flowLine + "\n" + `{"Records":[` + trailLine("A") + `,{"eventTime":1}]}` + "\n{\"x\":1}\n" + flowLine + "\n"))
	f.Add([]byte(trailLine("A") + "\n" + flowLine + "\njunk\n" + flowHeader + flowLine + "\n" + trailLine("B")))
	f.Add([]byte("junk\n" + flowLine + "\n" + flowLine))
	// A Zeek dns.log with a bad line.
	f.Add([]byte(zeekDNSLog))
	// Route 53 Resolver query lines, a bad one among them.
	f.Add([]byte(resolverLine("a.") + "\n{\"query_name\":1}\n" + resolverLine("b.")))
	f.Add([]byte(`{"messageType":"DATA_MESSAGE","owner":"111122223333","logEvents":[{"id":"1","message":` + strconv.Quote(resolverLine("a.")) + `}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		whole, pos, err := readAll(t, b, Options{})
		if err != nil {
			return
		}
		for i, p := range pos[:min(len(pos), 8)] {
			rest, _, err := readAll(t, b, Options{Start: p})
			if err != nil {
				t.Fatalf("resuming at %+v: %v", p, err)
			}
			if want := whole[i+1:]; fmt.Sprint(rest) != fmt.Sprint(want) {
				t.Fatalf("resumed at %+v: %q, want %q", p, rest, want)
			}
		}
	})
}

// zeekDNSLog is a Zeek dns.log of three queries with a bad line among
// them.
const zeekDNSLog = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n" +
	"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\tquery\tqclass\tqtype\trcode\tanswers\n" +
	"1772618400.5\tC1\t10.0.0.5\t40000\t10.0.0.2\t53\tudp\t1\tvowyzuk.com\t1\t1\t3\t-\n" +
	"1772618401.5\tC2\t10.0.0.5\t40001\t10.0.0.2\t53\tudp\t2\tExample.COM.\t1\t1\t0\t93.184.216.34\n" +
	"1772618402.5\tC3\t10.0.0.999\t40002\t10.0.0.2\t53\tudp\t3\tbad.example\t1\t1\t0\t-\n" +
	"1772618403.5\tC4\t10.0.0.6\t40003\t10.0.0.2\t53\ttcp\t4\tqexyryl.com\t1\t28\t-\t(empty)\n"

// TestOpenZeekDNS reads a Zeek dns.log through Open: its format, its
// queries and bad line in order, every line a record or a bad record; and
// one still being written is refused, as a conn.log is.
func TestOpenZeekDNS(t *testing.T) {
	r, err := Open(&memInput{b: []byte(zeekDNSLog)}, "dns.log", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Format() != ZeekDNS {
		t.Fatalf("format %s, want %s", r.Format(), ZeekDNS)
	}
	var got []string
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var bad RecordError
		if errors.As(err, &bad) {
			got = append(got, "!"+bad.Reason())
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		q, ok := rec.(*event.DNSQuery)
		if !ok {
			t.Fatalf("record %T", rec)
		}
		got = append(got, fmt.Sprintf("%s %s %d %d %d", q.Origin, q.Name, q.QType, q.RCode, q.NumAnswers))
	}
	want := []string{"dns.log:7 vowyzuk.com 1 3 0", "dns.log:8 example.com 1 0 1", "!zeek-invalid", "dns.log:10 qexyryl.com 28 255 0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if p := r.Position(); p.Records != 4 || p.Offset != int64(len(zeekDNSLog)) {
		t.Errorf("position at the end %+v, want 4 records and %d bytes", p, len(zeekDNSLog))
	}
	if _, err := Open(&memInput{b: []byte(zeekDNSLog)}, "dns.log", Options{Partial: true}); !errors.Is(err, ErrIncomplete) {
		t.Errorf("a dns.log still being written: %v, want %v", err, ErrIncomplete)
	}
}

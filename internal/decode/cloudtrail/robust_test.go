package cloudtrail_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"

	"picket/internal/decode"
	"picket/internal/decode/cloudtrail"
	"picket/internal/event"
)

func smallEvent(name string) string {
	return `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"ivan"},"eventTime":"2024-03-01T12:00:00Z",` +
		`"eventSource":"ec2.amazonaws.com","eventName":"` + name + `","sourceIPAddress":"192.0.2.1","eventID":"` + name + `"}`
}

// hugeEvent is a CloudTrail event of about size bytes, most of them in
// requestParameters.
func hugeEvent(size int) string {
	return `{"eventVersion":"1.08","eventTime":"2024-03-01T12:00:01Z","eventSource":"s3.amazonaws.com","eventName":"Huge",` +
		`"requestParameters":{"policy":"` + strings.Repeat("A", size) + `"},"eventID":"huge"}`
}

// TestLargeEvent checks that a 10 MB event is rejected with a clear error
// by default, in bounded memory, with the events around it kept; and that
// it is decoded when the bound allows it.
func TestLargeEvent(t *testing.T) {
	const size = 10 << 20
	inputs := map[string]string{
		"records": `{"Records":[` + smallEvent("Before") + "," + hugeEvent(size) + "," + smallEvent("After") + "]}",
		"lines":   smallEvent("Before") + "\n" + hugeEvent(size) + "\n" + smallEvent("After") + "\n",
		// A huge line whose string never ends: resumes at the next line.
		"broken-line": smallEvent("Before") + "\n" + strings.TrimSuffix(hugeEvent(size), `"},"eventID":"huge"}`) + "\n" + smallEvent("After") + "\n",
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			data := []byte(in)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			res := decodeAll("big.json", data)
			runtime.ReadMemStats(&after)
			if res.fatal != nil {
				t.Fatal(res.fatal)
			}
			if got := names(res.events); got != "Before After" {
				t.Errorf("events %q, want Before and After", got)
			}
			if len(res.errs) != 1 || !errors.Is(res.errs[0], cloudtrail.ErrTooLarge) || res.errs[0].Record != 2 {
				t.Fatalf("errors %v, want one too-large error for record 2", res.errs)
			}
			t.Logf("%v", res.errs[0])
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
				t.Errorf("allocated %d bytes to skip a %d-byte event", alloc, size)
			}
		})
	}
	t.Run("raised bound", func(t *testing.T) {
		r := cloudtrail.NewReader(strings.NewReader(inputs["records"]), "big.json")
		r.SetMaxEvent(16 << 20)
		var c event.APICall
		var got []string
		for {
			err := r.Next(&c)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, c.EventName.String())
			if c.EventName.String() == "Huge" && len(c.RequestParameters) < size {
				t.Errorf("requestParameters of %d bytes", len(c.RequestParameters))
			}
		}
		if strings.Join(got, " ") != "Before Huge After" {
			t.Errorf("events %v", got)
		}
	})
}

func names(events []*event.APICall) string {
	var s []string
	for _, c := range events {
		s = append(s, c.EventName.String())
	}
	return strings.Join(s, " ")
}

// TestTruncatedGzip checks that a gzip stream cut short delivers the
// events before the cut, then the read error (not a bad-event error: the
// input cannot be read further).
func TestTruncatedGzip(t *testing.T) {
	var events []string
	for i := range 200 {
		events = append(events, smallEvent("E"+strings.Repeat("x", i%7)))
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"Records":[` + strings.Join(events, ",") + `]}`))
	zw.Close()
	cut := buf.Bytes()[:buf.Len()*2/3]
	zr, err := gzip.NewReader(bytes.NewReader(cut))
	if err != nil {
		t.Fatal(err)
	}
	r := cloudtrail.NewReader(zr, "cut.json.gz")
	var c event.APICall
	n := 0
	for {
		err := r.Next(&c)
		if err == nil {
			n++
			continue
		}
		var pe *cloudtrail.ParseError
		if errors.As(err, &pe) || errors.Is(err, io.EOF) {
			t.Fatalf("after %d events: %v, want the read error", n, err)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("error %v, want unexpected EOF", err)
		}
		break
	}
	if n < 50 || n >= 200 {
		t.Errorf("%d events before the cut", n)
	}
}

// TestTruncatedTrail checks a plain file cut inside an event: the events
// before are kept and the cut one is reported once.
func TestTruncatedTrail(t *testing.T) {
	in := `{"Records":[` + smallEvent("A") + "," + smallEvent("B")
	in = in[:len(in)-20]
	res := decodeAll("cut.json", []byte(in))
	if names(res.events) != "A" || len(res.errs) != 1 || !errors.Is(res.errs[0], cloudtrail.ErrTruncated) {
		t.Errorf("events %q, errors %v", names(res.events), res.errs)
	}
}

// TestAllocs holds decoding to zero allocations per event once the
// repeated strings of a trail are interned.
func TestAllocs(t *testing.T) {
	for _, lines := range []bool{false, true} {
		data := generateTrail(500, lines, 3)
		br := bytes.NewReader(data)
		r := cloudtrail.NewReader(br, "allocs.json")
		var c event.APICall
		run := func() {
			br.Reset(data)
			r.Reset(br, "allocs.json")
			for {
				err := r.Next(&c)
				if errors.Is(err, io.EOF) {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		run() // intern the trail's strings
		if n := testing.AllocsPerRun(20, run); n != 0 {
			t.Errorf("lines=%v: %v allocations per 500 events, want 0", lines, n)
		}
	}
}

// TestEventBridgeRaw checks that an event from an EventBridge envelope
// keeps the detail object as its evidence, not the envelope.
func TestEventBridgeRaw(t *testing.T) {
	in := `{"version":"0","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2","resources":["x"],"detail":` + smallEvent("Inner") + `}`
	d := cloudtrail.NewDecoder("eb")
	var c event.APICall
	if err := d.Decode([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if string(c.Raw) != smallEvent("Inner") || c.Resources != nil {
		t.Errorf("raw %q, resources %q", c.Raw, c.Resources)
	}
}

// TestClone checks that a cloned record survives the reader moving on.
func TestClone(t *testing.T) {
	in := `{"Records":[` + smallEvent("A") + "," + smallEvent("B") + `]}`
	r := cloudtrail.NewReader(strings.NewReader(in), "clone.json")
	var c event.APICall
	if err := r.Next(&c); err != nil {
		t.Fatal(err)
	}
	kept := c.Clone()
	if err := r.Next(&c); err != nil {
		t.Fatal(err)
	}
	if string(kept.EventID) != "A" || string(kept.Raw) != smallEvent("A") {
		t.Errorf("clone changed: %q %q", kept.EventID, kept.Raw)
	}
}

// digest is a CloudTrail digest file, as delivered under
// AWSLogs/<account>/CloudTrail-Digest/.
const digest = `{"awsAccountId":"111122223333","digestStartTime":"2024-03-01T10:00:00Z","digestEndTime":"2024-03-01T11:00:00Z",` +
	`"digestS3Bucket":"trail-bucket","digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/x.json.gz",` +
	`"digestPublicKeyFingerprint":"0123456789abcdef","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":"2024-03-01T10:59:59Z",` +
	`"oldestEventTime":"2024-03-01T10:00:01Z","previousDigestS3Bucket":"trail-bucket","previousDigestHashValue":"00ff",` +
	`"previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"abcd","logFiles":[{"s3Bucket":"trail-bucket",` +
	`"s3Object":"AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/y.json.gz","hashValue":"11aa","hashAlgorithm":"SHA-256",` +
	`"newestEventTime":"2024-03-01T10:59:59Z","oldestEventTime":"2024-03-01T10:00:01Z"}]}`

// TestDigest checks that a digest file given as input is recognized and
// skipped: no events, no error.
func TestDigest(t *testing.T) {
	if f := decode.Detect([]byte(digest)); f != decode.CloudTrail {
		t.Errorf("detected as %v", f)
	}
	res := decodeAll("digest.json", []byte(digest+"\n"+smallEvent("After")))
	if names(res.events) != "After" || len(res.errs) != 0 || res.fatal != nil {
		t.Errorf("events %q, errors %v, fatal %v", names(res.events), res.errs, res.fatal)
	}
	if err := cloudtrail.NewDecoder("d").Decode([]byte(digest), &event.APICall{}); !errors.Is(err, cloudtrail.ErrNotEvent) {
		t.Errorf("Decode: %v", err)
	}
}

// TestShapes checks how edge-case inputs decode: the event names read, and
// the reasons of the errors.
func TestShapes(t *testing.T) {
	a, b := smallEvent("A"), smallEvent("B")
	tests := []struct {
		name, in, events, reasons string
	}{
		{"empty", "", "", ""},
		{"whitespace", " \n\t\r\n", "", ""},
		{"empty records", `{"Records":[]}`, "", ""},
		{"null records", `{"Records":null}`, "", "not-an-event"},
		{"byte order mark", "\xef\xbb\xbf" + a, "A", ""},
		{"two documents", `{"Records":[` + a + `]}` + "\n" + `{"Records":[` + b + `]}`, "A B", ""},
		{"documents back to back", `{"Records":[` + a + `]}{"Records":[` + b + `]}`, "A B", ""},
		{"records not first", `{"x":{"y":[1,2]},"Records":[` + a + `],"z":"w"}`, "A", ""},
		{"array of wrappers", `[{"Records":[` + a + `]},` + b + `]`, "A B", ""},
		{"array of envelopes", `[{"detail-type":"AWS API Call via CloudTrail","detail":` + a + `}]`, "A", ""},
		{"trailing comma", `[` + a + `,]`, "A", ""},
		{"double comma", `[` + a + `,,` + b + `]`, "A B", "syntax"},
		{"unclosed array", `[` + a, "A", "truncated"},
		{"control message only", `{"messageType":"CONTROL_MESSAGE","logEvents":[{"message":"CWL CONTROL MESSAGE: Checking health"}]}`, "", ""},
		{"message not json", `{"logEvents":[{"message":"hello"}]}`, "", "not-an-event"},
		{"message missing", `{"logEvents":[{"id":"1"}]}`, "", "missing-field"},
		{"message element not object", `{"logEvents":["x"]}`, "", "type"},
		{"lookup events", `{"Events":[{"CloudTrailEvent":` + quote(a) + `}],"NextToken":"t"}`, "A", ""},
		{"wrapper broken", `{"Records":[` + a + `] "oops"}` + "\n" + b, "A B", "syntax"},
		{"wrapper key with a bad escape", `{"Records":[` + a + `],"k\q":1}` + "\n" + b, "A B", "syntax"},
		{"wrapper key with a control character", `{"Records":[` + a + `],"k` + "\x01" + `":1}` + "\n" + b, "A B", "syntax"},
		{"garbage line", "junk\n" + a, "A", "not-an-event"},
		{"garbage lines, one bad record each", a + "\njunk\n2 123456789012 eni-1 x\n\n" + b + "\n[1]\nmore", "A B", "not-an-event not-an-event not-an-event not-an-event"},
		{"an unknown prefix before an event", "Mar  1 12:00:00 host " + a, "A", "not-an-event"},
		{"timestamped line", "2024-03-01 12:00:00.000 " + a, "A", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := decodeAll("shape.json", []byte(tt.in))
			if res.fatal != nil {
				t.Fatal(res.fatal)
			}
			var reasons []string
			for _, e := range res.errs {
				reasons = append(reasons, e.Reason())
			}
			if got := names(res.events); got != tt.events || strings.Join(reasons, " ") != tt.reasons {
				t.Errorf("events %q, errors %v; want %q and %q", got, res.errs, tt.events, tt.reasons)
			}
		})
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestForeign checks that a line at the top level that is not JSON is
// one bad record, and that Foreign hands it over whole for a caller to
// read as another format.
func TestForeign(t *testing.T) {
	line := "2 123456789012 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1772618400 1772618460 ACCEPT OK"
	r := cloudtrail.NewReader(strings.NewReader(smallEvent("A")+"\n"+line+"\r\n"+smallEvent("B")), "f")
	var c event.APICall
	var got []string
	for {
		err := r.Next(&c)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			got = append(got, "foreign "+strings.TrimSpace(string(r.Foreign())))
			continue
		}
		if r.Foreign() != nil {
			t.Errorf("Foreign after an event: %q", r.Foreign())
		}
		got = append(got, c.EventName.String())
	}
	if want := []string{"A", "foreign " + line, "B"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

package publish_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"picket/internal/finding"
	"picket/internal/publish"
	"picket/internal/store"
)

func events(fx *fixture, n int) []publish.Event {
	var out []publish.Event
	for i := range n {
		out = append(out, publish.Event{Kind: store.OutboxNew, Finding: fx.finding("i-0"+strconv.Itoa(i), int64(i+1)), CommittedAt: time.Now()})
	}
	return out
}

// readFrames reads octet-counted syslog frames (RFC 6587) from c until
// it has n.
func readFrames(t *testing.T, c net.Conn, n int) []string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	var out []string
	for len(out) < n {
		l, err := r.ReadString(' ')
		if err != nil {
			t.Fatalf("reading a frame's length: %v", err)
		}
		size, err := strconv.Atoi(strings.TrimSuffix(l, " "))
		if err != nil {
			t.Fatalf("frame length %q: %v", l, err)
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(r, msg); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(msg))
	}
	return out
}

// checkSyslog checks a message's RFC 5424 header and its body.
func checkSyslog(t *testing.T, msg string, f *finding.Finding) {
	t.Helper()
	// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
	parts := strings.SplitN(msg, " ", 8)
	if len(parts) != 8 {
		t.Fatalf("message %q has %d parts", msg, len(parts))
	}
	pri := 10*8 + publish.SyslogSeverity(f.Severity)
	if want := "<" + strconv.Itoa(pri) + ">1"; parts[0] != want {
		t.Errorf("PRI and version %q, want %q", parts[0], want)
	}
	if _, err := time.Parse(time.RFC3339Nano, parts[1]); err != nil {
		t.Errorf("timestamp %q: %v", parts[1], err)
	}
	if parts[2] != "picket-test" || parts[3] != "picket" || parts[4] != "-" || parts[5] != "FINDING_NEW" || parts[6] != "-" {
		t.Errorf("header %q", parts[:7])
	}
	var got finding.Finding
	if err := json.Unmarshal([]byte(parts[7]), &got); err != nil || got.ID != f.ID {
		t.Errorf("body: finding %q, %v; want %s", got.ID, err, f.ID)
	}
}

func TestSyslogTCPAndTLS(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	cert := selfSigned(t)
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcp", true: "tls"}[useTLS], func(t *testing.T) {
			var ln net.Listener
			var err error
			s := &publish.Syslog{TargetName: "siem", Format: publish.FormatFinding, Hostname: "picket-test"}
			if useTLS {
				ln, err = tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
				pool := x509.NewCertPool()
				pool.AddCert(cert.Leaf)
				s.TLS = &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
			} else {
				ln, err = net.Listen("tcp", "127.0.0.1:0")
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			s.Addr = ln.Addr().String()
			defer s.Close()
			// Accept (and shake hands) while the sender dials.
			conns := make(chan net.Conn, 2)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						close(conns)
						return
					}
					if tc, ok := c.(*tls.Conn); ok {
						tc.Handshake()
					}
					conns <- c
				}
			}()
			evs := events(fx, 3)
			if err := s.Send(t.Context(), evs); err != nil {
				t.Fatal(err)
			}
			c := <-conns
			msgs := readFrames(t, c, 3)
			for i, m := range msgs {
				checkSyslog(t, m, evs[i].Finding)
			}
			// The receiver goes away: the next send fails, the one after
			// dials again.
			c.Close()
			deadline := time.Now().Add(2 * time.Second)
			for s.Send(t.Context(), evs[:1]) == nil && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if err := s.Send(t.Context(), evs[:1]); err != nil {
				t.Fatalf("send after redial: %v", err)
			}
			c = <-conns
			defer c.Close()
			checkSyslog(t, readFrames(t, c, 1)[0], evs[0].Finding)
		})
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

var testCreds = credentials.NewStaticCredentialsProvider("AKIDPICKETTEST000001", "picket-test-secret-key-0123456789", "")

// verifySigV4 signs a copy of r again with the test credentials at the
// time it carries and checks that the signatures agree.
func verifySigV4(r *http.Request, body []byte, service string) string {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDPICKETTEST000001/") || !strings.Contains(auth, "/us-east-1/"+service+"/aws4_request") {
		return "Authorization " + auth
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "X-Amz-Date: " + err.Error()
	}
	hash := sha256.Sum256(body)
	payload := hex.EncodeToString(hash[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payload {
		payload = h // UNSIGNED-PAYLOAD and the like
	}
	c := r.Clone(context.Background())
	// Only what was signed: the transport adds headers (Accept-Encoding)
	// after signing.
	_, signed, _ := strings.Cut(auth, "SignedHeaders=")
	signed, _, _ = strings.Cut(signed, ",")
	keep := map[string]bool{}
	for _, h := range strings.Split(signed, ";") {
		keep[http.CanonicalHeaderKey(h)] = true
	}
	for h := range c.Header {
		if !keep[h] {
			c.Header.Del(h)
		}
	}
	c.URL.Scheme, c.URL.Host = "http", r.Host
	creds, _ := testCreds.Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, c, payload, service, "us-east-1", at); err != nil {
		return err.Error()
	}
	if got := c.Header.Get("Authorization"); got != auth {
		return "signature differs:\n  sent " + auth + "\n  want " + got
	}
	return ""
}

// TestEventBridgePutEvents sends findings through the AWS SDK to a
// loopback server that checks the SigV4 signature and the PutEvents call.
func TestEventBridgePutEvents(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	var mu sync.Mutex
	var calls int
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if msg := verifySigV4(r, body, "events"); msg != "" {
			t.Errorf("request: %s", msg)
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		if tgt := r.Header.Get("X-Amz-Target"); tgt != "AWSEvents.PutEvents" {
			t.Errorf("X-Amz-Target %q", tgt)
		}
		var in struct{ Entries []map[string]any }
		if err := json.Unmarshal(body, &in); err != nil {
			t.Errorf("body: %v", err)
		}
		mu.Lock()
		calls++
		got = append(got, in.Entries...)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		out := `{"FailedEntryCount":0,"Entries":[` + strings.TrimSuffix(strings.Repeat(`{"EventId":"e"},`, len(in.Entries)), ",") + `]}`
		io.WriteString(w, out)
	}))
	defer srv.Close()
	client := eventbridge.New(eventbridge.Options{Region: "us-east-1", Credentials: testCreds, BaseEndpoint: aws.String(srv.URL)})
	b := &publish.EventBridge{TargetName: "bus", Client: client, Bus: "security"}
	evs := events(fx, 12)
	if err := b.Send(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	if calls != 2 || len(got) != 12 {
		t.Fatalf("%d calls with %d entries, want 2 with 12 (ten to a call)", calls, len(got))
	}
	for i, e := range got {
		if e["Source"] != publish.EventSource || e["DetailType"] != publish.DetailType || e["EventBusName"] != "security" {
			t.Errorf("entry %d: %v", i, e)
		}
		var f finding.Finding
		if err := json.Unmarshal([]byte(e["Detail"].(string)), &f); err != nil || f.ID != evs[i].Finding.ID {
			t.Errorf("entry %d detail: %q, %v", i, f.ID, err)
		}
	}
}

// TestS3Destination writes findings through the AWS SDK to a loopback
// S3-compatible server and reads back the gzip JSON-lines object.
func TestS3Destination(t *testing.T) {
	fx := newFixture(t, "SIX_HOURS")
	objects := map[string][]byte{}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if msg := verifySigV4(r, body, "s3"); msg != "" {
			t.Errorf("request: %s", msg)
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		if r.Method != http.MethodPut {
			http.Error(w, "only PUT", http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		objects[r.URL.Path] = body
		mu.Unlock()
		w.Header().Set("ETag", `"x"`)
	}))
	defer srv.Close()
	client := s3.New(s3.Options{Region: "us-east-1", Credentials: testCreds, BaseEndpoint: aws.String(srv.URL), UsePathStyle: true})
	d := &publish.S3{TargetName: "archive", Client: client, Bucket: "exports", Prefix: "picket/"}
	evs := events(fx, 3)
	for range 2 { // sending again writes the same object
		if err := d.Send(t.Context(), evs); err != nil {
			t.Fatal(err)
		}
	}
	if len(objects) != 1 {
		t.Fatalf("%d objects, want 1: %v", len(objects), objects)
	}
	for key, body := range objects {
		day := evs[0].CommittedAt.UTC().Format("2006/01/02")
		if prefix := "/exports/picket/AWSLogs/111122223333/GuardDuty/us-east-1/" + day + "/"; !strings.HasPrefix(key, prefix) || !strings.HasSuffix(key, ".jsonl.gz") {
			t.Errorf("key %s, want under %s and .jsonl.gz", key, prefix)
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		lines, _ := io.ReadAll(zr)
		sc := bufio.NewScanner(bytes.NewReader(lines))
		i := 0
		for sc.Scan() {
			var f finding.Finding
			if err := json.Unmarshal(sc.Bytes(), &f); err != nil || f.ID != evs[i].Finding.ID {
				t.Errorf("line %d: %q, %v", i+1, f.ID, err)
			}
			i++
		}
		if i != 3 {
			t.Errorf("%d lines, want 3", i)
		}
	}
}

package cloudtrail_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"picket/internal/decode/cloudtrail"
	"picket/internal/event"
)

// seeds returns the hand-written trails, each line of them, and damage.
func seeds(f *testing.F) [][]byte {
	var out [][]byte
	files := testFiles()
	for _, path := range files {
		if strings.HasSuffix(path, ".golden.json") {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, data)
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	for _, s := range []string{
		`{"eventTime":"2024-02-29T23:59:59-05:30","eventName":"X","readOnly":"true","sourceIPAddress":"fe80::1%eth0"}`,
		`{"eventTime":"2024-01-01T00:00:00Z","eventName":"\ud83d\ude00\ud800x\u0041","userIdentity":null,"tlsDetails":{}}`,
		`{"eventTime":"2024-01-01T00:00:00Z","eventName":"A","eventName":"B","userIdentity":{"type":"IAMUser"},"userIdentity":{"arn":"x"}}`,
		`{"version":"0","detail-type":"AWS API Call via CloudTrail","detail":{"eventTime":"2023-12-31T23:59:60Z","eventName":"Y"}}`,
		`{"eventTime":"2024-01-01T00:00:00Z","requestParameters":{"a":[1,-0.5e+3,true,null,{"b":"\""}]},"eventID":"\u0000"}`,
		`{"Records":[{"eventTime":"2024-01-01T00:00:00Z","eventName":"A"},{"eventTime":1}]}`,
		`[{"eventTime":"2024-01-01T00:00:00Z","eventName":"A"} {"eventTime":"2024-01-01T00:00:00Z"`,
		"2024-01-01T00:00:00.000Z {\"eventTime\":\"2024-01-01T00:00:00Z\",\"eventName\":\"A\"}\n\xef\xbb\xbf{",
		`{"logEvents":[{"message":"{\"eventTime\":\"2024-01-01T00:00:00Z\",\"eventName\":\"A\"}"},{"message":"CWL CONTROL MESSAGE"},7]}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// FuzzDecode decodes arbitrary bytes as one event and holds the decoder
// to encoding/json, the slow and obvious reference: it accepts valid JSON
// only (and every valid JSON object it rejects, it rejects for a wrong or
// missing value, not for syntax), and every field it decodes equals what
// encoding/json reads there.
func FuzzDecode(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := cloudtrail.NewDecoder("fuzz")
		var c event.APICall
		err := d.Decode(data, &c)
		valid := json.Valid(data)
		var pe *cloudtrail.ParseError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("error of type %T: %v", err, err)
		}
		switch {
		case err == nil && !valid:
			t.Fatalf("accepted invalid JSON %q", data)
		case err != nil && valid && (errors.Is(err, cloudtrail.ErrSyntax) || errors.Is(err, cloudtrail.ErrTruncated)):
			t.Fatalf("rejected valid JSON %q as malformed: %v", data, err)
		case err != nil && !valid && !errors.Is(err, cloudtrail.ErrSyntax) && !errors.Is(err, cloudtrail.ErrTruncated) &&
			!errors.Is(err, cloudtrail.ErrTooDeep) && !errors.Is(err, cloudtrail.ErrNotEvent):
			t.Fatalf("invalid JSON %q rejected for %v, not as malformed", data, err)
		}
		if err != nil {
			return
		}
		if !json.Valid(c.Raw) {
			t.Fatalf("raw bytes %q are not valid JSON", c.Raw)
		}
		if !utf8.Valid(data) {
			return // encoding/json replaces invalid UTF-8; picket keeps it
		}
		want := reference(t, data)
		if want == nil {
			return
		}
		if got := refView(&c); !reflect.DeepEqual(got, want) {
			t.Fatalf("decoding %q:\n got %v\nwant %v", data, got, want)
		}
	})
}

// reference decodes an event the obvious way, into the same view as
// refView, or nil where the two are not comparable.
func reference(t *testing.T, data []byte) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("json.Valid input does not unmarshal into a map: %v", err)
	}
	isEvent := false
	for _, k := range []string{"eventTime", "eventName", "eventSource", "eventVersion"} {
		if _, ok := m[k]; ok {
			isEvent = true
		}
	}
	if det, ok := m["detail"].(map[string]any); ok && !isEvent {
		m = det
	}
	out := map[string]any{}
	str := func(m map[string]any, k string) {
		if s, ok := m[k].(string); ok && s != "" {
			out[k] = s
		}
	}
	for _, k := range []string{"eventVersion", "eventSource", "eventName", "awsRegion", "recipientAccountId", "userAgent",
		"errorCode", "errorMessage", "eventType", "eventCategory", "vpcEndpointId", "eventID", "requestID"} {
		str(m, k)
	}
	if s, ok := m["sourceIPAddress"].(string); ok && s != "" {
		if a, err := netip.ParseAddr(s); err == nil {
			out["ip"] = a.Unmap().String()
		} else {
			out["service"] = s
		}
	}
	for _, k := range []string{"readOnly", "managementEvent"} {
		switch v := m[k].(type) {
		case bool:
			out[k] = v
		case string:
			if v == "true" || v == "false" {
				out[k] = v == "true"
			}
		}
	}
	if id, ok := m["userIdentity"].(map[string]any); ok {
		for _, k := range []string{"type", "principalId", "arn", "accountId", "accessKeyId", "userName", "invokedBy"} {
			if s, ok := id[k].(string); ok && s != "" {
				out["userIdentity."+k] = s
			}
		}
	}
	if rp, ok := m["requestParameters"]; ok && rp != nil {
		out["requestParameters"] = rp
	}
	ts, _ := m["eventTime"].(string)
	if ts == "" {
		ts, _ = m["@timestamp"].(string)
	}
	layouts := []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"}
	parsed := false
	for _, l := range layouts {
		if tm, err := time.Parse(l, ts); err == nil {
			out["eventTime"] = tm.Unix()
			parsed = true
			break
		}
	}
	if !parsed {
		return nil // picket is more lenient (lowercase t and z): not comparable
	}
	return out
}

func refView(c *event.APICall) map[string]any {
	out := map[string]any{}
	for k, v := range map[string]event.ID{
		"eventVersion": c.Version, "eventSource": c.EventSource, "eventName": c.EventName, "awsRegion": c.Region,
		"recipientAccountId": c.Account, "userAgent": c.UserAgent, "errorCode": c.ErrorCode, "errorMessage": c.ErrorMessage,
		"eventType": c.EventType, "eventCategory": c.EventCategory, "vpcEndpointId": c.VPCEndpointID, "service": c.SourceService,
		"userIdentity.type": c.Identity.TypeName, "userIdentity.principalId": c.Identity.PrincipalID,
		"userIdentity.arn": c.Identity.ARN, "userIdentity.accountId": c.Identity.AccountID,
		"userIdentity.accessKeyId": c.Identity.AccessKeyID, "userIdentity.userName": c.Identity.UserName,
		"userIdentity.invokedBy": c.Identity.InvokedBy,
	} {
		if s := v.String(); s != "" {
			out[k] = s
		}
	}
	if len(c.EventID) > 0 {
		out["eventID"] = string(c.EventID)
	}
	if len(c.RequestID) > 0 {
		out["requestID"] = string(c.RequestID)
	}
	if c.SourceIP.IsValid() {
		out["ip"] = c.SourceIP.String()
	}
	if c.ReadOnly.IsSet() {
		out["readOnly"] = c.ReadOnly.True()
	}
	if c.ManagementEvent.IsSet() {
		out["managementEvent"] = c.ManagementEvent.True()
	}
	if c.RequestParameters != nil {
		var v any
		json.Unmarshal(c.RequestParameters, &v)
		out["requestParameters"] = v
	}
	out["eventTime"] = int64(c.EventTime)
	return out
}

// FuzzReader feeds arbitrary streams to the Reader: it must never panic
// or loop, must report only *ParseError values (the input itself cannot
// fail), must make progress with every call, and every event it delivers
// must be valid JSON with an event time.
func FuzzReader(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s, uint16(0))
	}
	f.Add([]byte(`{"Records":[{"eventTime":"2024-01-01T00:00:00Z","eventName":"`+strings.Repeat("x", 5000)+`"}]}`), uint16(4096))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		r := cloudtrail.NewReader(bytes.NewReader(data), "fuzz")
		if limit > 0 {
			r.SetMaxEvent(int(limit))
		}
		var c event.APICall
		for calls := 0; ; calls++ {
			if calls > 2*len(data)+10 {
				t.Fatalf("no end after %d calls on %d bytes", calls, len(data))
			}
			err := r.Next(&c)
			if errors.Is(err, io.EOF) {
				return
			}
			var pe *cloudtrail.ParseError
			if err != nil {
				if !errors.As(err, &pe) {
					t.Fatalf("error of type %T: %v", err, err)
				}
				if pe.Error() == "" || pe.Reason() == "other" {
					t.Fatalf("unclear error %#v", pe)
				}
				continue
			}
			if !json.Valid(c.Raw) {
				t.Fatalf("raw bytes %q are not valid JSON", c.Raw)
			}
			if c.EventTime == 0 && !bytes.Contains(c.Raw, []byte("1970-01-01")) {
				t.Fatalf("event without a time: %q", c.Raw)
			}
		}
	})
}

package cloudtrail_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/decode"
	"picket/internal/decode/cloudtrail"
	"picket/internal/event"
)

var update = flag.Bool("update", false, "rewrite golden files")

// view renders an APICall as field name -> value for every field it
// holds, named as in CloudTrail.
func view(c *event.APICall) map[string]string {
	m := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	id := &c.Identity
	s := &id.Session
	set("(origin)", c.Origin.String())
	set("eventTime", c.EventTime.String())
	if s.Created != 0 {
		set("userIdentity.sessionContext.attributes.creationDate", s.Created.String())
	}
	for k, v := range map[string]event.ID{
		"eventVersion": c.Version, "eventSource": c.EventSource, "eventName": c.EventName, "awsRegion": c.Region,
		"recipientAccountId": c.Account, "apiVersion": c.APIVersion, "sourceIPAddress(service)": c.SourceService,
		"userAgent": c.UserAgent, "errorCode": c.ErrorCode, "errorMessage": c.ErrorMessage, "eventType": c.EventType,
		"eventCategory": c.EventCategory, "vpcEndpointId": c.VPCEndpointID, "vpcEndpointAccountId": c.VPCEndpointAccountID,
		"tlsDetails.tlsVersion": c.TLS.Version, "tlsDetails.cipherSuite": c.TLS.CipherSuite,
		"tlsDetails.clientProvidedHostHeader": c.TLS.ClientHost,
		"userIdentity.type":                   id.TypeName, "userIdentity.principalId": id.PrincipalID, "userIdentity.arn": id.ARN,
		"userIdentity.accountId": id.AccountID, "userIdentity.accessKeyId": id.AccessKeyID,
		"userIdentity.userName": id.UserName, "userIdentity.invokedBy": id.InvokedBy,
		"userIdentity.identityProvider": id.IdentityProvider, "userIdentity.credentialId": id.CredentialID,
		"userIdentity.onBehalfOf.userId": id.OnBehalfOf.UserID, "userIdentity.onBehalfOf.identityStoreArn": id.OnBehalfOf.IdentityStoreARN,
		"userIdentity.sessionContext.sessionIssuer.type":                    s.Issuer.Type,
		"userIdentity.sessionContext.sessionIssuer.principalId":             s.Issuer.PrincipalID,
		"userIdentity.sessionContext.sessionIssuer.arn":                     s.Issuer.ARN,
		"userIdentity.sessionContext.sessionIssuer.accountId":               s.Issuer.AccountID,
		"userIdentity.sessionContext.sessionIssuer.userName":                s.Issuer.UserName,
		"userIdentity.sessionContext.sourceIdentity":                        s.SourceIdentity,
		"userIdentity.sessionContext.ec2RoleDelivery":                       s.EC2RoleDelivery,
		"userIdentity.sessionContext.webIdFederationData.federatedProvider": s.FederatedProvider,
	} {
		set(k, v.String())
	}
	if c.SourceIP.IsValid() {
		set("sourceIPAddress", c.SourceIP.String())
	}
	if id.Type != event.IdentityNone {
		set("(identity type)", id.Type.String())
	}
	if n := id.SessionName(); n != "" {
		set("(session name)", n)
	}
	for k, v := range map[string]event.Tri{
		"readOnly": c.ReadOnly, "managementEvent": c.ManagementEvent,
		"sessionCredentialFromConsole":                            c.SessionCredentialFromConsole,
		"userIdentity.sessionContext.attributes.mfaAuthenticated": s.MFAAuthenticated,
		"userIdentity.sessionContext.assumedRoot":                 s.AssumedRoot,
	} {
		if v.IsSet() {
			set(k, v.String())
		}
	}
	for k, v := range map[string][]byte{
		"eventID": c.EventID, "requestID": c.RequestID, "sharedEventID": c.SharedEventID,
		"requestParameters": c.RequestParameters, "responseElements": c.ResponseElements, "resources": c.Resources,
		"additionalEventData": c.AdditionalEventData, "serviceEventDetails": c.ServiceEventDetails,
	} {
		set(k, string(v))
	}
	if c.Failed() {
		set("(failed)", "true")
	}
	if c.ByAWSService() {
		set("(by AWS service)", "true")
	}
	set("(raw bytes)", strings.Repeat("", 0)+itoa(len(c.Raw)))
	return m
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// testFiles returns the hand-written trails in testdata.
func testFiles() []string {
	files, _ := filepath.Glob("testdata/*.*")
	var out []string
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() && !strings.HasSuffix(f, ".golden.json") {
			out = append(out, f)
		}
	}
	return out
}

type golden struct {
	Events []map[string]string `json:"events"`
	Errors []string            `json:"errors,omitempty"`
}

func decodeFile(t *testing.T, path string) golden {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res := decodeAll(filepath.Base(path), data)
	if res.fatal != nil {
		t.Fatalf("%s: %v", path, res.fatal)
	}
	var g golden
	for _, c := range res.events {
		if !json.Valid(c.Raw) {
			t.Errorf("%s: raw bytes are not valid JSON: %q", c.Origin, c.Raw)
		}
		g.Events = append(g.Events, view(c))
	}
	for _, e := range res.errs {
		g.Errors = append(g.Errors, e.Error()+" ["+e.Reason()+"]")
	}
	return g
}

// TestGolden decodes the hand-written trails in testdata (every
// userIdentity type, every field, every input shape, and malformed
// trails) and compares every field of every event, and every error, with
// testdata/*.golden.json.
func TestGolden(t *testing.T) {
	files := testFiles()
	n := 0
	for _, path := range files {
		if strings.HasSuffix(path, ".golden.json") {
			continue
		}
		n++
		t.Run(filepath.Base(path), func(t *testing.T) {
			head, _ := os.ReadFile(path)
			if f := decode.Detect(head[:min(len(head), 4096)]); f != decode.CloudTrail {
				t.Errorf("detected as %v, not CloudTrail", f)
			}
			g := decodeFile(t, path)
			got, _ := json.MarshalIndent(g, "", "  ")
			goldenPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".golden.json"
			if *update {
				os.WriteFile(goldenPath, append(got, '\n'), 0o644)
				return
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if diff := cmp.Diff(string(want), string(got)+"\n"); diff != "" {
				t.Errorf("decoded events differ from %s (-want +got):\n%s", goldenPath, diff)
			}
		})
	}
	if n == 0 {
		t.Fatal("no testdata")
	}
}

// TestIdentityTypes checks that the hand-written trails cover every
// userIdentity type.
func TestIdentityTypes(t *testing.T) {
	seen := map[event.IdentityType]bool{}
	files := testFiles()
	for _, path := range files {
		data, _ := os.ReadFile(path)
		for _, c := range decodeAll(path, data).events {
			seen[c.Identity.Type] = true
		}
	}
	for typ := event.IdentityIAMUser; typ < event.IdentityOther; typ++ {
		if typ == event.IdentityRole {
			continue // a sessionIssuer type, never a caller's
		}
		if !seen[typ] {
			t.Errorf("no hand-written event with userIdentity.type %s", typ)
		}
	}
	if !seen[event.IdentityNone] {
		t.Error("no hand-written event without userIdentity.type")
	}
}

// TestBrokenTrail checks what the malformed trail must give: every good
// event, and one clear error per bad one with the record, field and reason.
func TestBrokenTrail(t *testing.T) {
	data, err := os.ReadFile("testdata/broken.json")
	if err != nil {
		t.Fatal(err)
	}
	res := decodeAll("broken.json", data)
	var names []string
	for _, c := range res.events {
		names = append(names, c.EventName.String())
	}
	if diff := cmp.Diff([]string{"GoodA", "GoodB", "GoodC", "GoodD"}, names); diff != "" {
		t.Errorf("good events (-want +got):\n%s", diff)
	}
	type want struct {
		record int64
		field  string
		reason string
	}
	wants := []want{
		{2, "eventTime", "type"},
		{4, "", "syntax"},
		{5, "userIdentity", "type"},
		{6, "", "syntax"},
		{8, "eventTime", "value"},
		{9, "eventTime", "missing-field"},
		{10, "", "not-an-event"},
		{11, "", "not-an-event"},
		{12, "userAgent", "syntax"},
		{13, "readOnly", "value"},
		{14, "userAgent", "type"},
	}
	var got []want
	for _, e := range res.errs {
		got = append(got, want{e.Record, e.Field, e.Reason()})
	}
	if diff := cmp.Diff(wants, got, cmp.AllowUnexported(want{})); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if res.errs[0].Value != "1709290802" || res.errs[0].Line != 3 {
		t.Errorf("the eventTime error should show the value and line: %v", res.errs[0])
	}
}

// TestReuse checks that a Reader reset for another input starts over:
// records, lines and frames.
func TestReuse(t *testing.T) {
	data, _ := os.ReadFile("testdata/broken-lines.jsonl")
	good, _ := os.ReadFile("testdata/records.json")
	r := cloudtrail.NewReader(bytes.NewReader(data), "a")
	var c event.APICall
	for {
		if err := r.Next(&c); errors.Is(err, io.EOF) {
			break
		}
	}
	r.Reset(bytes.NewReader(good), "b")
	if err := r.Next(&c); err != nil {
		t.Fatal(err)
	}
	if c.Origin.String() != "b:1" || c.EventName.String() != "ListRoles" {
		t.Errorf("after Reset: %s %s", c.Origin, c.EventName)
	}
}

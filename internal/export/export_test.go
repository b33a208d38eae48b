package export

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"picket/internal/finding"
)

func sample() *finding.Finding {
	f := finding.New(finding.TypePortProbeUnprotectedPort, finding.Key{Account: "123456789012", Region: "eu-west-1", Resource: "i-0abc"},
		"d0", time.Unix(1767225600, 0), time.Unix(1767225660, 0), 3)
	f.Resource.InstanceDetails = &finding.InstanceDetails{InstanceID: "i-0abc", NetworkInterfaces: []finding.NetworkInterface{{NetworkInterfaceID: "eni-1"}}}
	f.Service.Action.PortProbeAction = &finding.PortProbeAction{PortProbeDetails: []finding.PortProbeDetail{
		{LocalPortDetails: finding.Port(22), RemoteIPDetails: &finding.RemoteIPDetails{IPAddressV4: "198.51.100.7"}},
		{LocalPortDetails: finding.Port(22), RemoteIPDetails: &finding.RemoteIPDetails{IPAddressV4: "198.51.100.8"}},
	}}
	f.Title, f.Description = "A title.", "A description."
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: &finding.Explanation{
		Detector: "portprobe", Summary: "why it fired",
		Thresholds: []finding.Threshold{{Name: "min_probes", Limit: 5, Observed: 8, Unit: "contacts", Crossed: true}},
		Samples:    []finding.Sample{{Origin: "flows.log:12", Record: "198.51.100.7:1 -> 10.0.0.5:22 TCP rejected"}},
	}}
	return f
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, []*finding.Finding{sample()}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"Low 2.0", "Recon:EC2/PortProbeUnprotectedPort", "i-0abc (eni-1)", "198.51.100.7 +1",
		"why: why it fired", "min_probes", "observed 8, limit 5 contacts (crossed)", "evidence: flows.log:12"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	WriteTable(&b, nil)
	if b.String() != "No findings.\n" {
		t.Errorf("empty table: %q", b.String())
	}
}

func TestJSONShapes(t *testing.T) {
	var b bytes.Buffer
	WriteJSON(&b, nil)
	if strings.TrimSpace(b.String()) != `{
  "findings": []
}` {
		t.Errorf("no findings must print an empty list: %s", b.String())
	}
	b.Reset()
	WriteJSONL(&b, []*finding.Finding{sample(), sample()})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	var f finding.Finding
	if err := json.Unmarshal([]byte(lines[0]), &f); err != nil || f.Service.AdditionalInfo.Explanation.Detector != "portprobe" {
		t.Errorf("a JSON line does not read back: %v", err)
	}
	if _, err := ParseFormat("yaml"); err == nil {
		t.Error("unknown format accepted")
	}
}

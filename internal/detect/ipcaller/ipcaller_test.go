package ipcaller

import (
	"testing"

	"picket/internal/detect"
	"picket/internal/finding"
)

func TestTypeOf(t *testing.T) {
	for _, tt := range []struct {
		api  string
		kind detect.ThreatKind
		want string
	}{
		{"ListBuckets", detect.ThreatCustom, finding.TypeReconMaliciousIPCustom},
		{"CreateAccessKey", detect.ThreatCustom, finding.TypeUnauthMaliciousIPCustom},
		{"DescribeInstances", detect.ThreatTor, finding.TypeReconTorIPCaller},
		{"GetSecretValue", detect.ThreatTor, finding.TypeUnauthTorIPCaller},
	} {
		if got := TypeOf(tt.api, tt.kind); got != tt.want {
			t.Errorf("TypeOf(%s, %v) = %s, want %s", tt.api, tt.kind, got, tt.want)
		}
	}
}

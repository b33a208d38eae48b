package finding

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestResourceID(t *testing.T) {
	tests := []struct {
		name string
		r    Resource
		want string
	}{
		{"instance", Resource{InstanceDetails: &InstanceDetails{InstanceID: "i-1", NetworkInterfaces: []NetworkInterface{{NetworkInterfaceID: "eni-1"}}}}, "i-1"},
		{"interface of an unnamed instance", Resource{InstanceDetails: &InstanceDetails{NetworkInterfaces: []NetworkInterface{{NetworkInterfaceID: "eni-1", PrivateIPAddress: "10.0.0.1"}}}}, "eni-1"},
		{"address of an unnamed interface", Resource{InstanceDetails: &InstanceDetails{NetworkInterfaces: []NetworkInterface{{PrivateIPAddress: "10.0.0.1"}}}}, "10.0.0.1"},
		{"IPv6 address", Resource{InstanceDetails: &InstanceDetails{NetworkInterfaces: []NetworkInterface{{Ipv6Addresses: []string{"2001:db8::1"}}}}}, "2001:db8::1"},
		{"access key", Resource{AccessKeyDetails: &AccessKeyDetails{AccessKeyID: "AKIA1"}}, "AKIA1"},
		{"ECS cluster ARN", Resource{EcsClusterDetails: &EcsClusterDetails{Arn: "arn:c", Name: "c"}}, "arn:c"},
		{"ECS cluster name", Resource{EcsClusterDetails: &EcsClusterDetails{Name: "c"}}, "c"},
		{"container", Resource{ContainerDetails: &Container{ID: "k"}}, "k"},
		{"nothing", Resource{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.ID(); got != tt.want {
				t.Errorf("ID() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestInstanceIDPresent: instanceDetails always carries instanceId, as
// GuardDuty's do, empty when the records did not name the instance.
func TestInstanceIDPresent(t *testing.T) {
	b, err := json.Marshal(InstanceDetails{NetworkInterfaces: []NetworkInterface{{NetworkInterfaceID: "eni-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"instanceId":""`) {
		t.Errorf("instanceDetails %s has no instanceId", b)
	}
}

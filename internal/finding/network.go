package finding

import (
	"net/netip"

	"picket/internal/event"
)

// LocalIP returns the local address details for a.
func LocalIP(a netip.Addr) *LocalIPDetails {
	if a.Is4() {
		return &LocalIPDetails{IPAddressV4: a.String()}
	}
	return &LocalIPDetails{IPAddressV6: a.String()}
}

// RemoteIP returns the remote address details for a, without enrichment.
func RemoteIP(a netip.Addr) *RemoteIPDetails {
	if a.Is4() {
		return &RemoteIPDetails{IPAddressV4: a.String()}
	}
	return &RemoteIPDetails{IPAddressV6: a.String()}
}

// Protocol returns the protocol name GuardDuty uses for an IP protocol
// number.
func Protocol(p uint8) string {
	switch p {
	case event.ProtoTCP:
		return "TCP"
	case event.ProtoUDP:
		return "UDP"
	case event.ProtoICMP:
		return "ICMP"
	case event.ProtoICMPv6:
		return "ICMPv6"
	}
	return "UNKNOWN"
}

// ResourceID returns the ID a network finding about a contact's interface
// is keyed and titled by: the instance, else the interface, else the local
// address.
func ResourceID(c *event.Contact) string {
	switch {
	case !c.Instance.IsZero():
		return c.Instance.String()
	case !c.Interface.IsZero():
		return c.Interface.String()
	}
	return c.Local.String()
}

// ResourceLabel names a contact's resource for titles: "EC2 instance
// i-...", or "network interface eni-..." when the records did not name the
// instance.
func ResourceLabel(c *event.Contact) string {
	switch {
	case !c.Instance.IsZero():
		return "EC2 instance " + c.Instance.String()
	case !c.Interface.IsZero():
		return "network interface " + c.Interface.String()
	}
	return "host " + c.Local.String()
}

// InstanceFor describes the instance behind a contact's interface with
// what the flow records tell: the instance and interface IDs, the
// interface's address, subnet and VPC. An inventory fills in the rest.
func InstanceFor(c *event.Contact) *InstanceDetails {
	ni := NetworkInterface{
		NetworkInterfaceID: c.Interface.String(),
		SubnetID:           c.Subnet.String(),
		VpcID:              c.VPC.String(),
	}
	if c.Local.Is4() {
		ni.PrivateIPAddress = c.Local.String()
		ni.PrivateIPAddresses = []PrivateIPAddress{{PrivateIPAddress: ni.PrivateIPAddress}}
	} else if c.Local.IsValid() {
		ni.Ipv6Addresses = []string{c.Local.String()}
	}
	return &InstanceDetails{
		InstanceID:        c.Instance.String(),
		NetworkInterfaces: []NetworkInterface{ni},
	}
}

// ECSFor describes the ECS task behind a contact's interface, or nil when
// the records named none.
func ECSFor(c *event.Contact) *EcsClusterDetails {
	e := &c.ECS
	if e.ClusterARN.IsZero() && e.ClusterName.IsZero() && e.TaskARN.IsZero() {
		return nil
	}
	task := &EcsTaskDetails{
		Arn:           e.TaskARN.String(),
		DefinitionArn: e.TaskDefinitionARN.String(),
		Group:         servicePrefix(e.ServiceName.String()),
	}
	for _, id := range []event.ID{e.ContainerID, e.SecondContainerID} {
		if !id.IsZero() {
			task.Containers = append(task.Containers, Container{ID: id.String()})
		}
	}
	if e.ContainerInstanceARN.IsZero() {
		task.LaunchType = "FARGATE"
	} else {
		task.LaunchType = "EC2"
	}
	return &EcsClusterDetails{
		Name:        e.ClusterName.String(),
		Arn:         e.ClusterARN.String(),
		TaskDetails: task,
	}
}

func servicePrefix(name string) string {
	if name == "" {
		return ""
	}
	return "service:" + name
}

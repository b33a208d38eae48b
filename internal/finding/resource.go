package finding

// ID returns the ID a finding's resource goes by, as GetFindingsStatistics
// groups by resource: the instance; else, for an instance the records did
// not name (flow logs of the default format carry no instance-id), its
// network interface, then its private address, as the finding is keyed;
// else the access key; else the ECS cluster (ARN, then name); else the
// container; else "".
func (r *Resource) ID() string {
	if d := r.InstanceDetails; d != nil {
		if d.InstanceID != "" {
			return d.InstanceID
		}
		for _, ni := range d.NetworkInterfaces {
			if ni.NetworkInterfaceID != "" {
				return ni.NetworkInterfaceID
			}
		}
		for _, ni := range d.NetworkInterfaces {
			switch {
			case ni.PrivateIPAddress != "":
				return ni.PrivateIPAddress
			case len(ni.Ipv6Addresses) > 0:
				return ni.Ipv6Addresses[0]
			}
		}
	}
	switch {
	case r.AccessKeyDetails != nil && r.AccessKeyDetails.AccessKeyID != "":
		return r.AccessKeyDetails.AccessKeyID
	case r.EcsClusterDetails != nil && r.EcsClusterDetails.Arn != "":
		return r.EcsClusterDetails.Arn
	case r.EcsClusterDetails != nil && r.EcsClusterDetails.Name != "":
		return r.EcsClusterDetails.Name
	case r.ContainerDetails != nil:
		return r.ContainerDetails.ID
	}
	return ""
}

package finding

import (
	"maps"
	"slices"
)

// Clone returns a deep copy of f: every pointer, slice and map of the
// copy is its own, so changing the copy never changes f. Nil slices and
// maps stay nil and empty ones stay empty, so the copy encodes to the
// same JSON. Clone(nil) is nil. It takes about a twentieth of the time
// and a fifth of the memory of a round trip through JSON
// (BenchmarkClone).
//
// A field added to the model that holds a pointer, slice or map must be
// copied here; TestCloneSharesNothing fails until it is.
func (f *Finding) Clone() *Finding {
	if f == nil {
		return nil
	}
	c := *f
	c.Resource = f.Resource.clone()
	c.Service = f.Service.clone()
	return &c
}

// clonePtr returns a copy of *p in new memory, nil for nil; for structs
// without pointers, slices or maps.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// cloneEach returns a new slice of copies of s's elements made by clone,
// nil for nil.
func cloneEach[S ~[]E, E any](s S, clone func(E) E) S {
	if s == nil {
		return nil
	}
	out := make(S, len(s))
	for i, e := range s {
		out[i] = clone(e)
	}
	return out
}

func (r Resource) clone() Resource {
	r.InstanceDetails = r.InstanceDetails.clone()
	r.AccessKeyDetails = clonePtr(r.AccessKeyDetails)
	r.EcsClusterDetails = r.EcsClusterDetails.clone()
	r.ContainerDetails = clonePtr(r.ContainerDetails)
	r.S3BucketDetails = cloneEach(r.S3BucketDetails, S3BucketDetail.clone)
	return r
}

func (d *InstanceDetails) clone() *InstanceDetails {
	if d == nil {
		return nil
	}
	c := *d
	c.IamInstanceProfile = clonePtr(d.IamInstanceProfile)
	c.NetworkInterfaces = cloneEach(d.NetworkInterfaces, NetworkInterface.clone)
	c.ProductCodes = slices.Clone(d.ProductCodes)
	c.Tags = slices.Clone(d.Tags)
	return &c
}

func (n NetworkInterface) clone() NetworkInterface {
	n.Ipv6Addresses = slices.Clone(n.Ipv6Addresses)
	n.PrivateIPAddresses = slices.Clone(n.PrivateIPAddresses)
	n.SecurityGroups = slices.Clone(n.SecurityGroups)
	return n
}

func (e *EcsClusterDetails) clone() *EcsClusterDetails {
	if e == nil {
		return nil
	}
	c := *e
	c.TaskDetails = e.TaskDetails.clone()
	c.Tags = slices.Clone(e.Tags)
	return &c
}

func (t *EcsTaskDetails) clone() *EcsTaskDetails {
	if t == nil {
		return nil
	}
	c := *t
	c.Containers = slices.Clone(t.Containers)
	c.Tags = slices.Clone(t.Tags)
	return &c
}

func (s Service) clone() Service {
	s.Action = s.Action.clone()
	s.Evidence = s.Evidence.clone()
	s.AdditionalInfo = s.AdditionalInfo.clone()
	s.Detection = s.Detection.clone()
	return s
}

func (a Action) clone() Action {
	a.AwsAPICallAction = a.AwsAPICallAction.clone()
	a.DNSRequestAction = clonePtr(a.DNSRequestAction)
	a.NetworkConnectionAction = a.NetworkConnectionAction.clone()
	a.PortProbeAction = a.PortProbeAction.clone()
	return a
}

func (a *AwsAPICallAction) clone() *AwsAPICallAction {
	if a == nil {
		return nil
	}
	c := *a
	c.DomainDetails = clonePtr(a.DomainDetails)
	c.RemoteIPDetails = a.RemoteIPDetails.clone()
	c.RemoteAccountDetails = clonePtr(a.RemoteAccountDetails)
	c.AffectedResources = maps.Clone(a.AffectedResources)
	return &c
}

func (n *NetworkConnectionAction) clone() *NetworkConnectionAction {
	if n == nil {
		return nil
	}
	c := *n
	c.LocalPortDetails = clonePtr(n.LocalPortDetails)
	c.LocalIPDetails = clonePtr(n.LocalIPDetails)
	c.RemoteIPDetails = n.RemoteIPDetails.clone()
	c.RemotePortDetails = clonePtr(n.RemotePortDetails)
	return &c
}

func (p *PortProbeAction) clone() *PortProbeAction {
	if p == nil {
		return nil
	}
	c := *p
	c.PortProbeDetails = cloneEach(p.PortProbeDetails, PortProbeDetail.clone)
	return &c
}

func (d PortProbeDetail) clone() PortProbeDetail {
	d.LocalPortDetails = clonePtr(d.LocalPortDetails)
	d.LocalIPDetails = clonePtr(d.LocalIPDetails)
	d.RemoteIPDetails = d.RemoteIPDetails.clone()
	return d
}

func (r *RemoteIPDetails) clone() *RemoteIPDetails {
	if r == nil {
		return nil
	}
	c := *r
	c.City = clonePtr(r.City)
	c.Country = clonePtr(r.Country)
	c.GeoLocation = clonePtr(r.GeoLocation)
	c.Organization = clonePtr(r.Organization)
	return &c
}

func (e *Evidence) clone() *Evidence {
	if e == nil {
		return nil
	}
	c := *e
	c.ThreatIntelligenceDetails = cloneEach(e.ThreatIntelligenceDetails, ThreatIntelligenceDetail.clone)
	return &c
}

func (d ThreatIntelligenceDetail) clone() ThreatIntelligenceDetail {
	d.ThreatNames = slices.Clone(d.ThreatNames)
	return d
}

func (a *AdditionalInfo) clone() *AdditionalInfo {
	if a == nil {
		return nil
	}
	c := *a
	c.Explanation = a.Explanation.clone()
	return &c
}

func (e *Explanation) clone() *Explanation {
	if e == nil {
		return nil
	}
	c := *e
	c.Thresholds = slices.Clone(e.Thresholds)
	c.Counts = maps.Clone(e.Counts)
	c.Ports = slices.Clone(e.Ports)
	c.Hosts = slices.Clone(e.Hosts)
	c.Samples = slices.Clone(e.Samples)
	c.NetworkPath = slices.Clone(e.NetworkPath)
	c.Unusual = slices.Clone(e.Unusual)
	c.APICalls = slices.Clone(e.APICalls)
	c.ErrorCodes = slices.Clone(e.ErrorCodes)
	c.Regions = slices.Clone(e.Regions)
	c.UserAgents = slices.Clone(e.UserAgents)
	c.Sources = slices.Clone(e.Sources)
	c.Rules = slices.Clone(e.Rules)
	c.Remediation = slices.Clone(e.Remediation)
	return &c
}

func (d *Detection) clone() *Detection {
	if d == nil {
		return nil
	}
	c := *d
	c.Anomaly = d.Anomaly.clone()
	c.Sequence = d.Sequence.clone()
	return &c
}

func (a *Anomaly) clone() *Anomaly {
	if a == nil {
		return nil
	}
	c := *a
	if a.Profiles != nil {
		c.Profiles = make(map[string]map[string][]AnomalyObject, len(a.Profiles))
		for k, byFeature := range a.Profiles {
			if byFeature == nil {
				c.Profiles[k] = nil
				continue
			}
			m := make(map[string][]AnomalyObject, len(byFeature))
			for f, objs := range byFeature {
				m[f] = cloneEach(objs, AnomalyObject.clone)
			}
			c.Profiles[k] = m
		}
	}
	c.Unusual = a.Unusual.clone()
	return &c
}

func (u *AnomalyUnusual) clone() *AnomalyUnusual {
	if u == nil {
		return nil
	}
	c := *u
	if u.Behavior != nil {
		c.Behavior = make(map[string]map[string]AnomalyObject, len(u.Behavior))
		for k, byFeature := range u.Behavior {
			if byFeature == nil {
				c.Behavior[k] = nil
				continue
			}
			m := make(map[string]AnomalyObject, len(byFeature))
			for f, o := range byFeature {
				m[f] = o.clone()
			}
			c.Behavior[k] = m
		}
	}
	return &c
}

func (o AnomalyObject) clone() AnomalyObject {
	if o.Observations != nil {
		obs := *o.Observations
		obs.Text = slices.Clone(obs.Text)
		o.Observations = &obs
	}
	return o
}

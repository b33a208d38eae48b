package api

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"picket/internal/finding"
	"picket/internal/store"
)

type sampleInput struct {
	FindingTypes []string `json:"findingTypes"`
}

// createSampleFindings stores one sample finding of each type asked for,
// or of every type picket raises. Samples carry GuardDuty's placeholder
// values and "sample": true in service.additionalInfo; their IDs derive
// from the type, so asking again updates the same samples.
func (h *Handler) createSampleFindings(rq *request) (any, error) {
	var in sampleInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	if err := count("findingTypes", len(in.FindingTypes), 0, 50); err != nil {
		return nil, err
	}
	var types []finding.Type
	for _, name := range in.FindingTypes {
		t, ok := finding.Lookup(name)
		if !ok {
			return nil, invalidParam("findingTypes", fmt.Errorf("%q is not a finding type picket raises", truncate(name, 128)))
		}
		if !slices.ContainsFunc(types, func(u finding.Type) bool { return u.Name == t.Name }) {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		types = finding.Types()
	}
	now := h.now().UTC().Truncate(time.Millisecond)
	b := store.Batch{Findings: make([]*finding.Finding, 0, len(types))}
	for _, t := range types {
		b.Findings = append(b.Findings, sample(t, d, now))
	}
	if err := h.store.Commit(rq.ctx, b); err != nil {
		return nil, fmt.Errorf("storing %d sample findings in detector %s: %w", len(b.Findings), d.ID, err)
	}
	return nil, nil
}

// Placeholder values of sample findings, as GuardDuty's samples have them.
const (
	sampleInstance   = "i-99999999"
	sampleRemoteIP   = "198.51.100.0"
	sampleLocalIP    = "10.0.0.1"
	sampleAccessKey  = "GeneratedFindingAccessKeyId"
	sampleUserName   = "GeneratedFindingUserName"
	sampleAPI        = "GeneratedFindingAPIName"
	sampleDomain     = "GeneratedFindingDomainName"
	sampleThreatList = "GeneratedFindingThreatListName"
	sampleUserAgent  = "GeneratedFindingUserAgent"
)

// sample builds the sample finding of type t.
func sample(t finding.Type, d *store.Detector, now time.Time) *finding.Finding {
	key := finding.Key{Account: d.Account, Region: d.Region, Role: finding.RoleTarget, Actor: "sample"}
	resource := "EC2 instance " + sampleInstance
	if t.ResourceType == finding.ResourceAccessKey {
		key.Resource = sampleAccessKey
		resource = sampleUserName
	} else {
		key.Resource = sampleInstance
	}
	f := finding.New(t.Name, key, d.ID, now, now, 1)
	remote := &finding.RemoteIPDetails{
		City:         &finding.City{CityName: "GeneratedFindingCityName"},
		Country:      &finding.Country{CountryName: "GeneratedFindingCountryName"},
		GeoLocation:  &finding.GeoLocation{Lat: 0, Lon: 0},
		IPAddressV4:  sampleRemoteIP,
		Organization: &finding.Organization{Asn: "-1", AsnOrg: "GeneratedFindingASNOrg", Isp: "GeneratedFindingISP", Org: "GeneratedFindingORG"},
	}
	port := samplePort(t.Name)

	switch t.ResourceType {
	case finding.ResourceAccessKey:
		f.Resource.AccessKeyDetails = &finding.AccessKeyDetails{
			AccessKeyID: sampleAccessKey, PrincipalID: "GeneratedFindingPrincipalId",
			UserName: sampleUserName, UserType: "IAMUser",
		}
	default:
		f.Resource.InstanceDetails = &finding.InstanceDetails{
			AvailabilityZone: "GeneratedFindingInstanceAvailabilityZone",
			IamInstanceProfile: &finding.IamInstanceProfile{
				Arn: "arn:" + finding.Partition(d.Region) + ":iam::" + d.Account + ":example/instance/profile",
				ID:  "GeneratedFindingInstanceProfileId",
			},
			ImageDescription: "GeneratedFindingInstaceImageDescription",
			ImageID:          "ami-99999999",
			InstanceID:       sampleInstance,
			InstanceState:    "running",
			InstanceType:     "m3.xlarge",
			LaunchTime:       "2016-08-02T02:05:06.000Z",
			NetworkInterfaces: []finding.NetworkInterface{{
				Ipv6Addresses:      []string{},
				NetworkInterfaceID: "eni-bfcffe88",
				PrivateDNSName:     "GeneratedFindingPrivateDnsName",
				PrivateIPAddress:   sampleLocalIP,
				PrivateIPAddresses: []finding.PrivateIPAddress{{PrivateDNSName: "GeneratedFindingPrivateName", PrivateIPAddress: sampleLocalIP}},
				PublicDNSName:      "GeneratedFindingPublicDNSName",
				PublicIP:           "198.51.100.1",
				SecurityGroups:     []finding.SecurityGroup{{GroupID: "GeneratedFindingSecurityId", GroupName: "GeneratedFindingSecurityGroupName"}},
				SubnetID:           "GeneratedFindingSubnetId",
				VpcID:              "GeneratedFindingVPCId",
			}},
			ProductCodes: []finding.ProductCode{{Code: "GeneratedFindingProductCodeId", ProductType: "GeneratedFindingProductCodeType"}},
			Tags: []finding.Tag{
				{Key: "GeneratedFindingInstaceTag1", Value: "GeneratedFindingInstaceValue1"},
				{Key: "GeneratedFindingInstaceTag2", Value: "GeneratedFindingInstaceTagValue2"},
			},
		}
	}

	a := &f.Service.Action
	switch t.ActionType {
	case finding.ActionPortProbe:
		a.PortProbeAction = &finding.PortProbeAction{PortProbeDetails: []finding.PortProbeDetail{{
			LocalPortDetails: finding.Port(port),
			LocalIPDetails:   &finding.LocalIPDetails{IPAddressV4: sampleLocalIP},
			RemoteIPDetails:  remote,
		}}}
	case finding.ActionNetworkConnection:
		dir, local, rport := finding.DirectionInbound, port, 39677
		if f.Service.ResourceRole == finding.RoleActor || strings.Contains(t.Name, "Portscan") || strings.Contains(t.Name, "PortSweep") ||
			strings.Contains(t.Name, "Tor") || strings.Contains(t.Name, "MaliciousIP") {
			dir, local, rport = finding.DirectionOutbound, 39677, port
		}
		a.NetworkConnectionAction = &finding.NetworkConnectionAction{
			ConnectionDirection: dir,
			LocalPortDetails:    finding.Port(local),
			Protocol:            "TCP",
			LocalIPDetails:      &finding.LocalIPDetails{IPAddressV4: sampleLocalIP},
			RemoteIPDetails:     remote,
			RemotePortDetails:   finding.Port(rport),
		}
	case finding.ActionAWSAPICall:
		a.AwsAPICallAction = &finding.AwsAPICallAction{
			API: sampleAPI, CallerType: "Remote IP", RemoteIPDetails: remote,
			ServiceName: "GeneratedFindingAPIServiceName", UserAgent: sampleUserAgent,
		}
	case finding.ActionDNSRequest:
		a.DNSRequestAction = &finding.DNSRequestAction{Domain: sampleDomain, Protocol: "UDP"}
	}
	threatList := ""
	if strings.Contains(t.Name, ".Custom") || strings.Contains(t.Name, "MaliciousIP") || strings.Contains(t.Name, "Tor") {
		threatList = sampleThreatList
		f.Service.Evidence = &finding.Evidence{ThreatIntelligenceDetails: []finding.ThreatIntelligenceDetail{{
			ThreatListName: sampleThreatList, ThreatNames: []string{"GeneratedFindingThreatName"},
		}}}
	}
	vars := map[string]string{
		"resource": resource, "remote": sampleRemoteIP, "port": fmt.Sprint(port), "list": sampleThreatList,
		"domain": sampleDomain, "api": sampleAPI, "principal": sampleUserName, "useragent": sampleUserAgent,
		"account": d.Account, "detail": "sample",
	}
	f.Title = finding.Text(t.Title, vars)
	f.Description = finding.Text(t.Description, vars)
	f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: &finding.Explanation{
		Detector: "sample",
		Summary:  "A sample finding made by CreateSampleFindings; it describes no real activity.",
		Sample:   true,

		ThreatListName: threatList,
	}}
	return f
}

// samplePort is the port a sample of the type is about.
func samplePort(name string) int {
	switch {
	case strings.Contains(name, "SSH"):
		return 22
	case strings.Contains(name, "RDP"):
		return 3389
	case strings.Contains(name, "WinRM"):
		return 5985
	case strings.Contains(name, "EMR"):
		return 8088
	}
	return 80
}

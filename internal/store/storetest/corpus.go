package storetest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"picket/internal/finding"
)

// Accounts and the region of the findings the suite makes.
var (
	accounts = []string{"111122223333", "444455556666", "123456789012"}
	region   = "us-east-1"
	epoch    = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
)

// Corpus makes varied findings of one detector: every shape the criteria
// semantics distinguish (missing and empty fields, lists of several
// elements, numbers in text, additionalInfo keys), from a fixed seed so
// that a failure repeats. Benchmarks use it for realistic data.
type Corpus struct {
	rnd        *rand.Rand
	detectorID string
	n          int
}

// NewCorpus returns a corpus of findings filed under a detector.
func NewCorpus(detectorID string, seed uint64) *Corpus {
	return &Corpus{rnd: rand.New(rand.NewPCG(seed, 0x5eed)), detectorID: detectorID}
}

func (c *Corpus) pick(ss []string) string { return ss[c.rnd.IntN(len(ss))] }

// at returns a time on the corpus' millisecond grid (finding JSON keeps
// milliseconds, so the model merges the times the store keeps).
func (c *Corpus) at() time.Time {
	return epoch.Add(time.Duration(c.rnd.IntN(20*24*3600)) * time.Second).Add(time.Duration(c.rnd.IntN(1000)) * time.Millisecond)
}

var severities = []finding.Severity{2, 5, 8, 7.5, 9, 3.3, 5}

// Next returns a new finding with an ID of its own.
func (c *Corpus) Next() *finding.Finding {
	c.n++
	types := finding.Types()
	t := types[c.rnd.IntN(len(types))]
	account := c.pick(accounts)
	resource := fmt.Sprintf("i-%017x", c.rnd.Uint64()>>4)
	key := finding.Key{Account: account, Region: region, Resource: resource, Role: c.pick([]string{finding.RoleActor, finding.RoleTarget}),
		Actor: strconv.Itoa(c.n)}
	first := c.at()
	last := first.Add(time.Duration(c.rnd.IntN(7200)) * time.Second)
	f := finding.New(t.Name, key, c.detectorID, first, last, int64(1+c.rnd.IntN(40)))
	f.Severity = severities[c.rnd.IntN(len(severities))]
	f.Title = fmt.Sprintf("finding %d about %s", c.n, resource)
	f.Description = "described " + strconv.Itoa(c.rnd.IntN(5))
	if c.rnd.IntN(4) == 0 {
		f.CreatedAt = finding.Timestamp{Time: first}
	}
	switch t.ResourceType {
	case finding.ResourceAccessKey:
		f.Resource.AccessKeyDetails = &finding.AccessKeyDetails{
			AccessKeyID: c.pick([]string{"AKIAEXAMPLE1", "AKIAEXAMPLE2", "ASIATEMPORARY", ""}),
			UserName:    c.pick([]string{"alice", "bob", "deploy"}),
			UserType:    c.pick([]string{"IAMUser", "AssumedRole", "Root"}),
		}
		f.Service.Action.AwsAPICallAction = &finding.AwsAPICallAction{
			API: c.pick([]string{"ListBuckets", "GetCallerIdentity", "DescribeInstances"}), CallerType: "Remote IP",
			ServiceName:     c.pick([]string{"s3.amazonaws.com", "sts.amazonaws.com"}),
			RemoteIPDetails: &finding.RemoteIPDetails{IPAddressV4: c.ip(), Organization: &finding.Organization{Asn: c.pick([]string{"16509", "64496", "7"})}},
		}
	default:
		if c.rnd.IntN(8) != 0 {
			f.Resource.InstanceDetails = c.instance(resource)
		}
		switch t.ActionType {
		case finding.ActionPortProbe:
			pa := &finding.PortProbeAction{Blocked: c.rnd.IntN(2) == 0}
			for range 1 + c.rnd.IntN(3) {
				pa.PortProbeDetails = append(pa.PortProbeDetails, finding.PortProbeDetail{
					LocalPortDetails: finding.Port(c.port()),
					LocalIPDetails:   &finding.LocalIPDetails{IPAddressV4: "10.0.0." + strconv.Itoa(c.rnd.IntN(9))},
					RemoteIPDetails:  &finding.RemoteIPDetails{IPAddressV4: c.ip()},
				})
			}
			f.Service.Action.PortProbeAction = pa
		case finding.ActionDNSRequest:
			f.Service.Action.DNSRequestAction = &finding.DNSRequestAction{Domain: c.pick([]string{"evil.example", "dga-xyz.example", "ok.example"}), Protocol: "UDP"}
		default:
			nc := &finding.NetworkConnectionAction{
				ConnectionDirection: c.pick([]string{finding.DirectionInbound, finding.DirectionOutbound}),
				Protocol:            c.pick([]string{"TCP", "UDP"}),
				Blocked:             c.rnd.IntN(3) == 0,
				LocalPortDetails:    finding.Port(c.port()),
				RemotePortDetails:   finding.Port(c.port()),
				LocalIPDetails:      &finding.LocalIPDetails{IPAddressV4: "10.0.1." + strconv.Itoa(c.rnd.IntN(9))},
			}
			switch c.rnd.IntN(6) {
			case 0: // no remote details
			case 1:
				nc.RemoteIPDetails = &finding.RemoteIPDetails{IPAddressV6: "2001:db8::" + strconv.Itoa(c.rnd.IntN(9))}
			default:
				nc.RemoteIPDetails = &finding.RemoteIPDetails{IPAddressV4: c.ip(), Country: &finding.Country{CountryName: c.pick([]string{"Atlantis", "Utopia"})}}
			}
			f.Service.Action.NetworkConnectionAction = nc
		}
	}
	switch c.rnd.IntN(4) {
	case 0:
	case 1:
		f.Service.AdditionalInfo = &finding.AdditionalInfo{Value: `{"sample":true,"threatListName":"` + c.pick([]string{"tor", "custom"}) + `"}`, Type: "default"}
	default:
		e := &finding.Explanation{Detector: c.pick([]string{"portscan", "portprobe", "bruteforce"}), Summary: "seen",
			Counts: map[string]int64{"failed": int64(c.rnd.IntN(50))}, Ports: []int{c.port(), c.port()}}
		if c.rnd.IntN(2) == 0 {
			e.ThreatListName = c.pick([]string{"my-list", "other-list"})
		}
		f.Service.AdditionalInfo = &finding.AdditionalInfo{Explanation: e}
	}
	if c.rnd.IntN(5) == 0 {
		f.Service.Evidence = &finding.Evidence{ThreatIntelligenceDetails: []finding.ThreatIntelligenceDetail{{ThreatListName: "my-list", ThreatNames: []string{"bad"}}}}
	}
	return f
}

func (c *Corpus) ip() string {
	// Some addresses sort differently as text and as numbers of octets.
	return fmt.Sprintf("%d.%d.%d.%d", c.pick2(198, 9, 100, 203), c.rnd.IntN(3), c.rnd.IntN(3), c.rnd.IntN(12))
}

func (c *Corpus) pick2(ns ...int) int { return ns[c.rnd.IntN(len(ns))] }

func (c *Corpus) port() int { return c.pick2(22, 80, 443, 3389, 5432, 8080, 40000+c.rnd.IntN(9)) }

func (c *Corpus) instance(id string) *finding.InstanceDetails {
	d := &finding.InstanceDetails{InstanceType: c.pick([]string{"t3.micro", "m5.large"})}
	if c.rnd.IntN(6) != 0 {
		d.InstanceID = id
	}
	for i := range c.rnd.IntN(3) {
		ni := finding.NetworkInterface{NetworkInterfaceID: fmt.Sprintf("eni-%d%d", c.n, i), SubnetID: c.pick([]string{"subnet-a", "subnet-b"}),
			VpcID: "vpc-1", PrivateIPAddress: "10.0.0." + strconv.Itoa(c.rnd.IntN(9))}
		for range c.rnd.IntN(3) {
			ni.SecurityGroups = append(ni.SecurityGroups, finding.SecurityGroup{GroupID: c.pick([]string{"sg-1", "sg-2", "sg-3", "sg-4"}), GroupName: c.pick([]string{"web", "db"})})
		}
		d.NetworkInterfaces = append(d.NetworkInterfaces, ni)
	}
	for range c.rnd.IntN(3) {
		d.Tags = append(d.Tags, finding.Tag{Key: c.pick([]string{"Name", "env", "team"}), Value: c.pick([]string{"web-1", "prod", "dev", "", "42"})})
	}
	return d
}

// Report returns another report of f's activity: same ID, other times
// and details.
func (c *Corpus) Report(f *finding.Finding) *finding.Finding {
	r := c.Next()
	r.ID, r.Arn, r.Type, r.AccountID, r.Region = f.ID, f.Arn, f.Type, f.AccountID, f.Region
	r.Service.DetectorID = f.Service.DetectorID
	return r
}

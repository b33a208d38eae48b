// Package finding owns the GuardDuty finding: the Go model of the JSON
// that GetFindings returns, field for field with GuardDuty's wire names,
// the catalogue of finding types picket produces (severity, title and
// description for each), the deterministic finding ID derived from an
// aggregation key, and the merge that folds repeated activity into one
// finding.
//
// Detectors build findings from these types and never write JSON; the
// store and API serialize them as they are. The package imports event and
// the standard library only.
package finding

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// SchemaVersion is the finding schema version GuardDuty emits.
const SchemaVersion = "2.0"

// Finding is one GuardDuty finding.
type Finding struct {
	SchemaVersion               string    `json:"schemaVersion"`
	AccountID                   string    `json:"accountId"`
	Region                      string    `json:"region"`
	Partition                   string    `json:"partition,omitempty"`
	ID                          string    `json:"id"`
	Arn                         string    `json:"arn"`
	Type                        string    `json:"type"`
	Resource                    Resource  `json:"resource"`
	Service                     Service   `json:"service"`
	Severity                    Severity  `json:"severity"`
	Confidence                  float64   `json:"confidence,omitempty"`
	Title                       string    `json:"title"`
	Description                 string    `json:"description"`
	CreatedAt                   Timestamp `json:"createdAt"`
	UpdatedAt                   Timestamp `json:"updatedAt"`
	AssociatedAttackSequenceArn string    `json:"associatedAttackSequenceArn,omitempty"`
}

// Resource is the AWS resource a finding is about.
type Resource struct {
	ResourceType      string             `json:"resourceType"`
	InstanceDetails   *InstanceDetails   `json:"instanceDetails,omitempty"`
	AccessKeyDetails  *AccessKeyDetails  `json:"accessKeyDetails,omitempty"`
	EcsClusterDetails *EcsClusterDetails `json:"ecsClusterDetails,omitempty"`
	ContainerDetails  *Container         `json:"containerDetails,omitempty"`
	S3BucketDetails   []S3BucketDetail   `json:"s3BucketDetails,omitempty"`
}

// InstanceDetails describes an EC2 instance.
type InstanceDetails struct {
	AvailabilityZone   string              `json:"availabilityZone,omitempty"`
	IamInstanceProfile *IamInstanceProfile `json:"iamInstanceProfile,omitempty"`
	ImageDescription   string              `json:"imageDescription,omitempty"`
	ImageID            string              `json:"imageId,omitempty"`
	InstanceID         string              `json:"instanceId"`
	InstanceState      string              `json:"instanceState,omitempty"`
	InstanceType       string              `json:"instanceType,omitempty"`
	OutpostArn         string              `json:"outpostArn,omitempty"`
	LaunchTime         string              `json:"launchTime,omitempty"`
	NetworkInterfaces  []NetworkInterface  `json:"networkInterfaces,omitempty"`
	Platform           string              `json:"platform,omitempty"`
	ProductCodes       []ProductCode       `json:"productCodes"`
	Tags               []Tag               `json:"tags"`
}

// MarshalJSON writes empty lists as [] rather than null, as GuardDuty does.
func (d InstanceDetails) MarshalJSON() ([]byte, error) {
	type plain InstanceDetails
	if d.ProductCodes == nil {
		d.ProductCodes = []ProductCode{}
	}
	if d.Tags == nil {
		d.Tags = []Tag{}
	}
	return json.Marshal(plain(d))
}

// IamInstanceProfile is an instance's IAM profile.
type IamInstanceProfile struct {
	Arn string `json:"arn,omitempty"`
	ID  string `json:"id,omitempty"`
}

// ProductCode is an AWS Marketplace product code of an instance.
type ProductCode struct {
	Code        string `json:"productCodeId,omitempty"`
	ProductType string `json:"productCodeType,omitempty"`
}

// Tag is a key-value tag; GuardDuty lists them rather than mapping them.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// NetworkInterface is one elastic network interface of an instance.
type NetworkInterface struct {
	Ipv6Addresses      []string           `json:"ipv6Addresses,omitempty"`
	NetworkInterfaceID string             `json:"networkInterfaceId,omitempty"`
	PrivateDNSName     string             `json:"privateDnsName,omitempty"`
	PrivateIPAddress   string             `json:"privateIpAddress,omitempty"`
	PrivateIPAddresses []PrivateIPAddress `json:"privateIpAddresses,omitempty"`
	PublicDNSName      string             `json:"publicDnsName,omitempty"`
	PublicIP           string             `json:"publicIp,omitempty"`
	SecurityGroups     []SecurityGroup    `json:"securityGroups,omitempty"`
	SubnetID           string             `json:"subnetId,omitempty"`
	VpcID              string             `json:"vpcId,omitempty"`
}

// PrivateIPAddress is one private address of an interface.
type PrivateIPAddress struct {
	PrivateDNSName   string `json:"privateDnsName,omitempty"`
	PrivateIPAddress string `json:"privateIpAddress,omitempty"`
}

// SecurityGroup names a security group.
type SecurityGroup struct {
	GroupID   string `json:"groupId,omitempty"`
	GroupName string `json:"groupName,omitempty"`
}

// AccessKeyDetails identifies the credentials behind API activity.
type AccessKeyDetails struct {
	AccessKeyID string `json:"accessKeyId,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	UserName    string `json:"userName,omitempty"`
	UserType    string `json:"userType,omitempty"`
}

// EcsClusterDetails describes the ECS cluster and task behind a flow.
type EcsClusterDetails struct {
	Name        string          `json:"name,omitempty"`
	Arn         string          `json:"arn,omitempty"`
	Status      string          `json:"status,omitempty"`
	TaskDetails *EcsTaskDetails `json:"taskDetails,omitempty"`
	Tags        []Tag           `json:"tags,omitempty"`
}

// EcsTaskDetails describes an ECS task.
type EcsTaskDetails struct {
	Arn           string      `json:"arn,omitempty"`
	DefinitionArn string      `json:"definitionArn,omitempty"`
	Version       string      `json:"version,omitempty"`
	StartedBy     string      `json:"startedBy,omitempty"`
	Group         string      `json:"group,omitempty"`
	LaunchType    string      `json:"launchType,omitempty"`
	Containers    []Container `json:"containers,omitempty"`
	Tags          []Tag       `json:"tags,omitempty"`
}

// Container describes a container.
type Container struct {
	ContainerRuntime string `json:"containerRuntime,omitempty"`
	ID               string `json:"id,omitempty"`
	Name             string `json:"name,omitempty"`
	Image            string `json:"image,omitempty"`
	ImagePrefix      string `json:"imagePrefix,omitempty"`
}

// Service is GuardDuty's account of the activity: what happened, when, how
// often, and the evidence.
type Service struct {
	Action         Action          `json:"action"`
	Evidence       *Evidence       `json:"evidence,omitempty"`
	Archived       bool            `json:"archived"`
	Count          int64           `json:"count"`
	DetectorID     string          `json:"detectorId"`
	EventFirstSeen Timestamp       `json:"eventFirstSeen"`
	EventLastSeen  Timestamp       `json:"eventLastSeen"`
	ResourceRole   string          `json:"resourceRole"`
	ServiceName    string          `json:"serviceName"`
	UserFeedback   string          `json:"userFeedback,omitempty"`
	AdditionalInfo *AdditionalInfo `json:"additionalInfo,omitempty"`
	FeatureName    string          `json:"featureName,omitempty"`
	Detection      *Detection      `json:"detection,omitempty"`
}

// The resource roles.
const (
	RoleTarget = "TARGET" // the resource was acted on
	RoleActor  = "ACTOR"  // the resource did it
)

// The action types.
const (
	ActionNetworkConnection = "NETWORK_CONNECTION"
	ActionPortProbe         = "PORT_PROBE"
	ActionAWSAPICall        = "AWS_API_CALL"
	ActionDNSRequest        = "DNS_REQUEST"
)

// Action says what happened; ActionType selects which member is set.
type Action struct {
	ActionType              string                   `json:"actionType"`
	AwsAPICallAction        *AwsAPICallAction        `json:"awsApiCallAction,omitempty"`
	DNSRequestAction        *DNSRequestAction        `json:"dnsRequestAction,omitempty"`
	NetworkConnectionAction *NetworkConnectionAction `json:"networkConnectionAction,omitempty"`
	PortProbeAction         *PortProbeAction         `json:"portProbeAction,omitempty"`
}

// NetworkConnectionAction is a connection between a resource and a remote
// host.
type NetworkConnectionAction struct {
	Blocked               bool             `json:"blocked"`
	ConnectionDirection   string           `json:"connectionDirection"`
	LocalPortDetails      *PortDetails     `json:"localPortDetails,omitempty"`
	Protocol              string           `json:"protocol,omitempty"`
	LocalIPDetails        *LocalIPDetails  `json:"localIpDetails,omitempty"`
	LocalNetworkInterface string           `json:"localNetworkInterface,omitempty"`
	RemoteIPDetails       *RemoteIPDetails `json:"remoteIpDetails,omitempty"`
	RemotePortDetails     *PortDetails     `json:"remotePortDetails,omitempty"`
}

// The connection directions.
const (
	DirectionInbound  = "INBOUND"
	DirectionOutbound = "OUTBOUND"
	DirectionUnknown  = "UNKNOWN"
)

// PortProbeAction is a set of probes of a resource's ports.
type PortProbeAction struct {
	Blocked          bool              `json:"blocked"`
	PortProbeDetails []PortProbeDetail `json:"portProbeDetails"`
}

// PortProbeDetail is one probed port and the remote address that probed it.
type PortProbeDetail struct {
	LocalPortDetails *PortDetails     `json:"localPortDetails,omitempty"`
	LocalIPDetails   *LocalIPDetails  `json:"localIpDetails,omitempty"`
	RemoteIPDetails  *RemoteIPDetails `json:"remoteIpDetails,omitempty"`
}

// PortDetails is a port and its well-known service name.
type PortDetails struct {
	Port     int    `json:"port"`
	PortName string `json:"portName"`
}

// LocalIPDetails is the resource's address.
type LocalIPDetails struct {
	IPAddressV4 string `json:"ipAddressV4,omitempty"`
	IPAddressV6 string `json:"ipAddressV6,omitempty"`
}

// RemoteIPDetails is the remote address with what is known of its owner and
// location.
type RemoteIPDetails struct {
	City         *City         `json:"city,omitempty"`
	Country      *Country      `json:"country,omitempty"`
	GeoLocation  *GeoLocation  `json:"geoLocation,omitempty"`
	IPAddressV4  string        `json:"ipAddressV4,omitempty"`
	IPAddressV6  string        `json:"ipAddressV6,omitempty"`
	Organization *Organization `json:"organization,omitempty"`
}

// City names a city.
type City struct {
	CityName string `json:"cityName,omitempty"`
}

// Country names a country.
type Country struct {
	CountryCode string `json:"countryCode,omitempty"`
	CountryName string `json:"countryName,omitempty"`
}

// GeoLocation is a latitude and longitude.
type GeoLocation struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Organization is the network that owns an address. GuardDuty renders the
// AS number as a string.
type Organization struct {
	Asn    string `json:"asn,omitempty"`
	AsnOrg string `json:"asnOrg,omitempty"`
	Isp    string `json:"isp,omitempty"`
	Org    string `json:"org,omitempty"`
}

// AwsAPICallAction is an AWS API call.
type AwsAPICallAction struct {
	API                  string                `json:"api,omitempty"`
	CallerType           string                `json:"callerType,omitempty"`
	DomainDetails        *DomainDetails        `json:"domainDetails,omitempty"`
	ErrorCode            string                `json:"errorCode,omitempty"`
	UserAgent            string                `json:"userAgent,omitempty"`
	RemoteIPDetails      *RemoteIPDetails      `json:"remoteIpDetails,omitempty"`
	ServiceName          string                `json:"serviceName,omitempty"`
	RemoteAccountDetails *RemoteAccountDetails `json:"remoteAccountDetails,omitempty"`
	AffectedResources    map[string]string     `json:"affectedResources,omitempty"`
}

// DomainDetails names a domain.
type DomainDetails struct {
	Domain string `json:"domain,omitempty"`
}

// RemoteAccountDetails names another AWS account.
type RemoteAccountDetails struct {
	AccountID  string `json:"accountId,omitempty"`
	Affiliated bool   `json:"affiliated"`
}

// DNSRequestAction is a DNS query.
type DNSRequestAction struct {
	Domain            string `json:"domain,omitempty"`
	DomainWithSuffix  string `json:"domainWithSuffix,omitempty"`
	Protocol          string `json:"protocol,omitempty"`
	Blocked           bool   `json:"blocked"`
	VpcOwnerAccountID string `json:"vpcOwnerAccountId,omitempty"`
}

// Evidence lists the threat intelligence that matched.
type Evidence struct {
	ThreatIntelligenceDetails []ThreatIntelligenceDetail `json:"threatIntelligenceDetails"`
}

// ThreatIntelligenceDetail names a threat list and the threats it gave.
type ThreatIntelligenceDetail struct {
	ThreatListName   string   `json:"threatListName,omitempty"`
	ThreatNames      []string `json:"threatNames"`
	ThreatFileSha256 string   `json:"threatFileSha256,omitempty"`
}

// Detection carries anomaly context for behaviour-based findings and
// the attack sequence of AttackSequence findings.
type Detection struct {
	Anomaly  *Anomaly  `json:"anomaly,omitempty"`
	Sequence *Sequence `json:"sequence,omitempty"`
}

// Anomaly holds the profiles a behaviour was compared with and what was
// unusual about it.
type Anomaly struct {
	Profiles map[string]map[string][]AnomalyObject `json:"profiles,omitempty"`
	Unusual  *AnomalyUnusual                       `json:"unusual,omitempty"`
}

// AnomalyUnusual is the unusual behaviour, by feature.
type AnomalyUnusual struct {
	Behavior map[string]map[string]AnomalyObject `json:"behavior,omitempty"`
}

// AnomalyObject is one profiled feature and what was observed.
type AnomalyObject struct {
	ProfileType    string        `json:"profileType,omitempty"`
	ProfileSubtype string        `json:"profileSubtype,omitempty"`
	Observations   *Observations `json:"observations,omitempty"`
}

// Observations are observed values.
type Observations struct {
	Text []string `json:"text"`
}

// AdditionalInfo is the service.additionalInfo of a finding: on the wire a
// JSON document encoded as a string in Value, with Type "default". picket
// puts its explanation there; Explanation is that document decoded.
type AdditionalInfo struct {
	Value       string
	Type        string
	Explanation *Explanation
}

type additionalInfoWire struct {
	Value string `json:"value"`
	Type  string `json:"type"`
}

// MarshalJSON encodes the explanation, if any, into the value string.
func (a AdditionalInfo) MarshalJSON() ([]byte, error) {
	w := additionalInfoWire{Value: a.Value, Type: a.Type}
	if w.Type == "" {
		w.Type = "default"
	}
	if a.Explanation != nil {
		v, err := json.Marshal(a.Explanation)
		if err != nil {
			return nil, err
		}
		w.Value = string(v)
	}
	return json.Marshal(w)
}

// UnmarshalJSON accepts the wire form and, as older GuardDuty exports did,
// a plain object; a value that holds picket's explanation is decoded into
// Explanation.
func (a *AdditionalInfo) UnmarshalJSON(b []byte) error {
	var w additionalInfoWire
	if err := json.Unmarshal(b, &w); err != nil || (w.Value == "" && w.Type == "") {
		// An older plain-object form: keep it as the value.
		w = additionalInfoWire{Value: string(bytes.TrimSpace(b)), Type: "default"}
	}
	a.Value, a.Type, a.Explanation = w.Value, w.Type, nil
	var e Explanation
	if json.Unmarshal([]byte(w.Value), &e) == nil && e.Detector != "" {
		a.Explanation = &e
	}
	return nil
}

// Severity is a finding's severity, 1.0 to 10.0. It renders with one
// decimal as GuardDuty does (2.0, not 2).
type Severity float64

// The severities picket uses for each level.
const (
	SeverityLow      Severity = 2
	SeverityMedium   Severity = 5
	SeverityHigh     Severity = 8
	SeverityCritical Severity = 9
)

// Label returns Low, Medium, High or Critical.
func (s Severity) Label() string {
	switch {
	case s >= 9:
		return "Critical"
	case s >= 7:
		return "High"
	case s >= 4:
		return "Medium"
	}
	return "Low"
}

// MarshalJSON renders the severity with at least one decimal.
func (s Severity) MarshalJSON() ([]byte, error) {
	f := float64(s)
	if f == float64(int64(f)) {
		return strconv.AppendFloat(nil, f, 'f', 1, 64), nil
	}
	return strconv.AppendFloat(nil, f, 'f', -1, 64), nil
}

// Timestamp is a finding time, rendered as ISO 8601 in UTC with
// milliseconds, as GuardDuty renders them.
type Timestamp struct{ time.Time }

// TimeFormat is the layout of finding timestamps.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// MarshalJSON renders the time with TimeFormat.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimeFormat)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeFormat)
	return append(b, '"'), nil
}

// UnmarshalJSON accepts any RFC 3339 time.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	t.Time = v.UTC()
	return nil
}

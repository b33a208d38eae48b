package finding

import (
	"sort"
	"strings"
)

// Type describes one finding type picket can raise.
type Type struct {
	// Name is the GuardDuty type name, such as
	// "Recon:EC2/PortProbeUnprotectedPort".
	Name string
	// ResourceType is "Instance", "AccessKey" or "S3Bucket".
	ResourceType string
	// ActionType is the service.action.actionType the type carries.
	ActionType string
	// Feature is the data source, as service.featureName names it.
	Feature string
	// Severity is the default severity; some detectors raise or lower it
	// (brute force as ACTOR, probes of sensitive ports).
	Severity Severity
	// Title and Description are templates; see Text.
	Title       string
	Description string
}

// The resource types.
const (
	ResourceInstance  = "Instance"
	ResourceAccessKey = "AccessKey"
)

// The feature names, by data source.
const (
	FeatureFlowLogs   = "VpcFlowLogs"
	FeatureCloudTrail = "CloudTrail"
	FeatureDNSLogs    = "DnsLogs"
)

// Text fills a title or description template: each {name} is replaced by
// vars[name]; unknown names are left as they are. The result starts with a
// capital letter.
func Text(template string, vars map[string]string) string {
	if !strings.Contains(template, "{") {
		return template
	}
	pairs := make([]string, 0, 2*len(vars))
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pairs = append(pairs, "{"+k+"}", vars[k])
	}
	out := strings.NewReplacer(pairs...).Replace(template)
	if out != "" && out[0] >= 'a' && out[0] <= 'z' {
		out = string(out[0]-'a'+'A') + out[1:]
	}
	return out
}

// The finding types, by name. Every name a detector emits must be here.
const (
	TypePortProbeUnprotectedPort = "Recon:EC2/PortProbeUnprotectedPort"
	TypePortProbeEMR             = "Recon:EC2/PortProbeEMRUnprotectedPort"
	TypePortscan                 = "Recon:EC2/Portscan"
	TypePortSweep                = "Impact:EC2/PortSweep"
	TypeSSHBruteForce            = "UnauthorizedAccess:EC2/SSHBruteForce"
	TypeRDPBruteForce            = "UnauthorizedAccess:EC2/RDPBruteForce"
	TypeWinRMBruteForce          = "Impact:EC2/WinRMBruteForce"
	TypeEC2MaliciousIPCustom     = "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"
	TypeTorClient                = "UnauthorizedAccess:EC2/TorClient"
	TypeTorRelay                 = "UnauthorizedAccess:EC2/TorRelay"
	// DNS that bypasses the VPC's resolver, seen in flow logs
	// (detect/dnsflow).
	TypeUnusualDNSResolver = "DefenseEvasion:EC2/UnusualDNSResolver"
	TypeUnusualDoH         = "DefenseEvasion:EC2/UnusualDoHActivity"
	TypeUnusualDoT         = "DefenseEvasion:EC2/UnusualDoTActivity"

	TypeMaliciousDomainCustom = "Impact:EC2/MaliciousDomainRequest.Custom"
	TypeDNSDataExfiltration   = "Trojan:EC2/DNSDataExfiltration"
	TypeDGADomainRequest      = "Trojan:EC2/DGADomainRequest.C!DNS"
	TypeDGADomainRequestB     = "Trojan:EC2/DGADomainRequest.B"
	TypeMetadataDNSRebind     = "UnauthorizedAccess:EC2/MetadataDNSRebind"
	// The DNS types of categorised domain intelligence: a threat list
	// that declares its category raises one of these instead of
	// MaliciousDomainRequest.Custom (docs/detectors/dnsintel.md).
	TypeC2ActivityDNS              = "Backdoor:EC2/C&CActivity.B!DNS"
	TypeBlackholeTrafficDNS        = "Trojan:EC2/BlackholeTraffic!DNS"
	TypeDropPointDNS               = "Trojan:EC2/DropPoint!DNS"
	TypePhishingDomainDNS          = "Trojan:EC2/PhishingDomainRequest!DNS"
	TypeBitcoinToolDNS             = "CryptoCurrency:EC2/BitcoinTool.B!DNS"
	TypeAbusedDomainReputation     = "Impact:EC2/AbusedDomainRequest.Reputation"
	TypeBitcoinDomainReputation    = "Impact:EC2/BitcoinDomainRequest.Reputation"
	TypeMaliciousDomainReputation  = "Impact:EC2/MaliciousDomainRequest.Reputation"
	TypeSuspiciousDomainReputation = "Impact:EC2/SuspiciousDomainRequest.Reputation"

	TypeReconMaliciousIPCustom    = "Recon:IAMUser/MaliciousIPCaller.Custom"
	TypeReconMaliciousIP          = "Recon:IAMUser/MaliciousIPCaller"
	TypeReconTorIPCaller          = "Recon:IAMUser/TorIPCaller"
	TypeUnauthMaliciousIPCustom   = "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom"
	TypeUnauthMaliciousIP         = "UnauthorizedAccess:IAMUser/MaliciousIPCaller"
	TypeUnauthTorIPCaller         = "UnauthorizedAccess:IAMUser/TorIPCaller"
	TypeDiscoveryAnomalous        = "Discovery:IAMUser/AnomalousBehavior"
	TypePenTestKali               = "PenTest:IAMUser/KaliLinux"
	TypePenTestParrot             = "PenTest:IAMUser/ParrotLinux"
	TypePenTestPentoo             = "PenTest:IAMUser/PentooLinux"
	TypeCloudTrailLoggingDisabled = "Stealth:IAMUser/CloudTrailLoggingDisabled"
	TypePasswordPolicyChange      = "Stealth:IAMUser/PasswordPolicyChange"
	TypeRootCredentialUsage       = "Policy:IAMUser/RootCredentialUsage"
	TypeDefenseEvasionAnomalous   = "DefenseEvasion:IAMUser/AnomalousBehavior"
	TypeCredentialExfilOutsideAWS = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
	TypeCredentialExfilInsideAWS  = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS"
	// TypePenTestSecurityTool is picket's own, in GuardDuty's naming
	// scheme: API calls whose user agent is a security or attack tool
	// (docs/detectors/pentest.md says why a PenTest:IAMUser type).
	TypePenTestSecurityTool          = "PenTest:IAMUser/SecurityTool"
	TypeShortTermRootCredentialUsage = "Policy:IAMUser/ShortTermRootCredentialUsage"
	TypeBedrockLoggingDisabled       = "DefenseEvasion:IAMUser/BedrockLoggingDisabled"
	TypeResourceCredentialExfil      = "UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS"
)

var catalog = []Type{
	{
		Name: TypeAttackSequenceIAM, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityCritical,
		Title:       "Credentials of {principal} used for {stages} stages of an intrusion",
		Description: "Findings about {principal} line up as the stages of an intrusion within a day ({list}): its credentials are likely compromised.",
	},
	{
		Name: TypeAttackSequenceEC2, ResourceType: ResourceInstance, ActionType: ActionNetworkConnection,
		Feature: FeatureFlowLogs, Severity: SeverityCritical,
		Title:       "{count} instances sharing {shared} show signs of compromise",
		Description: "Instances {list}, which share {shared}, show network and API findings within a day: a compromise may be spreading through what they share.",
	},
	{
		Name: TypePortProbeUnprotectedPort, ResourceType: ResourceInstance, ActionType: ActionPortProbe,
		Feature: FeatureFlowLogs, Severity: SeverityLow,
		Title:       "Unprotected port on {resource} is being probed.",
		Description: "Port {port} on {resource} is open to the internet and is being probed by {remote}.",
	},
	{
		Name: TypePortProbeEMR, ResourceType: ResourceInstance, ActionType: ActionPortProbe,
		Feature: FeatureFlowLogs, Severity: SeverityHigh,
		Title:       "Unprotected EMR-related port on {resource} is being probed.",
		Description: "EMR-related port {port} on {resource} is open to the internet and is being probed by {remote}.",
	},
	{
		Name: TypePortscan, ResourceType: ResourceInstance, ActionType: ActionNetworkConnection,
		Feature: FeatureFlowLogs, Severity: SeverityMedium,
		Title:       "{resource} is performing outbound port scans against {remote}.",
		Description: "{resource} is scanning the ports of {remote}: {detail}. It may be compromised and mapping the network.",
	},
	{
		Name: TypePortSweep, ResourceType: ResourceInstance, ActionType: ActionNetworkConnection,
		Feature: FeatureFlowLogs, Severity: SeverityHigh,
		Title:       "{resource} is performing a port sweep on port {port}.",
		Description: "{resource} is probing port {port} across many hosts ({detail}), the latest being {remote}.",
	},
	{
		Name: TypeSSHBruteForce, ResourceType: ResourceInstance, ActionType: ActionNetworkConnection,
		Feature: FeatureFlowLogs, Severity: SeverityLow,
		Title:       "{remote} is performing SSH brute force attacks against {resource}.",
		Description: "{remote} is repeatedly opening short SSH sessions to {resource} ({detail}), a pattern of password guessing.",
	},
	{
		Name: TypeRDPBruteForce, ResourceType: ResourceInstance, ActionType: ActionNetworkConnection,
		Feature: FeatureFlowLogs, Severity: SeverityLow,
		Title:       "{remote} is performing RDP brute force attacks against {resource}.",
		Description: "{remote} is repeatedly opening short RDP sessions to {resource} ({detail}), a pattern of password guessing.",
	},
	{
		Name: TypeWinRMBruteForce, ResourceType: ResourceInstance, ActionType: ActionNetworkConnection,
		Feature: FeatureFlowLogs, Severity: SeverityLow,
		Title:       "{remote} is performing WinRM brute force attacks against {resource}.",
		Description: "{remote} is repeatedly opening short Windows Remote Management sessions to {resource} ({detail}), a pattern of password guessing.",
	},
	{
		Name: TypeEC2MaliciousIPCustom, ResourceType: ResourceInstance, ActionType: ActionNetworkConnection,
		Feature: FeatureFlowLogs, Severity: SeverityMedium,
		Title:       "{resource} is communicating with {remote}, an address on threat list {list}.",
		Description: "{resource} exchanged traffic with {remote} ({detail}), which is on the custom threat list {list}.",
	},
	{
		Name: TypeTorClient, ResourceType: ResourceInstance, ActionType: ActionNetworkConnection,
		Feature: FeatureFlowLogs, Severity: SeverityHigh,
		Title:       "{resource} is connecting to Tor relay {remote}.",
		Description: "{resource} is connecting to {remote}, a Tor relay ({detail}). It may be acting as a Tor client to hide its traffic.",
	},
	{
		Name: TypeTorRelay, ResourceType: ResourceInstance, ActionType: ActionNetworkConnection,
		Feature: FeatureFlowLogs, Severity: SeverityHigh,
		Title:       "{resource} is acting as a Tor relay.",
		Description: "{resource} is exchanging traffic with Tor relays such as {remote} ({detail}) in a way that suggests it relays for the Tor network.",
	},
	{
		Name: TypeUnusualDNSResolver, ResourceType: ResourceInstance, ActionType: ActionNetworkConnection,
		Feature: FeatureFlowLogs, Severity: SeverityMedium,
		Title:       "{resource} is sending DNS queries to resolver {remote}, not the VPC's.",
		Description: "{resource} sent DNS traffic to {remote} ({detail}), a resolver outside the VPC. Queries that bypass the VPC's resolver escape its query logs and DNS Firewall.",
	},
	{
		Name: TypeUnusualDoH, ResourceType: ResourceInstance, ActionType: ActionNetworkConnection,
		Feature: FeatureFlowLogs, Severity: SeverityMedium,
		Title:       "{resource} is talking to DNS-over-HTTPS resolver {remote}.",
		Description: "{resource} connected to {remote} ({detail}), a public DNS-over-HTTPS resolver. Encrypted DNS to an outside resolver escapes the VPC's query logs and DNS Firewall.",
	},
	{
		Name: TypeUnusualDoT, ResourceType: ResourceInstance, ActionType: ActionNetworkConnection,
		Feature: FeatureFlowLogs, Severity: SeverityMedium,
		Title:       "{resource} is talking to DNS-over-TLS resolver {remote}.",
		Description: "{resource} connected to {remote} on the DNS-over-TLS port ({detail}). Encrypted DNS to an outside resolver escapes the VPC's query logs and DNS Firewall.",
	},
	{
		Name: TypeMaliciousDomainCustom, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityMedium,
		Title:       "{resource} is querying a domain on threat list {list}.",
		Description: "{resource} resolved {domain}, which is on the custom threat list {list}.",
	},
	{
		Name: TypeDNSDataExfiltration, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityHigh,
		Title:       "{resource} is exfiltrating data through DNS queries.",
		Description: "{resource} is sending data encoded in DNS queries for {domain} ({detail}).",
	},
	{
		Name: TypeDGADomainRequest, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityHigh,
		Title:       "{resource} is querying algorithmically generated domains.",
		Description: "{resource} queried domains such as {domain} that look generated by an algorithm ({detail}), a sign of malware looking for its command and control server.",
	},
	{
		Name: TypeDGADomainRequestB, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityHigh,
		Title:       "{resource} is querying algorithmically generated domains.",
		Description: "{resource} queried many domains such as {domain} that look generated by an algorithm and mostly do not exist ({detail}), as malware does when it searches for its command and control server.",
	},
	{
		Name: TypeMetadataDNSRebind, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityHigh,
		Title:       "{resource} resolved a domain that points at the instance metadata service.",
		Description: "{resource} resolved {domain} to {answer}, the instance metadata address ({detail}). A name that rebinds to the metadata service lets a page or a server-side request forgery read the instance's credentials.",
	},
	{
		Name: TypeC2ActivityDNS, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityHigh,
		Title:       "{resource} is querying a command and control domain.",
		Description: "{resource} resolved {domain} ({detail}), a command and control server on threat list {list}. The instance may be compromised and taking orders from it.",
	},
	{
		Name: TypeBlackholeTrafficDNS, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityMedium,
		Title:       "{resource} is querying a black-holed domain.",
		Description: "{resource} resolved {domain} ({detail}), a domain redirected to a black hole (sinkhole) according to threat list {list}. Software on the instance may still be trying to reach a dismantled malicious server.",
	},
	{
		Name: TypeDropPointDNS, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityMedium,
		Title:       "{resource} is querying a drop point domain.",
		Description: "{resource} resolved {domain} ({detail}), which threat list {list} names as a place where malware leaves stolen credentials and data.",
	},
	{
		Name: TypePhishingDomainDNS, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityHigh,
		Title:       "{resource} is querying a phishing domain.",
		Description: "{resource} resolved {domain} ({detail}), which threat list {list} names as a phishing site.",
	},
	{
		Name: TypeBitcoinToolDNS, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityHigh,
		Title:       "{resource} is querying a domain of cryptocurrency activity.",
		Description: "{resource} resolved {domain} ({detail}), a domain that threat list {list} ties to cryptocurrency mining or trading tools.",
	},
	{
		Name: TypeAbusedDomainReputation, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityMedium,
		Title:       "{resource} is querying a low-reputation domain on an abused service.",
		Description: "{resource} resolved {domain} ({detail}), which threat list {list} rates low in reputation and places on a commonly abused domain service.",
	},
	{
		Name: TypeBitcoinDomainReputation, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityHigh,
		Title:       "{resource} is querying a low-reputation domain of cryptocurrency activity.",
		Description: "{resource} resolved {domain} ({detail}), which threat list {list} rates low in reputation and ties to cryptocurrency activity.",
	},
	{
		Name: TypeMaliciousDomainReputation, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityHigh,
		Title:       "{resource} is querying a low-reputation domain known to be malicious.",
		Description: "{resource} resolved {domain} ({detail}), which threat list {list} rates low in reputation and ties to known malicious domains.",
	},
	{
		Name: TypeSuspiciousDomainReputation, ResourceType: ResourceInstance, ActionType: ActionDNSRequest,
		Feature: FeatureDNSLogs, Severity: SeverityLow,
		Title:       "{resource} is querying a suspicious low-reputation domain.",
		Description: "{resource} resolved {domain} ({detail}), which threat list {list} rates low in reputation without tying it to a known threat.",
	},
	{
		Name: TypeReconMaliciousIPCustom, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "Reconnaissance API {api} was called from {remote}, an address on threat list {list}.",
		Description: "{principal} called {api}, an API used to map an environment, from {remote}, which is on the custom threat list {list}.",
	},
	{
		Name: TypeReconMaliciousIP, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "Reconnaissance API {api} was called from known malicious address {remote}.",
		Description: "{principal} called {api}, an API used to map an environment, from {remote}, which threat intelligence lists as malicious.",
	},
	{
		Name: TypeReconTorIPCaller, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "Reconnaissance API {api} was called from Tor exit node {remote}.",
		Description: "{principal} called {api}, an API used to map an environment, through the Tor exit node {remote}.",
	},
	{
		Name: TypeUnauthMaliciousIPCustom, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "API {api} was called from {remote}, an address on threat list {list}.",
		Description: "{principal} called {api} from {remote}, which is on the custom threat list {list}.",
	},
	{
		Name: TypeUnauthMaliciousIP, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "API {api} was called from known malicious address {remote}.",
		Description: "{principal} called {api} from {remote}, which threat intelligence lists as malicious.",
	},
	{
		Name: TypeUnauthTorIPCaller, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "API {api} was called from Tor exit node {remote}.",
		Description: "{principal} called {api} through the Tor exit node {remote}.",
	},
	{
		Name: TypeDiscoveryAnomalous, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityLow,
		Title:       "Unusual discovery APIs were called by {principal}.",
		Description: "{principal} called discovery APIs such as {api} in a way that departs from its history: {detail}.",
	},
	{
		Name: TypeDefenseEvasionAnomalous, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "{principal} tampered with threat detection: {api}.",
		Description: "{principal} called {api}, which disables or weakens detection or logging ({detail}).",
	},
	{
		Name: TypePenTestKali, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "API {api} was called from a Kali Linux computer.",
		Description: "{principal} called {api} from a computer running Kali Linux, a penetration-testing distribution (user agent {useragent}).",
	},
	{
		Name: TypePenTestParrot, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "API {api} was called from a Parrot Security Linux computer.",
		Description: "{principal} called {api} from a computer running Parrot Security Linux, a penetration-testing distribution (user agent {useragent}).",
	},
	{
		Name: TypePenTestPentoo, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "API {api} was called from a Pentoo Linux computer.",
		Description: "{principal} called {api} from a computer running Pentoo Linux, a penetration-testing distribution (user agent {useragent}).",
	},
	{
		Name: TypePenTestSecurityTool, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "API {api} was called by the security tool {tool}.",
		Description: "{principal} called {api} with the user agent of {tool}, a security or attack tool ({detail}).",
	},
	{
		Name: TypeCloudTrailLoggingDisabled, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityLow,
		Title:       "CloudTrail logging was disabled by {principal}.",
		Description: "{principal} called {api}, which stops or removes CloudTrail logging ({detail}).",
	},
	{
		Name: TypePasswordPolicyChange, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityLow,
		Title:       "The account password policy was weakened by {principal}.",
		Description: "{principal} called {api}, changing the account password policy ({detail}).",
	},
	{
		Name: TypeRootCredentialUsage, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityLow,
		Title:       "API {api} was invoked using root credentials.",
		Description: "The root user of account {account} called {api} from {remote}; root credentials should not be used for everyday work.",
	},
	{
		Name: TypeShortTermRootCredentialUsage, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityLow,
		Title:       "API {api} was invoked using short-term root credentials.",
		Description: "A short-term root session of account {account} (sts:AssumeRoot) called {api} from {remote}.",
	},
	{
		Name: TypeBedrockLoggingDisabled, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "Amazon Bedrock model invocation logging was disabled by {principal}.",
		Description: "{principal} called {api}, which turns off the logging of Amazon Bedrock model invocations ({detail}).",
	},
	{
		Name: TypeResourceCredentialExfil, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityHigh,
		Title:       "Credentials that AWS issued to {issuer} were used from outside AWS.",
		Description: "Temporary credentials of {principal}, which AWS issued to {issuer}, called {api} from {remote}, an address outside AWS.",
	},
	{
		Name: TypeCredentialExfilOutsideAWS, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityHigh,
		Title:       "Credentials of instance role {principal} were used from outside AWS.",
		Description: "Temporary credentials issued to an EC2 instance through its role {principal} called {api} from {remote}, an address outside AWS.",
	},
	{
		Name: TypeCredentialExfilInsideAWS, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityHigh,
		Title:       "Credentials of instance role {principal} were used from another AWS address.",
		Description: "Temporary credentials issued to an EC2 instance through its role {principal} called {api} from {remote}, an AWS address that is not the instance's.",
	},
	// S3 bucket policy and console sign-in types (detect/s3policy,
	// detect/consolelogin).
	{
		Name: TypeS3AccountBlockPublicAccessDisabled, ResourceType: ResourceS3Bucket, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityLow,
		Title:       "S3 Block Public Access was turned off for account {account}.",
		Description: "{principal} called {api}, which turns off S3 Block Public Access for every bucket of account {account} ({detail}).",
	},
	{
		Name: TypeS3BucketBlockPublicAccessDisabled, ResourceType: ResourceS3Bucket, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityLow,
		Title:       "S3 Block Public Access was turned off for bucket {bucket}.",
		Description: "{principal} called {api}, which turns off S3 Block Public Access for bucket {bucket} ({detail}).",
	},
	{
		Name: TypeS3BucketAnonymousAccessGranted, ResourceType: ResourceS3Bucket, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityHigh,
		Title:       "Bucket {bucket} was opened to anonymous users on the internet.",
		Description: "{principal} called {api}, which lets anyone on the internet reach bucket {bucket} without credentials ({detail}).",
	},
	{
		Name: TypeS3BucketPublicAccessGranted, ResourceType: ResourceS3Bucket, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityHigh,
		Title:       "Bucket {bucket} was opened to every authenticated AWS user.",
		Description: "{principal} called {api}, which lets any AWS principal of any account reach bucket {bucket} ({detail}).",
	},
	{
		Name: TypeS3ServerAccessLoggingDisabled, ResourceType: ResourceS3Bucket, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityLow,
		Title:       "Server access logging was turned off for bucket {bucket}.",
		Description: "{principal} called {api}, which stops the server access logs of bucket {bucket} ({detail}).",
	},
	{
		Name: TypeConsoleLoginSuccessB, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "{principal} signed in to the console from distant places at nearly the same time.",
		Description: "{principal} signed in to the AWS Management Console successfully from places no one person could travel between in the time ({detail}); the credentials may be shared or stolen.",
	},
	// The AnomalousBehavior types of the tactics other than Discovery and
	// DefenseEvasion (detect/iamanomaly), with GuardDuty's default
	// severities.
	{
		Name: TypeCredentialAccessAnomalous, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "Unusual credential access APIs were called by {principal}.",
		Description: "{principal} called APIs that read secrets, keys or passwords, such as {api}, {detail}.",
	},
	{
		Name: TypeExfiltrationAnomalous, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityHigh,
		Title:       "Unusual exfiltration APIs were called by {principal}.",
		Description: "{principal} called APIs that share or copy data out of the account, such as {api}, {detail}.",
	},
	{
		Name: TypeImpactAnomalous, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityHigh,
		Title:       "Unusual impact APIs were called by {principal}.",
		Description: "{principal} called APIs that destroy, lock or hijack resources, such as {api}, {detail}.",
	},
	{
		Name: TypeInitialAccessAnomalous, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "Unusual initial access APIs were called by {principal}.",
		Description: "{principal} signed in or turned its credentials into sessions, with {api}, {detail}.",
	},
	{
		Name: TypePersistenceAnomalous, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "Unusual persistence APIs were called by {principal}.",
		Description: "{principal} called APIs that create new ways into the account, such as {api}, {detail}.",
	},
	{
		Name: TypePrivilegeEscalationAnomalous, ResourceType: ResourceAccessKey, ActionType: ActionAWSAPICall,
		Feature: FeatureCloudTrail, Severity: SeverityMedium,
		Title:       "Unusual privilege escalation APIs were called by {principal}.",
		Description: "{principal} called APIs that grant rights or pass roles, such as {api}, {detail}.",
	},
}

var catalogByName = func() map[string]*Type {
	m := make(map[string]*Type, len(catalog))
	for i := range catalog {
		t := &catalog[i]
		if _, dup := m[t.Name]; dup {
			panic("finding: duplicate type " + t.Name)
		}
		m[t.Name] = t
	}
	return m
}()

// Lookup returns the type with the given name.
func Lookup(name string) (Type, bool) {
	t, ok := catalogByName[name]
	if !ok {
		return Type{}, false
	}
	return *t, true
}

// Types returns every type picket can raise, sorted by name.
func Types() []Type {
	out := make([]Type, len(catalog))
	copy(out, catalog)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// The S3 bucket policy and console sign-in types.
const (
	TypeS3AccountBlockPublicAccessDisabled = "Policy:S3/AccountBlockPublicAccessDisabled"
	TypeS3BucketBlockPublicAccessDisabled  = "Policy:S3/BucketBlockPublicAccessDisabled"
	TypeS3BucketAnonymousAccessGranted     = "Policy:S3/BucketAnonymousAccessGranted"
	TypeS3BucketPublicAccessGranted        = "Policy:S3/BucketPublicAccessGranted"
	TypeS3ServerAccessLoggingDisabled      = "Stealth:S3/ServerAccessLoggingDisabled"
	TypeConsoleLoginSuccessB               = "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B"
)

// The AnomalousBehavior types of the other tactics (detect/iamanomaly);
// TypeDiscoveryAnomalous and TypeDefenseEvasionAnomalous are above.
const (
	TypeCredentialAccessAnomalous    = "CredentialAccess:IAMUser/AnomalousBehavior"
	TypeExfiltrationAnomalous        = "Exfiltration:IAMUser/AnomalousBehavior"
	TypeImpactAnomalous              = "Impact:IAMUser/AnomalousBehavior"
	TypeInitialAccessAnomalous       = "InitialAccess:IAMUser/AnomalousBehavior"
	TypePersistenceAnomalous         = "Persistence:IAMUser/AnomalousBehavior"
	TypePrivilegeEscalationAnomalous = "PrivilegeEscalation:IAMUser/AnomalousBehavior"
)

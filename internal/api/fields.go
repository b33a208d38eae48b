package api

// criterionFields are the finding fields a criterion may name: the
// filterable fields of GuardDuty's model (ListFindings findingCriteria),
// the further attributes of the console's filter page, the port-probe
// paths of the same attributes, and picket's marker of sample findings.
// A name outside it is refused rather than matched against a field no
// finding has, where a notEquals holds for every finding: a misspelt
// suppression rule would archive everything.
var criterionFields = fieldSet(
	// GuardDuty model: FindingCriteria of ListFindings.
	"accountId",
	"confidence",
	"id",
	"region",
	"resource.accessKeyDetails.accessKeyId",
	"resource.accessKeyDetails.principalId",
	"resource.accessKeyDetails.userName",
	"resource.accessKeyDetails.userType",
	"resource.instanceDetails.iamInstanceProfile.id",
	"resource.instanceDetails.imageId",
	"resource.instanceDetails.instanceId",
	"resource.instanceDetails.networkInterfaces.ipv6Addresses",
	"resource.instanceDetails.networkInterfaces.privateIpAddresses.privateIpAddress",
	"resource.instanceDetails.networkInterfaces.publicDnsName",
	"resource.instanceDetails.networkInterfaces.publicIp",
	"resource.instanceDetails.networkInterfaces.securityGroups.groupId",
	"resource.instanceDetails.networkInterfaces.securityGroups.groupName",
	"resource.instanceDetails.networkInterfaces.subnetId",
	"resource.instanceDetails.networkInterfaces.vpcId",
	"resource.instanceDetails.tags.key",
	"resource.instanceDetails.tags.value",
	"resource.resourceType",
	"service.action.actionType",
	"service.action.awsApiCallAction.api",
	"service.action.awsApiCallAction.callerType",
	"service.action.awsApiCallAction.remoteIpDetails.city.cityName",
	"service.action.awsApiCallAction.remoteIpDetails.country.countryName",
	"service.action.awsApiCallAction.remoteIpDetails.ipAddressV4",
	"service.action.awsApiCallAction.remoteIpDetails.organization.asn",
	"service.action.awsApiCallAction.remoteIpDetails.organization.asnOrg",
	"service.action.awsApiCallAction.serviceName",
	"service.action.dnsRequestAction.domain",
	"service.action.dnsRequestAction.domainWithSuffix",
	"service.action.networkConnectionAction.blocked",
	"service.action.networkConnectionAction.connectionDirection",
	"service.action.networkConnectionAction.localPortDetails.port",
	"service.action.networkConnectionAction.protocol",
	"service.action.networkConnectionAction.remoteIpDetails.country.countryName",
	"service.action.networkConnectionAction.remoteIpDetails.ipAddressV4",
	"service.action.networkConnectionAction.remoteIpDetails.organization.asn",
	"service.action.networkConnectionAction.remoteIpDetails.organization.asnOrg",
	"service.action.networkConnectionAction.remotePortDetails.port",
	"service.additionalInfo.threatListName",
	"service.archived",
	"service.ebsVolumeScanDetails.scanId",
	"service.resourceRole",
	"severity",
	"type",
	"updatedAt",

	// The console's filter page; outpostARN and localIpDetails are its
	// spellings, which the store maps onto the finding's.
	"resource.eksClusterDetails.name",
	"resource.instanceDetails.instanceType",
	"resource.instanceDetails.launchTime",
	"resource.instanceDetails.outpostARN",
	"resource.instanceDetails.outpostArn",
	"resource.s3BucketDetails.name",
	"resource.s3BucketDetails.publicAccess.effectivePermissions",
	"resource.s3BucketDetails.tags.key",
	"resource.s3BucketDetails.tags.value",
	"resource.s3BucketDetails.type",
	"service.action.awsApiCallAction.errorCode",
	"service.localIpDetails.ipAddressV4",

	// Port probes carry ports and addresses in portProbeDetails.
	"service.action.portProbeAction.blocked",
	"service.action.portProbeAction.portProbeDetails.localIpDetails.ipAddressV4",
	"service.action.portProbeAction.portProbeDetails.localPortDetails.port",
	"service.action.portProbeAction.portProbeDetails.localPortDetails.portName",
	"service.action.portProbeAction.portProbeDetails.remoteIpDetails.country.countryName",
	"service.action.portProbeAction.portProbeDetails.remoteIpDetails.ipAddressV4",
	"service.action.portProbeAction.portProbeDetails.remoteIpDetails.organization.asn",
	"service.action.portProbeAction.portProbeDetails.remoteIpDetails.organization.asnOrg",

	// Sample findings (CreateSampleFindings) say so in additionalInfo.
	"service.additionalInfo.sample",
)

// sortFields are the attributes a sortCriteria may name: every
// criterion field and the finding's other ordered scalars.
var sortFields = fieldSet(append(criterionFieldList(),
	"createdAt",
	"title",
	"service.count",
	"service.eventFirstSeen",
	"service.eventLastSeen",
	"service.userFeedback",
)...)

func fieldSet(names ...string) map[string]struct{} {
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		if _, dup := m[n]; dup {
			panic("api: finding field " + n + " listed twice")
		}
		m[n] = struct{}{}
	}
	return m
}

func criterionFieldList() []string {
	out := make([]string, 0, len(criterionFields))
	for n := range criterionFields {
		out = append(out, n)
	}
	return out
}

func knownCriterion(field string) bool {
	_, ok := criterionFields[field]
	return ok
}

func knownSort(field string) bool {
	_, ok := sortFields[field]
	return ok
}

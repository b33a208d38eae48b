package api

// readFeatures are the detector features whose data picket reads: VPC
// flow logs and CloudTrail management events, told apart by decode from
// whatever a source delivers. DNS query logs are not read yet, and the
// optional features (S3 data events, EKS audit logs, malware protection,
// RDS login events, Lambda network logs, runtime monitoring) need data or
// agents picket does not have.
var readFeatures = map[string]bool{"FLOW_LOGS": true, "CLOUD_TRAIL": true}

// getDetectorAsRead is GetDetector with each feature and data source
// reported as picket serves it: ENABLED only for what it reads, DISABLED
// for the rest whatever CreateDetector or UpdateDetector stored (they
// keep a request's settings, so that a tool applying a configuration
// finds no error, but the settings turn nothing on).
func (h *Handler) getDetectorAsRead(rq *request) (any, error) {
	out, err := h.getDetector(rq)
	if err != nil {
		return nil, err
	}
	d, ok := out.(detectorOutput)
	if !ok {
		return out, nil
	}
	return asRead(d), nil
}

// asRead sets the statuses of d's features and data sources to what
// picket reads.
func asRead(d detectorOutput) detectorOutput {
	status := func(on bool) string {
		if on {
			return enabled
		}
		return disabled
	}
	fs := make([]featureResult, len(d.Features))
	for i, f := range d.Features {
		f.Status = status(readFeatures[f.Name])
		if f.AdditionalConfiguration != nil {
			acs := make([]featureResult, len(f.AdditionalConfiguration))
			for j, a := range f.AdditionalConfiguration {
				a.Status = disabled
				acs[j] = a
			}
			f.AdditionalConfiguration = acs
		}
		fs[i] = f
	}
	d.Features = fs
	ds := &d.DataSources
	ds.FlowLogs.Status = status(readFeatures["FLOW_LOGS"])
	ds.CloudTrail.Status = status(readFeatures["CLOUD_TRAIL"])
	ds.DNSLogs.Status = status(readFeatures["DNS_LOGS"])
	ds.S3Logs.Status = disabled
	ds.Kubernetes.AuditLogs.Status = disabled
	ds.MalwareProtection.ScanEc2InstanceWithFindings.EbsVolumes.Status = disabled
	return d
}

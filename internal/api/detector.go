package api

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"picket/internal/finding"
	"picket/internal/store"
)

// Detector feature names: the foundational sources GetDetector always
// reports, and the optional features a request may set.
var (
	foundationalFeatures = []string{"FLOW_LOGS", "CLOUD_TRAIL", "DNS_LOGS"}
	optionalFeatures     = []string{"S3_DATA_EVENTS", "EKS_AUDIT_LOGS", "EBS_MALWARE_PROTECTION", "RDS_LOGIN_EVENTS",
		"EKS_RUNTIME_MONITORING", "LAMBDA_NETWORK_LOGS", "RUNTIME_MONITORING"}
	// additionalFeatures are the additional configurations each feature
	// has; they start DISABLED.
	additionalFeatures = map[string][]string{
		"EKS_RUNTIME_MONITORING": {"EKS_ADDON_MANAGEMENT"},
		"RUNTIME_MONITORING":     {"EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT", "EC2_AGENT_MANAGEMENT"},
	}
	frequencies = []string{"FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"}
)

const (
	enabled  = "ENABLED"
	disabled = "DISABLED"
)

type featureConfig struct {
	Name                    *string            `json:"name"`
	Status                  *string            `json:"status"`
	AdditionalConfiguration []additionalConfig `json:"additionalConfiguration"`
}

type additionalConfig struct {
	Name   *string `json:"name"`
	Status *string `json:"status"`
}

type enableFlag struct {
	Enable *bool `json:"enable"`
}

// dataSources is the deprecated DataSourceConfigurations.
type dataSources struct {
	S3Logs     *enableFlag `json:"s3Logs"`
	Kubernetes *struct {
		AuditLogs *enableFlag `json:"auditLogs"`
	} `json:"kubernetes"`
	MalwareProtection *struct {
		ScanEc2InstanceWithFindings *struct {
			EbsVolumes *bool `json:"ebsVolumes"`
		} `json:"scanEc2InstanceWithFindings"`
	} `json:"malwareProtection"`
}

type createDetectorInput struct {
	Enable                     *bool             `json:"enable"`
	ClientToken                *string           `json:"clientToken"`
	FindingPublishingFrequency *string           `json:"findingPublishingFrequency"`
	DataSources                *dataSources      `json:"dataSources"`
	Tags                       map[string]string `json:"tags"`
	Features                   []featureConfig   `json:"features"`
}

func (h *Handler) createDetector(rq *request) (any, error) {
	var in createDetectorInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	if in.Enable == nil {
		return nil, required("enable")
	}
	if err := optLength("clientToken", in.ClientToken, 0, 64); err != nil {
		return nil, err
	}
	freq := "SIX_HOURS"
	if in.FindingPublishingFrequency != nil {
		freq = *in.FindingPublishingFrequency
		if err := enum("findingPublishingFrequency", freq, frequencies...); err != nil {
			return nil, err
		}
	}
	if err := validTags(in.Tags, in.Tags != nil); err != nil {
		return nil, err
	}
	now := h.now().UTC()
	features := defaultFeatures(now)
	if err := applyFeatures(features, in.Features, in.DataSources, now); err != nil {
		return nil, err
	}
	c := rq.caller
	d := &store.Detector{
		ID:                         finding.DetectorID(c.Account, c.Region),
		Account:                    c.Account,
		Region:                     c.Region,
		Enabled:                    *in.Enable,
		FindingPublishingFrequency: freq,
		Features:                   features,
		Tags:                       in.Tags,
		CreatedAt:                  now,
		UpdatedAt:                  now,
	}
	if err := h.store.CreateDetector(rq.ctx, d); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, badRequest(msgDetectorExist, err)
		}
		return nil, fmt.Errorf("creating detector: %w", err)
	}
	if len(in.Tags) > 0 {
		if err := h.store.Tag(rq.ctx, detectorARN(d), in.Tags); err != nil {
			return nil, fmt.Errorf("tagging detector %s: %w", d.ID, err)
		}
	}
	return struct {
		DetectorID string `json:"detectorId"`
	}{d.ID}, nil
}

// defaultFeatures are the optional features of a new detector: enabled,
// except runtime monitoring.
func defaultFeatures(now time.Time) []store.Feature {
	out := make([]store.Feature, 0, len(optionalFeatures))
	for _, name := range optionalFeatures {
		f := store.Feature{Name: name, Status: enabled, UpdatedAt: now}
		if name == "RUNTIME_MONITORING" {
			f.Status = disabled
		}
		for _, a := range additionalFeatures[name] {
			f.Additional = append(f.Additional, store.Feature{Name: a, Status: disabled, UpdatedAt: now})
		}
		out = append(out, f)
	}
	return out
}

// applyFeatures validates a request's features (or its deprecated
// dataSources) and applies them to fs.
func applyFeatures(fs []store.Feature, in []featureConfig, ds *dataSources, now time.Time) error {
	if len(in) > 0 && ds != nil {
		return invalidParam("dataSources", errors.New("dataSources and features cannot both be given"))
	}
	set := func(name string, on bool) {
		i := slices.IndexFunc(fs, func(f store.Feature) bool { return f.Name == name })
		fs[i].Status = disabled
		if on {
			fs[i].Status = enabled
		}
		fs[i].UpdatedAt = now
	}
	if ds != nil {
		if ds.S3Logs != nil {
			if ds.S3Logs.Enable == nil {
				return required("dataSources.s3Logs.enable")
			}
			set("S3_DATA_EVENTS", *ds.S3Logs.Enable)
		}
		if k := ds.Kubernetes; k != nil {
			if k.AuditLogs == nil || k.AuditLogs.Enable == nil {
				return required("dataSources.kubernetes.auditLogs.enable")
			}
			set("EKS_AUDIT_LOGS", *k.AuditLogs.Enable)
		}
		if m := ds.MalwareProtection; m != nil && m.ScanEc2InstanceWithFindings != nil && m.ScanEc2InstanceWithFindings.EbsVolumes != nil {
			set("EBS_MALWARE_PROTECTION", *m.ScanEc2InstanceWithFindings.EbsVolumes)
		}
		return nil
	}
	seen := map[string]bool{}
	for _, fc := range in {
		if fc.Name == nil {
			return required("features.name")
		}
		name := *fc.Name
		if err := enum("features.name", name, optionalFeatures...); err != nil {
			return err
		}
		if seen[name] {
			return invalidParam("features.name", fmt.Errorf("%s given twice", name))
		}
		seen[name] = true
		i := slices.IndexFunc(fs, func(f store.Feature) bool { return f.Name == name })
		if fc.Status != nil {
			if err := enum("features.status", *fc.Status, enabled, disabled); err != nil {
				return err
			}
			fs[i].Status = *fc.Status
			fs[i].UpdatedAt = now
		}
		for _, ac := range fc.AdditionalConfiguration {
			if ac.Name == nil {
				return required("features.additionalConfiguration.name")
			}
			j := slices.IndexFunc(fs[i].Additional, func(f store.Feature) bool { return f.Name == *ac.Name })
			if j < 0 {
				return invalidParam("features.additionalConfiguration.name", fmt.Errorf("%q is not an additional configuration of %s", truncate(*ac.Name, 64), name))
			}
			if ac.Status != nil {
				if err := enum("features.additionalConfiguration.status", *ac.Status, enabled, disabled); err != nil {
					return err
				}
				fs[i].Additional[j].Status = *ac.Status
				fs[i].Additional[j].UpdatedAt = now
			}
		}
	}
	if seen["EKS_RUNTIME_MONITORING"] && seen["RUNTIME_MONITORING"] {
		return invalidParam("features", errors.New("EKS_RUNTIME_MONITORING and RUNTIME_MONITORING cannot both be given"))
	}
	return nil
}

// listDetectors lists the caller's detector in its region: GuardDuty
// allows one per account and region, so there is never a second page.
// The administrator's detector is created here when the region has
// members but no detector of its own (see scope.go).
func (h *Handler) listDetectors(rq *request) (any, error) {
	if _, err := h.pageOf(rq, "ListDetectors", "", 50); err != nil {
		return nil, err
	}
	ids := []string{}
	d, err := h.store.DetectorFor(rq.ctx, rq.caller.Account, rq.caller.Region)
	if errors.Is(err, store.ErrNotFound) && h.administrator(rq.caller) {
		d, err = h.ensureAdministratorDetector(rq.ctx, rq.caller.Region)
		if err == nil && d == nil {
			err = store.ErrNotFound
		}
	}
	switch {
	case err == nil:
		ids = append(ids, d.ID)
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("finding the detector of %s in %s: %w", rq.caller.Account, rq.caller.Region, err)
	}
	return struct {
		DetectorIDs []string `json:"detectorIds"`
	}{ids}, nil
}

// detector returns the detector named by the request's first path label
// if the caller owns it.
func (h *Handler) detector(rq *request) (*store.Detector, error) {
	id := rq.labels[0]
	if !wellFormedID(id) {
		return nil, badRequest(msgDetectorID, fmt.Errorf("detector ID %q", truncate(id, 64)))
	}
	d, err := h.store.Detector(rq.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, badRequest(msgNotOwned, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading detector %s: %w", id, err)
	}
	if d.Account != rq.caller.Account || d.Region != rq.caller.Region {
		return nil, badRequest(msgNotOwned, fmt.Errorf("detector %s belongs to %s in %s", id, d.Account, d.Region))
	}
	return d, nil
}

// detectorOutput is GetDetector's answer.
type detectorOutput struct {
	CreatedAt                  string            `json:"createdAt"`
	FindingPublishingFrequency string            `json:"findingPublishingFrequency"`
	ServiceRole                string            `json:"serviceRole"`
	Status                     string            `json:"status"`
	UpdatedAt                  string            `json:"updatedAt"`
	DataSources                dataSourcesResult `json:"dataSources"`
	Tags                       map[string]string `json:"tags"`
	Features                   []featureResult   `json:"features"`
}

type statusOnly struct {
	Status string `json:"status"`
}

type dataSourcesResult struct {
	CloudTrail statusOnly `json:"cloudTrail"`
	DNSLogs    statusOnly `json:"dnsLogs"`
	FlowLogs   statusOnly `json:"flowLogs"`
	S3Logs     statusOnly `json:"s3Logs"`
	Kubernetes struct {
		AuditLogs statusOnly `json:"auditLogs"`
	} `json:"kubernetes"`
	MalwareProtection struct {
		ScanEc2InstanceWithFindings struct {
			EbsVolumes statusOnly `json:"ebsVolumes"`
		} `json:"scanEc2InstanceWithFindings"`
		ServiceRole string `json:"serviceRole"`
	} `json:"malwareProtection"`
}

type featureResult struct {
	Name                    string          `json:"name"`
	Status                  string          `json:"status"`
	UpdatedAt               epochSeconds    `json:"updatedAt"`
	AdditionalConfiguration []featureResult `json:"additionalConfiguration,omitempty"`
}

func (h *Handler) getDetector(rq *request) (any, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	tags, err := h.tagsOf(rq, detectorARN(d))
	if err != nil {
		return nil, err
	}
	partition := finding.Partition(d.Region)
	out := detectorOutput{
		CreatedAt:                  d.CreatedAt.UTC().Format(finding.TimeFormat),
		FindingPublishingFrequency: d.FindingPublishingFrequency,
		ServiceRole:                "arn:" + partition + ":iam::" + d.Account + ":role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty",
		Status:                     disabled,
		UpdatedAt:                  d.UpdatedAt.UTC().Format(finding.TimeFormat),
		Tags:                       tags,
	}
	if d.Enabled {
		out.Status = enabled
	}
	if out.FindingPublishingFrequency == "" {
		out.FindingPublishingFrequency = "SIX_HOURS"
	}
	for _, name := range foundationalFeatures {
		out.Features = append(out.Features, featureResult{Name: name, Status: enabled, UpdatedAt: epochSeconds(d.CreatedAt)})
	}
	var optional []featureResult
	out.DataSources, optional = detectorSources(d)
	out.Features = append(out.Features, optional...)
	return out, nil
}

// detectorSources returns the deprecated dataSources block of a detector
// and its optional features, as GetDetector and GetMemberDetectors
// report them.
func detectorSources(d *store.Detector) (dataSourcesResult, []featureResult) {
	var features []featureResult
	status := map[string]string{}
	for _, f := range d.Features {
		fr := featureResult{Name: f.Name, Status: f.Status, UpdatedAt: epochSeconds(f.UpdatedAt)}
		for _, a := range f.Additional {
			fr.AdditionalConfiguration = append(fr.AdditionalConfiguration, featureResult{Name: a.Name, Status: a.Status, UpdatedAt: epochSeconds(a.UpdatedAt)})
		}
		features = append(features, fr)
		status[f.Name] = f.Status
	}
	or := func(s string) string {
		if s == "" {
			return disabled
		}
		return s
	}
	var ds dataSourcesResult
	ds.CloudTrail.Status, ds.DNSLogs.Status, ds.FlowLogs.Status = enabled, enabled, enabled
	ds.S3Logs.Status = or(status["S3_DATA_EVENTS"])
	ds.Kubernetes.AuditLogs.Status = or(status["EKS_AUDIT_LOGS"])
	ds.MalwareProtection.ScanEc2InstanceWithFindings.EbsVolumes.Status = or(status["EBS_MALWARE_PROTECTION"])
	ds.MalwareProtection.ServiceRole = "arn:" + finding.Partition(d.Region) + ":iam::" + d.Account +
		":role/aws-service-role/malware-protection.guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDutyMalwareProtection"
	return ds, features
}

type updateDetectorInput struct {
	Enable                     *bool           `json:"enable"`
	FindingPublishingFrequency *string         `json:"findingPublishingFrequency"`
	DataSources                *dataSources    `json:"dataSources"`
	Features                   []featureConfig `json:"features"`
}

func (h *Handler) updateDetector(rq *request) (any, error) {
	var in updateDetectorInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	now := h.now().UTC()
	if in.FindingPublishingFrequency != nil {
		if err := enum("findingPublishingFrequency", *in.FindingPublishingFrequency, frequencies...); err != nil {
			return nil, err
		}
		d.FindingPublishingFrequency = *in.FindingPublishingFrequency
	}
	if in.Enable != nil {
		d.Enabled = *in.Enable
	}
	// Detectors stored by older code or the ingest side may lack features.
	fs := defaultFeatures(d.CreatedAt)
	for _, f := range d.Features {
		if i := slices.IndexFunc(fs, func(g store.Feature) bool { return g.Name == f.Name }); i >= 0 {
			fs[i] = f
		}
	}
	if err := applyFeatures(fs, in.Features, in.DataSources, now); err != nil {
		return nil, err
	}
	d.Features = fs
	d.UpdatedAt = now
	if err := h.store.UpdateDetector(rq.ctx, d); err != nil {
		return nil, fmt.Errorf("updating detector %s: %w", d.ID, err)
	}
	return nil, nil
}

// deleteDetector removes the detector with its findings, filters and
// lists; the lists are unloaded and the tags of all of them removed.
func (h *Handler) deleteDetector(rq *request) (any, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	arns := []string{detectorARN(d)}
	err = eachPage(func(p store.Page) ([]string, string, error) { return h.store.Filters(rq.ctx, d.ID, p) }, func(name string) error {
		arns = append(arns, filterARN(d, name))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the filters of detector %s: %w", d.ID, err)
	}
	var sets []*store.Set
	for _, k := range setKinds {
		err := eachPage(func(p store.Page) ([]string, string, error) { return h.store.Sets(rq.ctx, d.ID, k.kind, p) }, func(id string) error {
			s, err := h.store.Set(rq.ctx, d.ID, k.kind, id)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			sets = append(sets, s)
			arns = append(arns, setARN(d, k.kind, id))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing the %s lists of detector %s: %w", k.kind, d.ID, err)
		}
	}
	if err := h.store.DeleteDetector(rq.ctx, d.ID); err != nil {
		return nil, fmt.Errorf("deleting detector %s: %w", d.ID, err)
	}
	for _, s := range sets {
		h.unload(*s)
	}
	for _, arn := range arns {
		if err := h.untagAll(rq, arn); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// eachPage calls fn with every ID of a listing.
func eachPage(list func(store.Page) ([]string, string, error), fn func(string) error) error {
	var p store.Page
	p.Limit = 50
	for {
		ids, next, err := list(p)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := fn(id); err != nil {
				return err
			}
		}
		if next == "" || next == p.Cursor {
			return nil
		}
		p.Cursor = next
	}
}

// ARNs of resources, as the tag operations name them.

func detectorARN(d *store.Detector) string {
	return "arn:" + finding.Partition(d.Region) + ":guardduty:" + d.Region + ":" + d.Account + ":detector/" + d.ID
}

func filterARN(d *store.Detector, name string) string {
	return detectorARN(d) + "/filter/" + name
}

func setARN(d *store.Detector, kind store.SetKind, id string) string {
	return detectorARN(d) + "/" + string(kind) + "/" + id
}

// epochSeconds is a model timestamp: a JSON number of seconds since the
// epoch, with milliseconds.
type epochSeconds time.Time

// MarshalJSON writes the seconds, fractional when the time has
// milliseconds.
func (t epochSeconds) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	ms := tt.UnixMilli()
	if ms%1000 == 0 {
		return fmt.Appendf(nil, "%d", ms/1000), nil
	}
	return fmt.Appendf(nil, "%d.%03d", ms/1000, abs(ms%1000)), nil
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

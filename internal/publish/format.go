package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"picket/internal/finding"
	"picket/internal/store"
)

// Format is how a target encodes a finding.
type Format string

// The formats.
const (
	// FormatEventBridge is the event GuardDuty sends to EventBridge:
	// detail-type "GuardDuty Finding", source "aws.guardduty", the
	// finding as detail.
	FormatEventBridge Format = "eventbridge"
	// FormatFinding is the finding's own JSON, as GetFindings returns it.
	FormatFinding Format = "finding"
	// FormatOCSF is an OCSF 1.x Detection Finding (class_uid 2004).
	FormatOCSF Format = "ocsf"
	// FormatASFF is the AWS Security Finding Format of Security Hub's
	// BatchImportFindings.
	FormatASFF Format = "asff"
)

// Formats lists the formats, for the configuration's checks.
var Formats = []Format{FormatEventBridge, FormatFinding, FormatOCSF, FormatASFF}

// Encode returns the JSON of e in format f.
func Encode(f Format, e Event) ([]byte, error) {
	var v any
	switch f {
	case FormatEventBridge, "":
		v = Envelope(e.Finding)
	case FormatFinding:
		v = e.Finding
	case FormatOCSF:
		v = OCSF(e)
	case FormatASFF:
		v = ASFF(e.Finding)
	default:
		return nil, fmt.Errorf("unknown format %q", f)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding finding %s as %s: %w", e.Finding.ID, f, err)
	}
	return b, nil
}

// EventID returns a UUID-shaped identifier of a finding's state: the same
// for the same finding, updatedAt and count, so that a receiver can tell
// a delivery sent again (at least once) from a change.
func EventID(f *finding.Finding) string {
	h := sha256.Sum256([]byte(f.ID + "\x00" + f.UpdatedAt.UTC().Format(finding.TimeFormat) + "\x00" + strconv.FormatInt(f.Service.Count, 10)))
	h[6] = h[6]&0x0f | 0x50 // the version and variant bits of a name-based UUID
	h[8] = h[8]&0x3f | 0x80
	s := hex.EncodeToString(h[:16])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// EventBridgeEvent is the event GuardDuty sends to EventBridge for a
// finding.
type EventBridgeEvent struct {
	Version    string           `json:"version"`
	ID         string           `json:"id"`
	DetailType string           `json:"detail-type"`
	Source     string           `json:"source"`
	Account    string           `json:"account"`
	Time       string           `json:"time"`
	Region     string           `json:"region"`
	Resources  []string         `json:"resources"`
	Detail     *finding.Finding `json:"detail"`
}

// The EventBridge fields of a GuardDuty finding event.
const (
	DetailType  = "GuardDuty Finding"
	EventSource = "aws.guardduty"
)

// Envelope returns the EventBridge event of f. Its time is the finding's
// updatedAt, so that the same state gives the same event.
func Envelope(f *finding.Finding) EventBridgeEvent {
	return EventBridgeEvent{
		Version: "0", ID: EventID(f), DetailType: DetailType, Source: EventSource,
		Account: f.AccountID, Time: f.UpdatedAt.UTC().Format(time.RFC3339), Region: f.Region,
		Resources: []string{}, Detail: f,
	}
}

// ocsfVersion is the OCSF schema version the Detection Finding follows.
const ocsfVersion = "1.3.0"

// The OCSF Detection Finding class and its activities.
const (
	ocsfCategoryFindings = 2
	ocsfClassDetection   = 2004
	ocsfActivityCreate   = 1
	ocsfActivityUpdate   = 2
)

// OCSFFinding is an OCSF Detection Finding; OCSF's attribute names.
type OCSFFinding struct {
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	TypeUID      int    `json:"type_uid"`
	TypeName     string `json:"type_name"`
	SeverityID   int    `json:"severity_id"`
	Severity     string `json:"severity"`
	StatusID     int    `json:"status_id"`
	Status       string `json:"status"`
	Time         int64  `json:"time"` // the finding's creation, Unix milliseconds
	StartTime    int64  `json:"start_time"`
	EndTime      int64  `json:"end_time"`
	Count        int64  `json:"count"`
	IsAlert      bool   `json:"is_alert"`
	Message      string `json:"message"`
	Metadata     struct {
		Version string `json:"version"`
		Product struct {
			Name       string `json:"name"`
			VendorName string `json:"vendor_name"`
		} `json:"product"`
		UID          string `json:"uid"`
		ModifiedTime int64  `json:"modified_time"`
	} `json:"metadata"`
	FindingInfo struct {
		UID           string   `json:"uid"`
		Title         string   `json:"title"`
		Desc          string   `json:"desc"`
		Types         []string `json:"types"`
		CreatedTime   int64    `json:"created_time"`
		ModifiedTime  int64    `json:"modified_time"`
		FirstSeenTime int64    `json:"first_seen_time"`
		LastSeenTime  int64    `json:"last_seen_time"`
	} `json:"finding_info"`
	Cloud struct {
		Provider string `json:"provider"`
		Region   string `json:"region"`
		Account  struct {
			UID string `json:"uid"`
		} `json:"account"`
	} `json:"cloud"`
	Resources []OCSFResource `json:"resources,omitempty"`
	// Unmapped keeps the GuardDuty finding whole.
	Unmapped *finding.Finding `json:"unmapped"`
}

// OCSFResource is an affected resource of an OCSF finding.
type OCSFResource struct {
	UID    string `json:"uid"`
	Type   string `json:"type"`
	Region string `json:"region,omitempty"`
}

// ocsfSeverity maps GuardDuty's severity to OCSF's severity_id: Low 2,
// Medium 3, High 4, Critical 5.
func ocsfSeverity(s finding.Severity) (int, string) {
	switch s.Label() {
	case "Critical":
		return 5, "Critical"
	case "High":
		return 4, "High"
	case "Medium":
		return 3, "Medium"
	}
	return 2, "Low"
}

// OCSF returns e's finding as an OCSF Detection Finding: activity Create
// for a new finding, Update for a changed one.
func OCSF(e Event) OCSFFinding {
	f := e.Finding
	var o OCSFFinding
	o.ActivityID, o.ActivityName = ocsfActivityCreate, "Create"
	if e.Kind == store.OutboxUpdate {
		o.ActivityID, o.ActivityName = ocsfActivityUpdate, "Update"
	}
	o.CategoryUID, o.CategoryName = ocsfCategoryFindings, "Findings"
	o.ClassUID, o.ClassName = ocsfClassDetection, "Detection Finding"
	o.TypeUID = o.ClassUID*100 + o.ActivityID
	o.TypeName = "Detection Finding: " + o.ActivityName
	o.SeverityID, o.Severity = ocsfSeverity(f.Severity)
	o.StatusID, o.Status = 1, "New"
	o.Time = f.CreatedAt.UnixMilli()
	o.StartTime, o.EndTime = f.Service.EventFirstSeen.UnixMilli(), f.Service.EventLastSeen.UnixMilli()
	o.Count = f.Service.Count
	o.IsAlert = true
	o.Message = titleOf(f)
	o.Metadata.Version = ocsfVersion
	o.Metadata.Product.Name, o.Metadata.Product.VendorName = "picket", "picket"
	o.Metadata.UID = EventID(f)
	o.Metadata.ModifiedTime = f.UpdatedAt.UnixMilli()
	fi := &o.FindingInfo
	fi.UID, fi.Title, fi.Desc, fi.Types = f.Arn, titleOf(f), descriptionOf(f), []string{f.Type}
	fi.CreatedTime, fi.ModifiedTime = f.CreatedAt.UnixMilli(), f.UpdatedAt.UnixMilli()
	fi.FirstSeenTime, fi.LastSeenTime = o.StartTime, o.EndTime
	o.Cloud.Provider, o.Cloud.Region, o.Cloud.Account.UID = "AWS", f.Region, f.AccountID
	for _, r := range resources(f) {
		o.Resources = append(o.Resources, OCSFResource{UID: r.id, Type: r.asffType, Region: f.Region})
	}
	o.Unmapped = f
	return o
}

type resource struct{ id, asffType string }

// resources returns what a finding is about, as Security Hub names the
// resource types.
func resources(f *finding.Finding) []resource {
	partition := f.Partition
	if partition == "" {
		partition = "aws"
	}
	r := f.Resource
	switch {
	case r.InstanceDetails != nil && r.InstanceDetails.InstanceID != "":
		return []resource{{"arn:" + partition + ":ec2:" + f.Region + ":" + f.AccountID + ":instance/" + r.InstanceDetails.InstanceID, "AwsEc2Instance"}}
	case r.AccessKeyDetails != nil && r.AccessKeyDetails.AccessKeyID != "":
		return []resource{{r.AccessKeyDetails.AccessKeyID, "AwsIamAccessKey"}}
	}
	return []resource{{"arn:" + partition + ":guardduty:" + f.Region + ":" + f.AccountID + ":detector/" + f.Service.DetectorID, "Other"}}
}

// ASFFFinding is a finding in the AWS Security Finding Format; ASFF's
// field names.
type ASFFFinding struct {
	SchemaVersion string   `json:"SchemaVersion"`
	ID            string   `json:"Id"`
	ProductArn    string   `json:"ProductArn"`
	ProductName   string   `json:"ProductName"`
	CompanyName   string   `json:"CompanyName"`
	GeneratorID   string   `json:"GeneratorId"`
	AwsAccountID  string   `json:"AwsAccountId"`
	Region        string   `json:"Region"`
	Types         []string `json:"Types"`
	FirstObserved string   `json:"FirstObservedAt"`
	LastObserved  string   `json:"LastObservedAt"`
	CreatedAt     string   `json:"CreatedAt"`
	UpdatedAt     string   `json:"UpdatedAt"`
	Severity      struct {
		Label    string `json:"Label"`
		Original string `json:"Original"`
	} `json:"Severity"`
	Title         string            `json:"Title"`
	Description   string            `json:"Description"`
	ProductFields map[string]string `json:"ProductFields"`
	Resources     []ASFFResource    `json:"Resources"`
	RecordState   string            `json:"RecordState"`
	Workflow      struct {
		Status string `json:"Status"`
	} `json:"Workflow"`
}

// ASFFResource is a resource of an ASFF finding.
type ASFFResource struct {
	Type      string `json:"Type"`
	ID        string `json:"Id"`
	Partition string `json:"Partition"`
	Region    string `json:"Region"`
}

// asffCategories maps a finding type's threat purpose to the namespace
// and category of ASFF's finding type taxonomy.
var asffCategories = map[string]string{ //nolint:gosec // finding categories, not credentials
	"Backdoor":            "TTPs/Command and Control",
	"Behavior":            "Unusual Behaviors/Network Flow",
	"CredentialAccess":    "TTPs/Credential Access",
	"CryptoCurrency":      "Effects/Resource Consumption",
	"DefenseEvasion":      "TTPs/Defense Evasion",
	"Discovery":           "TTPs/Discovery",
	"Execution":           "TTPs/Execution",
	"Exfiltration":        "Effects/Data Exfiltration",
	"Impact":              "Effects/Resource Consumption",
	"InitialAccess":       "TTPs/Initial Access",
	"PenTest":             "TTPs/Discovery",
	"Persistence":         "TTPs/Persistence",
	"Policy":              "Software and Configuration Checks/AWS Security Best Practices",
	"PrivilegeEscalation": "TTPs/Privilege Escalation",
	"Recon":               "TTPs/Discovery",
	"Stealth":             "TTPs/Defense Evasion",
	"Trojan":              "TTPs/Command and Control",
	"UnauthorizedAccess":  "TTPs/Initial Access",
}

// asffType returns the ASFF finding type of a GuardDuty finding type, as
// namespace/category/classifier; the classifier is the GuardDuty type
// with its slash made a hyphen.
func asffType(t string) string {
	purpose, _, _ := strings.Cut(t, ":")
	cat, ok := asffCategories[purpose]
	if !ok {
		cat = "Unusual Behaviors/Network Flow"
	}
	return cat + "/" + strings.ReplaceAll(t, "/", "-")
}

// ASFF returns f in the AWS Security Finding Format, as a finding of the
// account's default product (arn:...:product/<account>/default), which
// BatchImportFindings accepts from the account itself.
func ASFF(f *finding.Finding) ASFFFinding {
	partition := f.Partition
	if partition == "" {
		partition = "aws"
	}
	ts := func(t finding.Timestamp) string { return t.UTC().Format(finding.TimeFormat) }
	var a ASFFFinding
	a.SchemaVersion = "2018-10-08"
	a.ID = f.Arn
	a.ProductArn = "arn:" + partition + ":securityhub:" + f.Region + ":" + f.AccountID + ":product/" + f.AccountID + "/default"
	a.ProductName, a.CompanyName = "picket", "picket"
	a.GeneratorID = "picket/" + f.Type
	a.AwsAccountID, a.Region = f.AccountID, f.Region
	a.Types = []string{asffType(f.Type)}
	a.FirstObserved, a.LastObserved = ts(f.Service.EventFirstSeen), ts(f.Service.EventLastSeen)
	a.CreatedAt, a.UpdatedAt = ts(f.CreatedAt), ts(f.UpdatedAt)
	a.Severity.Label = strings.ToUpper(f.Severity.Label())
	a.Severity.Original = strconv.FormatFloat(float64(f.Severity), 'f', -1, 64)
	// ASFF's limits: a title of 256 characters, a description of 1024.
	a.Title, a.Description = truncate(titleOf(f), 256), truncate(descriptionOf(f), 1024)
	a.ProductFields = map[string]string{
		"picket/type":         f.Type,
		"picket/id":           f.ID,
		"picket/detectorId":   f.Service.DetectorID,
		"picket/count":        strconv.FormatInt(f.Service.Count, 10),
		"picket/resourceRole": f.Service.ResourceRole,
	}
	for _, r := range resources(f) {
		a.Resources = append(a.Resources, ASFFResource{Type: r.asffType, ID: r.id, Partition: partition, Region: f.Region})
	}
	a.RecordState = "ACTIVE"
	a.Workflow.Status = "NEW"
	return a
}

// truncate cuts s to at most n bytes at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// titleOf returns a finding's title, its type when it has none: OCSF and
// ASFF require one.
func titleOf(f *finding.Finding) string {
	if f.Title != "" {
		return f.Title
	}
	return f.Type
}

// descriptionOf returns a finding's description, its title when it has
// none: ASFF requires one.
func descriptionOf(f *finding.Finding) string {
	if f.Description != "" {
		return f.Description
	}
	return titleOf(f)
}

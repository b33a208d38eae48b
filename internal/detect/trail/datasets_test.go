package trail_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"picket/internal/awsip"
	"picket/internal/decode"
)

// TestDatasets runs every detector over the real trails of emulated
// attacks in shared/datasets/cloudtrail (see SOURCES.md there): flaws2,
// Stratus Red Team detonations, Invictus, OTRF. It reads the archives in
// memory, never copies them, and skips when the folder is absent. Each
// dataset lists the findings it must yield and the benign principals that
// must stay quiet; -update writes the per-dataset report of what is
// flagged and missed, and why, to docs/cloudtrail-evaluation.md.
//
// AWS's ranges are an excerpt of ip-ranges.json that covers the datasets'
// AWS addresses (the instance-credential detector claims nothing without
// ranges); there is no geolocation database and no threat list, so the
// profile detector, which needs a week of history these trails do not
// have, and the threat-intel detector are quiet by construction.

// rangesExcerpt is the part of AWS's ip-ranges.json the datasets need.
const rangesExcerpt = `{"syncToken":"1","createDate":"2026-11-01-00-00-00","prefixes":[
{"ip_prefix":"3.224.0.0/12","region":"us-east-1","service":"EC2","network_border_group":"us-east-1"},
{"ip_prefix":"52.44.0.0/15","region":"us-east-1","service":"EC2","network_border_group":"us-east-1"},
{"ip_prefix":"34.224.0.0/12","region":"us-east-1","service":"EC2","network_border_group":"us-east-1"},
{"ip_prefix":"18.236.0.0/15","region":"us-west-2","service":"EC2","network_border_group":"us-west-2"}
],"ipv6_prefixes":[]}`

func datasetDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PICKET_DATASETS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "datasets")
	}
	dir = filepath.Join(dir, "cloudtrail")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real trails not available: %v", err)
	}
	return dir
}

// members opens a dataset file in memory: a tar.gz or zip archive yields
// its files, a .gz file its content, each decompressed.
func members(t *testing.T, path string) []input {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Base(path)
	var out []input
	switch {
	case strings.HasSuffix(base, ".tar.gz"):
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, input{h.Name, gunzipIf(t, b)})
		}
	case strings.HasSuffix(base, ".zip"):
		zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, input{f.Name, gunzipIf(t, b)})
		}
	default:
		out = append(out, input{base, gunzipIf(t, raw)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func gunzipIf(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// technique is one labelled activity of a dataset: the findings it must
// yield (summary lines; a prefix of the line is enough), or why picket
// misses it.
type technique struct {
	name   string
	inputs string   // the dataset members it is in ("" for all)
	want   []string // summaries that must be among the findings
	missed string   // why nothing more is expected
}

// dataset is one dataset and its labels.
type dataset struct {
	file       string
	about      string
	separately bool // each member is its own detonation in its own account
	techniques []technique
	benign     []string // principals (userName) that must not be flagged
	notTrail   string   // why the dataset is not analyzed
}

var datasets = []dataset{
	{
		file:  "flaws2_cloud_attack_cloudtrail.tar.gz",
		about: "37 events of the flaws2.cloud attacker path: the level1 Lambda function's credentials and the level3 ECS task's, read by the attacker and used from 104.102.221.250; Lambda, ECS and API Gateway service events around them.",
		techniques: []technique{
			{name: "Lambda credentials (level1) used from the attacker's laptop: ListObjects, ECR ListImages, BatchGetImage, GetDownloadUrlForLayer",
				want: []string{"UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS principal=level1 kind=service-credentials severity=High"}},
			{name: "ECS task credentials (level3) used from the attacker's laptop: ListBuckets",
				want: []string{"UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS principal=level3 kind=service-credentials severity=High"}},
			{name: "22 anonymous GetObject of the public website bucket",
				missed: "anonymous reads of a public bucket (identity AWSAccount ANONYMOUS_PRINCIPAL) name no principal to hold them against; S3 data events are outside the CloudTrail management-event detectors"},
		},
		benign: []string{""},
	},
	{
		file:  "invictus_aws_dataset_stratus_2023-07-10.tar.gz",
		about: "2,900 events of one account over 35 minutes: Terraform warm-up and many Stratus Red Team techniques by IAM user bert-jan, console reconnaissance by bert-jan, benign console and boto3 use by benjamin, AWS services.",
		techniques: []technique{
			{name: "bert-jan's console reconnaissance from 10.8.8.10: 49 to 62 distinct Describe/List/Get APIs in 10 minutes, 2% writes",
				want: []string{"Discovery:IAMUser/AnomalousBehavior principal=bert-jan kind=burst severity=Low"}},
			{name: "Stratus Red Team techniques run by bert-jan and its roles (user agent stratus-red-team_<uuid>)",
				want: []string{"PenTest:IAMUser/SecurityTool principal=bert-jan kind=security-tool severity=Medium",
					"PenTest:IAMUser/SecurityTool principal=stratus-red-team-ec2-get-password-data-role kind=security-tool severity=Medium"}},
			{name: "aws.discovery.ec2-download-user-data: 15 DescribeInstanceAttribute refused",
				want: []string{"Discovery:IAMUser/AnomalousBehavior principal=stratus-red-team-get-usr-data-role kind=denied severity=Medium"}},
			{name: "aws.defense-evasion.cloudtrail-event-selectors and cloudtrail-delete (PutEventSelectors without management events, DeleteTrail)",
				want: []string{"Stealth:IAMUser/CloudTrailLoggingDisabled principal=bert-jan kind=audit-logging severity=Low"}},
			{name: "aws.defense-evasion.vpc-remove-flow-logs (DeleteFlowLogs)",
				want: []string{"DefenseEvasion:IAMUser/AnomalousBehavior principal=bert-jan kind=detection-tampering"}},
			{name: "aws.defense-evasion.organizations-leave (LeaveOrganization, denied)",
				want: []string{"DefenseEvasion:IAMUser/AnomalousBehavior principal=stratus-red-team-leave-org-role kind=detection-tampering severity=Low"}},
			{name: "aws.credential-access.ec2-steal-instance-credentials: instance i-0dbc91f429e48eeed's role credentials used from 192.168.10.20",
				want: []string{"UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS principal=stratus-red-team-ec2-steal-credentials-role kind=instance-credentials severity=High"}},
			{name: "aws.defense-evasion.cloudtrail-stop (StopLogging)",
				missed: "every StopLogging in this trail failed with TrailNotFoundException: no trail was stopped, and picket reports only changes that took effect or were refused for lack of permission"},
			{name: "aws.credential-access.ec2-get-password-data (29 GetPasswordData refused), secretsmanager and SSM retrieval: calls risky in themselves",
				want: []string{"CredentialAccess:IAMUser/AnomalousBehavior principal=stratus-red-team-ec2-get-password-data-role kind=risky-call",
					"CredentialAccess:IAMUser/AnomalousBehavior principal=bert-jan kind=risky-call"}},
			{name: "IAM persistence (keys and passwords for other users, roles another account can assume), a public Lambda, snapshot and image sharing, SSH open to the internet: calls risky in themselves",
				want: []string{"Persistence:IAMUser/AnomalousBehavior principal=bert-jan kind=risky-call",
					"Exfiltration:IAMUser/AnomalousBehavior principal=bert-jan kind=risky-call", "PrivilegeEscalation:IAMUser/AnomalousBehavior principal=bert-jan kind=risky-call"}},
			{name: "bert-jan's findings as one intrusion",
				want: []string{"AttackSequence:IAM/CompromisedCredentials principal=bert-jan severity=Critical"}},
			{name: "SSM execution, Lambda code and layers",
				missed: "running commands and deploying code are routine work: without a week of the principal's or the account's history (the profile detector's) there is nothing to tell them from it, and GuardDuty has no execution type for IAM principals"},
		},
		benign: []string{"benjamin", ""},
	},
	{
		file:  "otrf_ec2_proxy_s3_exfiltration.json.gz",
		about: "103 Logstash-enriched events of CloudGoat cloud_breach_s3: console user pedro describing EC2, then the WAF instance role's credentials, stolen through the proxy's metadata service, used with aws-cli to list and download the bucket. Every address was anonymized to 1.2.3.4.",
		techniques: []technique{
			{name: "stolen instance-role credentials (MordorNginxStack-BankingWAFRole, i-0317f6c6b66ae9c40) used from outside AWS: ListBuckets, ListObjects, GetObject",
				want: []string{"UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS principal=MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0 kind=instance-credentials severity=High"}},
		},
		benign: []string{"pedro", ""},
	},
	{
		file:       "stratus_red_team_detonation_logs.tar.gz",
		about:      "35 Stratus Red Team detonations captured by Grimoire, one file per technique, each in its own anonymized account. Many anonymized addresses are not addresses (08.1.250.216): picket treats them as unknown addresses, not as AWS services.",
		separately: true,
		techniques: []technique{
			{name: "aws.defense-evasion.cloudtrail-stop", inputs: "cloudtrail-stop",
				want: []string{"Stealth:IAMUser/CloudTrailLoggingDisabled principal=christophe kind=audit-logging severity=Low"}},
			{name: "aws.defense-evasion.cloudtrail-delete", inputs: "cloudtrail-delete",
				want: []string{"Stealth:IAMUser/CloudTrailLoggingDisabled principal=christophe kind=audit-logging severity=Low"}},
			{name: "aws.defense-evasion.cloudtrail-event-selectors", inputs: "cloudtrail-event-selectors",
				want: []string{"Stealth:IAMUser/CloudTrailLoggingDisabled principal=christophe kind=audit-logging severity=Low"}},
			{name: "aws.defense-evasion.vpc-remove-flow-logs", inputs: "vpc-remove-flow-logs",
				want: []string{"DefenseEvasion:IAMUser/AnomalousBehavior principal=christophe kind=detection-tampering severity=Medium"}},
			{name: "aws.defense-evasion.dns-delete-logs", inputs: "dns-delete-logs",
				want: []string{"DefenseEvasion:IAMUser/AnomalousBehavior principal=christophe kind=detection-tampering severity=Medium"}},
			{name: "aws.defense-evasion.organizations-leave (refused)", inputs: "organizations-leave",
				want: []string{"DefenseEvasion:IAMUser/AnomalousBehavior principal=stratus-red-team-leave-org-role kind=detection-tampering severity=Low"}},
			{name: "aws.discovery.ec2-download-user-data (15 DescribeInstanceAttribute refused)", inputs: "ec2-download-user-data",
				want: []string{"Discovery:IAMUser/AnomalousBehavior principal=stratus-red-team-get-usr-data-role kind=denied severity=Medium"}},
			{name: "every detonation but sts-federation-token: the Stratus user agent", inputs: "",
				want: []string{"PenTest:IAMUser/SecurityTool principal=christophe kind=security-tool severity=Medium"}},
			{name: "aws.credential-access.ec2-steal-instance-credentials", inputs: "ec2-steal-instance-credentials",
				missed: "the stolen credentials are the only use of the instance's role in the file, from 18.236.253.47, an EC2 address: with no call of the instance's own to learn from, that address is learned as the instance's. GuardDuty, which knows the instance's addresses, would flag it"},
			{name: "aws.persistence.sts-federation-token: a federation token allowed every action", inputs: "sts-federation-token",
				want: []string{"Persistence:IAMUser/AnomalousBehavior principal=stratus-red-team-user-federation-user kind=risky-call"}},
			{name: "credential access, exfiltration, persistence, privilege escalation, impact and initial access techniques: calls risky in themselves (the table without the Stratus user agent below, technique by technique)", inputs: "",
				want: []string{"CredentialAccess:IAMUser/AnomalousBehavior principal=christophe kind=risky-call", "Exfiltration:IAMUser/AnomalousBehavior principal=christophe kind=risky-call",
					"Persistence:IAMUser/AnomalousBehavior principal=christophe kind=risky-call", "PrivilegeEscalation:IAMUser/AnomalousBehavior principal=christophe kind=risky-call",
					"Impact:IAMUser/AnomalousBehavior principal=test-role kind=risky-call", "InitialAccess:IAMUser/AnomalousBehavior principal=stratus-red-team-nmfalu-jfzdtsvchl kind=risky-call"}},
			{name: "execution (SSM commands and sessions, unusual instances), EC2 Instance Connect, Lambda code and layers", inputs: "",
				missed: "routine work for administrators: without a week of history (the profile detector's) nothing tells them apart, and each detonation is its own account with minutes of it"},
		},
	},
	{
		file:  "stratus_detonations_zmallen.zip",
		about: "4 Stratus Red Team detonations (2022) by an SSO session of role account-admin, Datadog-enriched, one of them slightly malformed JSON.",
		techniques: []technique{
			{name: "aws.defense-evasion.cloudtrail-delete",
				want: []string{"Stealth:IAMUser/CloudTrailLoggingDisabled principal=account-admin kind=audit-logging severity=Low"}},
			{name: "secretsmanager-retrieve-secrets (10 GetSecretValue), ec2-user-data, ec2-share-ebs-snapshot: calls risky in themselves, and with the deleted trail an intrusion",
				want: []string{"CredentialAccess:IAMUser/AnomalousBehavior principal=account-admin kind=risky-call", "Exfiltration:IAMUser/AnomalousBehavior principal=account-admin kind=risky-call",
					"PrivilegeEscalation:IAMUser/AnomalousBehavior principal=account-admin kind=risky-call", "AttackSequence:IAM/CompromisedCredentials principal=account-admin severity=Critical"}},
			{name: "the Stratus user agent",
				missed: "Datadog's enrichment moved userAgent and sourceIPAddress into http.useragent and network.client.ip, so the user agent is not where CloudTrail puts it and no address is known"},
		},
	},
	{
		file:     "otrf_aws_s3_honeybucket_logs.csv.gz",
		about:    "301 S3 data events against a public honey bucket, exported as CSV with Python-repr identities.",
		notTrail: "a CSV export, not a CloudTrail format picket reads; anonymous S3 data events would name no principal anyway",
	},
}

// result is what one dataset gave.
type result struct {
	findings []string // summaries
	byInput  map[string][]string
	calls    int
}

func runDataset(t *testing.T, dir string, ds dataset, w *world) result {
	t.Helper()
	res := result{byInput: map[string][]string{}}
	ms := members(t, filepath.Join(dir, ds.file))
	var trails []input
	for _, m := range ms {
		if decode.Detect(m.data[:min(len(m.data), 4096)]) == decode.CloudTrail {
			trails = append(trails, m)
		}
	}
	if !ds.separately {
		calls := decodeAll(t, trails)
		res.calls = len(calls)
		res.findings = apiFindings(w.runCalls(t, calls))
		return res
	}
	for _, m := range trails {
		calls := decodeAll(t, []input{m})
		res.calls += len(calls)
		got := apiFindings(w.runCalls(t, calls))
		res.byInput[m.name] = got
		for _, g := range got {
			if !slices.Contains(res.findings, g) {
				res.findings = append(res.findings, g)
			}
		}
	}
	slices.Sort(res.findings)
	return res
}

func matches(lines []string, want string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, want) })
}

func TestDatasets(t *testing.T) {
	dir := datasetDir(t)
	ranges, err := awsip.Parse(strings.NewReader(rangesExcerpt))
	if err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	for _, ds := range datasets {
		t.Run(ds.file, func(t *testing.T) {
			fmt.Fprintf(&report, "### %s\n\n%s\n\n", ds.file, ds.about)
			if ds.notTrail != "" {
				fmt.Fprintf(&report, "Not analyzed: %s.\n\n", ds.notTrail)
				return
			}
			w := &world{aws: ranges}
			res := runDataset(t, dir, ds, w)
			report.Reset()
			fmt.Fprintf(&report, "### %s\n\n%s %d events decoded.\n\n| technique | flagged as | |\n|---|---|---|\n", ds.file, ds.about, res.calls)
			for _, tq := range ds.techniques {
				in := res.findings
				if tq.inputs != "" {
					in = nil
					for name, got := range res.byInput {
						if strings.Contains(name, tq.inputs) {
							in = append(in, got...)
						}
					}
				}
				var got []string
				for _, want := range tq.want {
					if !matches(in, want) {
						t.Errorf("%s: %q not flagged as %s; findings:\n%s", ds.file, tq.name, want, strings.Join(in, "\n"))
						got = append(got, "**missed**: "+want)
						continue
					}
					got = append(got, "`"+want+"`")
				}
				status := "flagged"
				if tq.missed != "" {
					status = "missed: " + tq.missed
					if len(got) == 0 {
						got = []string{"—"}
					}
				}
				fmt.Fprintf(&report, "| %s | %s | %s |\n", tq.name, strings.Join(got, "<br>"), status)
			}
			var quiet []string
			for _, b := range ds.benign {
				for _, f := range res.findings {
					if strings.Contains(f, " principal="+b+" ") {
						t.Errorf("%s: benign principal %q flagged: %s", ds.file, b, f)
					}
				}
				if b != "" {
					quiet = append(quiet, b)
				}
			}
			fmt.Fprintf(&report, "\nAll findings: %d.", len(res.findings))
			if len(quiet) > 0 {
				fmt.Fprintf(&report, " Benign principals quiet: %s, and every AWS service.", strings.Join(quiet, ", "))
			}
			report.WriteString("\n\n<details><summary>findings</summary>\n\n")
			for _, f := range res.findings {
				fmt.Fprintf(&report, "- `%s`\n", f)
			}
			report.WriteString("\n</details>\n\n")
			t.Logf("%s: %d events, findings:\n%s", ds.file, res.calls, strings.Join(res.findings, "\n"))
		})
		datasetReport = append(datasetReport, report.String())
		report.Reset()
	}
	writeReport(t)
}

var datasetReport []string

// writeReport replaces the generated part of docs/cloudtrail-evaluation.md.
func writeReport(t *testing.T) {
	t.Helper()
	path := filepath.Join("..", "..", "..", "docs", "cloudtrail-evaluation.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the evaluation report: %v", err)
	}
	doc := string(b)
	const begin, end = "<!-- datasets:begin (generated by `go test ./internal/detect/trail -run TestDatasets -update`) -->\n", "<!-- datasets:end -->"
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no datasets:begin/end markers", path)
	}
	want := doc[:i+len(begin)] + strings.Join(datasetReport, "") + doc[j:]
	if want == doc {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date; run go test ./internal/detect/trail -run TestDatasets -update", path)
}

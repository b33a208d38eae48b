package app

import (
	"bytes"
	"context"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"

	"picket/internal/config"

	"picket/internal/export"
	"picket/internal/finding"
	"picket/internal/inventory"
)

var updateEstate = flag.Bool("update-estate", false, "rewrite testdata/estate.golden.json")

// The bundled example of an estate: flow logs of a small VPC and the
// describe outputs of its resources (examples/estate).
const (
	estateFlows     = "../../examples/estate/flowlogs"
	estateInventory = "../../examples/estate/inventory"
	estateGolden    = "testdata/estate.golden.json"
)

// analyzeEstate runs the example through Analyze, with the inventory when
// withInventory is true.
func analyzeEstate(t *testing.T, withInventory bool) []*finding.Finding {
	t.Helper()
	opt := AnalyzeOptions{Paths: []string{estateFlows}, AWSIPRanges: AWSIPRangesOff, Workers: 1}
	if withInventory {
		inv, rep, err := inventory.Load(estateInventory)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Skipped != 0 || len(rep.Problems) != 0 {
			t.Fatalf("the example inventory has problems: %v", rep.Problems)
		}
		opt.Inventory = inv
	}
	fs, _, err := Analyze(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// byResource returns the finding of type typ about the interface eni.
func byResource(t *testing.T, fs []*finding.Finding, typ, eni string) *finding.Finding {
	t.Helper()
	for _, f := range fs {
		d := f.Resource.InstanceDetails
		if f.Type == typ && d != nil && len(d.NetworkInterfaces) > 0 && d.NetworkInterfaces[0].NetworkInterfaceID == eni {
			return f
		}
	}
	t.Fatalf("no %s finding about %s", typ, eni)
	return nil
}

func explanation(t *testing.T, f *finding.Finding) *finding.Explanation {
	t.Helper()
	if f.Service.AdditionalInfo == nil || f.Service.AdditionalInfo.Explanation == nil {
		t.Fatalf("%s: no explanation", f.ID)
	}
	return f.Service.AdditionalInfo.Explanation
}

func hasLine(lines []string, want ...string) bool {
	return slices.ContainsFunc(lines, func(l string) bool {
		for _, w := range want {
			if !strings.Contains(l, w) {
				return false
			}
		}
		return true
	})
}

func commands(e *finding.Explanation) []string {
	var out []string
	for _, r := range e.Remediation {
		out = append(out, r.Command)
	}
	return out
}

// TestEstateScenario is the "impossible internal scan" story on the
// bundled example: an internet scanner reaches SSH that a security group
// opens to the world, and an application port through a network load
// balancer; an ECS task with a public address scans its neighbour; a NAT
// gateway's address fans in its hosts' traffic. Each finding must carry
// the instance or task, the path, the rule that let the traffic in and
// the commands that would stop it; the load balancer and NAT cases are
// rated down.
func TestEstateScenario(t *testing.T) {
	const (
		web, app, nat, nlb, task = "eni-0a1b2c3d4e5f00001", "eni-0a1b2c3d4e5f00002", "eni-0a1b2c3d4e5f00003", "eni-0a1b2c3d4e5f00004", "eni-0a1b2c3d4e5f00006"
		probe, scan              = finding.TypePortProbeUnprotectedPort, "Recon:EC2/Portscan"
	)
	fs := analyzeEstate(t, true)
	if len(fs) != 5 {
		t.Fatalf("%d findings, want 5", len(fs))
	}

	t.Run("port open to the world", func(t *testing.T) {
		f := byResource(t, fs, probe, web)
		d := f.Resource.InstanceDetails
		if d.InstanceID != "i-0a1b2c3d4e5f00001" || d.InstanceType != "t3.micro" || d.ImageID == "" || d.IamInstanceProfile == nil || d.AvailabilityZone != "us-east-1a" {
			t.Errorf("instance details: %+v", d)
		}
		ni := d.NetworkInterfaces[0]
		if ni.PublicIP != "54.162.10.20" || ni.PublicDNSName == "" || len(ni.SecurityGroups) != 1 || ni.SecurityGroups[0].GroupID != "sg-0a1b2c3d4e5f00001" {
			t.Errorf("interface details: %+v", ni)
		}
		if !slices.Contains(d.Tags, finding.Tag{Key: "Name", Value: "web-1"}) {
			t.Errorf("tags %v lack Name web-1", d.Tags)
		}
		e := explanation(t, f)
		if !hasLine(e.NetworkPath, "54.162.10.20", "igw-0e1f2a3b4c5d6e7f8", "10.0.0.10", "translat") {
			t.Errorf("path does not explain the public to private translation: %q", e.NetworkPath)
		}
		if len(e.Rules) != 1 || !e.Rules[0].Admitted || e.Rules[0].GroupID != "sg-0a1b2c3d4e5f00001" || e.Rules[0].Rule != "tcp 22 from 0.0.0.0/0" || e.Rules[0].ACLRule != 120 {
			t.Errorf("rules: %+v", e.Rules)
		}
		if !hasLine(commands(e), "revoke-security-group-ingress", "sg-0a1b2c3d4e5f00001", "FromPort=22") ||
			!hasLine(commands(e), "create-network-acl-entry", "--rule-number 119", "203.0.113.77/32", "deny") ||
			!hasLine(commands(e), "modify-instance-attribute", "i-0a1b2c3d4e5f00001") {
			t.Errorf("remediation: %q", commands(e))
		}
		if e.RatedDown != "" || f.Severity != finding.SeverityMedium {
			t.Errorf("rated down (%s) to %v", e.RatedDown, f.Severity)
		}
	})

	t.Run("probe through a network load balancer", func(t *testing.T) {
		f := byResource(t, fs, probe, app)
		if f.Resource.InstanceDetails.InstanceType != "m6i.large" {
			t.Errorf("instance details: %+v", f.Resource.InstanceDetails)
		}
		e := explanation(t, f)
		if !hasLine(e.NetworkPath, "no public address", "web-nlb", "client") {
			t.Errorf("path does not name the load balancer: %q", e.NetworkPath)
		}
		if len(e.Rules) != 1 || !e.Rules[0].Admitted || e.Rules[0].GroupID != "sg-0a1b2c3d4e5f00002" || e.Rules[0].Rule != "tcp 8080 from 0.0.0.0/0" {
			t.Errorf("rules: %+v", e.Rules)
		}
		if e.RatedDown == "" || f.Severity != finding.SeverityLow {
			t.Errorf("not rated down: %v %q", f.Severity, e.RatedDown)
		}
		f = byResource(t, fs, probe, nlb)
		e = explanation(t, f)
		if !strings.Contains(e.Resource, "network load balancer web-nlb") || e.RatedDown == "" {
			t.Errorf("the load balancer's own interface: resource %q, rated down %q", e.Resource, e.RatedDown)
		}
		if len(e.Rules) != 1 || !e.Rules[0].Admitted {
			t.Errorf("a load balancer without security groups admits its listeners' traffic: %+v", e.Rules)
		}
	})

	t.Run("ECS task scanning its neighbours", func(t *testing.T) {
		f := byResource(t, fs, scan, task)
		ecs := f.Resource.EcsClusterDetails
		if ecs == nil || ecs.Name != "prod" || ecs.TaskDetails == nil || !strings.HasPrefix(ecs.TaskDetails.Arn, "arn:aws:ecs:us-east-1:111122223333:task/prod/") ||
			ecs.TaskDetails.LaunchType != "FARGATE" || len(ecs.TaskDetails.Containers) == 0 || ecs.TaskDetails.Containers[0].Image == "" {
			t.Fatalf("ECS details: %+v", ecs)
		}
		if ni := f.Resource.InstanceDetails.NetworkInterfaces[0]; ni.PublicIP != "203.0.113.60" {
			t.Errorf("the task's public address: %+v", ni)
		}
		e := explanation(t, f)
		if !hasLine(e.NetworkPath, "awsvpc interface", "ECS task") || !hasLine(e.NetworkPath, "10.0.0.10 is instance i-0a1b2c3d4e5f00001") || !hasLine(e.NetworkPath, "local route") {
			t.Errorf("path: %q", e.NetworkPath)
		}
		if !hasLine(commands(e), "aws ecs stop-task", "--cluster prod") {
			t.Errorf("remediation: %q", commands(e))
		}
		if e.RatedDown != "" {
			t.Errorf("rated down: %q", e.RatedDown)
		}
	})

	t.Run("NAT gateway fan-in", func(t *testing.T) {
		f := byResource(t, fs, scan, nat)
		e := explanation(t, f)
		if !hasLine(e.NetworkPath, "NAT gateway nat-0a1b2c3d4e5f67890", "subnet-0cc3333333333333c") {
			t.Errorf("path: %q", e.NetworkPath)
		}
		if e.RatedDown == "" || f.Severity != finding.SeverityLow {
			t.Errorf("not rated down: %v %q", f.Severity, e.RatedDown)
		}
		if hasLine(commands(e), "modify-network-interface-attribute") {
			t.Errorf("remediation isolates an interface AWS manages: %q", commands(e))
		}
	})

	// The findings as JSON, reviewed like code; the finding package's
	// SDK test reads them back through the AWS SDK.
	var buf bytes.Buffer
	if err := export.WriteJSON(&buf, fs); err != nil {
		t.Fatal(err)
	}
	if *updateEstate {
		if err := os.WriteFile(estateGolden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(estateGolden)
	if err != nil {
		t.Fatalf("%v (run with -update-estate)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("%s differs from the findings; review and run with -update-estate", estateGolden)
	}
}

// TestEstateWithoutInventory checks that the inventory adds to findings
// and takes nothing away: without it the same findings come out, with
// what the logs say.
func TestEstateWithoutInventory(t *testing.T) {
	with, without := analyzeEstate(t, true), analyzeEstate(t, false)
	if len(with) != len(without) {
		t.Fatalf("%d findings with the inventory, %d without", len(with), len(without))
	}
	ids := map[string]bool{}
	for _, f := range with {
		ids[f.ID] = true
	}
	for _, f := range without {
		if !ids[f.ID] {
			t.Errorf("finding %s (%s) only without the inventory", f.ID, f.Type)
		}
		e := explanation(t, f)
		if e.Inventory != "" || e.Resource != "" || len(e.Rules) > 0 || len(e.Remediation) > 0 || e.RatedDown != "" {
			t.Errorf("%s: inventory details without an inventory: %+v", f.ID, e)
		}
		if f.Resource.InstanceDetails.InstanceType != "" {
			t.Errorf("%s: instance type without an inventory", f.ID)
		}
	}
}

// TestServeEstate drops the example's flow log into a running service
// configured with the inventory folder: the findings the API serves carry
// the inventory's details, read back through the AWS SDK.
func TestServeEstate(t *testing.T) {
	watch, data := t.TempDir(), t.TempDir()
	cfg := testConfig(data, watch)
	cfg.Account = "111122223333"
	cfg.Enrich.AWSIPRanges = config.AWSIPRangesOff
	cfg.Inventory.Dir = estateInventory
	svc := startService(t, cfg)
	flows, err := os.ReadFile(estateFlows + "/flows.log")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmp, "flows.log"), flows, 0o644); err != nil {
		t.Fatal(err)
	}
	moveInto(t, tmp, watch)
	gd := gdClient(t, svc.url(), data)
	var got map[string]summary
	waitFor(t, 30*time.Second, "five findings", func() bool {
		got = apiFindings(t, gd)
		return len(got) == 5
	})
	ctx := context.Background()
	det := finding.DetectorID(cfg.Account, "us-east-1")
	ids := slices.Sorted(maps.Keys(got))
	out, err := gd.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &det, FindingIds: ids})
	if err != nil {
		t.Fatal(err)
	}
	var web, task bool
	for _, f := range out.Findings {
		d := f.Resource.InstanceDetails
		if aws.ToString(d.InstanceId) == "i-0a1b2c3d4e5f00001" {
			web = aws.ToString(d.InstanceType) == "t3.micro" && aws.ToString(d.NetworkInterfaces[0].PublicIp) == "54.162.10.20"
		}
		if e := f.Resource.EcsClusterDetails; e != nil && aws.ToString(e.Name) == "prod" {
			task = e.TaskDetails != nil && len(e.TaskDetails.Containers) > 0
		}
		if f.Service.AdditionalInfo == nil || !strings.Contains(aws.ToString(f.Service.AdditionalInfo.Value), `"inventory":"undated"`) {
			t.Errorf("%s: additionalInfo does not name the inventory", aws.ToString(f.Id))
		}
	}
	if !web || !task {
		t.Errorf("the served findings lack the inventory's instance (%v) or task (%v) details", web, task)
	}
}

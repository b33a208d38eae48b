package all

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"picket/internal/decode/cloudtrail"
	"picket/internal/decode/vpcflow"
	"picket/internal/detect"
	"picket/internal/detect/contact"
	"picket/internal/detect/detecttest"
	"picket/internal/detect/sequence"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/synth"
)

// conformanceInputs names the input every built-in detector and stage runs
// the conformance suite on: "flows" (a synthetic estate's flow logs with
// scans, a sweep, password guessing and a Tor client in them) or "calls"
// (a month of CloudTrail with enumeration, tampering, root use, callers
// on threat lists and stolen credentials at its end), "intrusion" (the
// same with one principal's key used for an intrusion) or "exposure" (a
// day of CloudTrail in which buckets are opened to the public and a user
// signs in to the console from two countries). A detector that
// Build makes and that has no entry here fails TestConformance.
var conformanceInputs = map[string]string{
	"contact":      "flows", // the stage
	"portprobe":    "flows",
	"portscan":     "flows",
	"portsweep":    "flows",
	"bruteforce":   "flows",
	"threatlist":   "flows",
	"tor":          "flows",
	"dnsintel":     "dns",
	"dnsexfil":     "dns",
	"dnsflow":      "dnsflows",
	"dga":          "dns",
	"iamanomaly":   "calls",
	"enumeration":  "calls",
	"ipcaller":     "calls",
	"pentest":      "calls",
	"tamper":       "calls",
	"rootusage":    "calls",
	"credexfil":    "calls",
	"s3policy":     "exposure",
	"consolelogin": "exposure",
	"riskycall":    "intrusion",
	// The correlator runs behind every CloudTrail detector (see build).
	"sequence": "intrusion",
}

// knownFailures are the properties that a detector or stage is known to
// fail, by ID and property, with the reason; the suite skips them.
var knownFailures = map[string]map[string]string{
	"contact": {"Lateness": stageBuckets, "Reorder": stageBuckets},
	// The contact stage's failure shows downstream.
	"portsweep":  {"Lateness": "the contact stage's: " + stageBuckets},
	"portscan":   {"Reorder": reportBatches},
	"bruteforce": {"Reorder": reportBatches},
	"ipcaller":   {"Reorder": pendingBatches},
	"pentest":    {"Lateness": pendingBatches, "Reorder": pendingBatches},
	"rootusage":  {"Reorder": pendingBatches},
	"credexfil":  {"Lateness": pendingBatches, "Reorder": pendingBatches},
	// The correlator's pipeline holds the detectors whose findings it
	// reads, and their failures.
	"sequence": {"Lateness": "the CloudTrail detectors': " + pendingBatches, "Reorder": "the CloudTrail detectors': " + pendingBatches},
}

// The reasons of the known failures.
const (
	stageBuckets = "the stage files a flow record in the bucket of its start, while the engine's lateness counts from its end " +
		"(Record.Time): a record whose start lies in a bucket the watermark has closed, and whose end does not, is on time for the engine, " +
		"yet its conversation is emitted a second time, as a contact of one half with another outcome"
	reportBatches = "each report covers the contacts since the previous Advance, and the engine skips ticks when the newest event time jumps " +
		"by more than one, so what the reports hold (counts, and the merged finding's createdAt, the end of the first report) depends on arrival order"
	pendingBatches = "Advance reports every call trail.Pending noted since the previous watermark, calls newer than the watermark too, " +
		"so which report a call falls in depends on arrival order, and with it the merged finding's explanation, samples and createdAt"
)

// known makes TestConformance run the known failures too, to see whether
// they still fail.
var known = flag.Bool("known", false, "run the conformance properties known to fail instead of skipping them")

// conformanceMaxKeys bounds every table during the floods.
const conformanceMaxKeys = 32

// TestConformance runs detecttest's conformance suite on the contact stage
// and on every detector that Build makes, each alone behind the stage,
// and checks that none of their packages reads the wall clock.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every detector many times over its inputs")
	}
	stages, dets, err := Build(Options{Env: detect.Env{DetectorID: finding.DetectorID}})
	if err != nil {
		t.Fatal(err)
	}
	type subject struct {
		id      string
		pkg     string
		derived []event.Kind
	}
	var subjects []subject
	for _, st := range stages {
		// A stage does not declare what it derives; the only one makes
		// contacts.
		subjects = append(subjects, subject{st.Name(), reflect.TypeOf(st).Elem().PkgPath(), []event.Kind{event.KindContact}})
	}
	for _, d := range dets {
		subjects = append(subjects, subject{d.Definition().ID, reflect.TypeOf(d).Elem().PkgPath(), nil})
	}
	built := map[string]bool{}
	for _, s := range subjects {
		built[s.id] = true
	}
	for id := range conformanceInputs {
		if !built[id] {
			t.Errorf("conformanceInputs names %q, which Build no longer makes", id)
		}
	}
	for id := range knownFailures {
		if !built[id] {
			t.Errorf("knownFailures names %q, which Build no longer makes", id)
		}
	}
	for _, s := range subjects {
		t.Run(s.id, func(t *testing.T) {
			t.Run("NoWallClock", func(t *testing.T) {
				t.Logf("checked %v", detecttest.NoWallClock(t, s.pkg))
			})
			var w *world
			switch conformanceInputs[s.id] {
			case "flows":
				w = flowWorld(t)
			case "calls":
				w = callWorld(t)
			case "exposure":
				w = exposureWorld(t)
			case "intrusion":
				w = intrusionWorld(t)
			case "dns":
				w = dnsWorld(t)
			case "dnsflows":
				w = dnsFlowWorld(t)
			default:
				t.Fatalf("%s has no conformance input: name one in conformanceInputs, and make sure the detector reports on it", s.id)
			}
			c := detecttest.Case{
				Build:   w.build(s.id, s.derived != nil),
				Input:   w.input,
				Derived: s.derived,
				Flood:   w.flood,
				MaxKeys: conformanceMaxKeys,
			}
			if !*known {
				c.Known = knownFailures[s.id]
			}
			detecttest.Conformance(t, c)
		})
	}
}

// world is an input, a flood, and what enrichment and intelligence know
// of their addresses.
type world struct {
	input, flood []event.Record
	intel        *prefixIntel
	info         func(netip.Addr) event.IPInfo
}

// build returns a detecttest Build function that makes the stage and the
// one detector id (none, for the stage itself).
func (w *world) build(id string, stageOnly bool) func(detect.Env) (detecttest.Pipeline, error) {
	return func(env detect.Env) (detecttest.Pipeline, error) {
		env.Intel, env.IPInfo = w.intel, w.info
		opt := Options{Env: env}
		for _, b := range Builders {
			// The correlator reads the findings of the CloudTrail
			// detectors: they run with it.
			keep := b.ID == id || (id == sequence.ID && apiCallDetectors[b.ID])
			if stageOnly || !keep {
				opt.Disabled = append(opt.Disabled, b.ID)
			}
		}
		if env.MaxKeys > 0 {
			opt.Contact = contact.Config{MaxConversations: env.MaxKeys, MaxInterfaces: env.MaxKeys}
		}
		stages, dets, err := Build(opt)
		return detecttest.Pipeline{Stages: stages, Detectors: dets}, err
	}
}

// prefixIntel is threat intelligence from prefix lists.
type prefixIntel struct {
	threat, tor []netip.Prefix
}

func within(ps []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
}

func (in *prefixIntel) Trusted(netip.Addr) bool { return false }

func (in *prefixIntel) Threat(a netip.Addr) (detect.ThreatMatch, bool) {
	switch {
	case within(in.threat, a):
		return detect.ThreatMatch{ListName: "bad-actors", ThreatNames: []string{"Scanner"}, FileSHA256: strings.Repeat("ab", 32)}, true
	case within(in.tor, a):
		return detect.ThreatMatch{ListName: "tor-relays", Kind: detect.ThreatTor, Ports: []uint16{9001}}, true
	}
	return detect.ThreatMatch{}, false
}

// The addresses of the worlds. Synth's background traffic never draws
// from the documentation ranges, so what names them is the attacks'.
var (
	// listedScanner scans the bastion from a threat list's range;
	// guesser guesses SSH passwords from an address no list names; relay
	// is a Tor relay that a web server talks to.
	listedScanner = "203.0.113.66"
	guesser       = "203.0.113.200"
	relay         = "198.51.100.9"

	conformanceIntel = &prefixIntel{
		threat: []netip.Prefix{
			netip.MustParsePrefix("203.0.113.0/25"), // the listed scanner
			netip.MustParsePrefix("45.0.0.0/16"),    // the flood's listed sources
			netip.MustParsePrefix("192.0.2.0/24"),   // API callers
		},
		tor: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
	}
)

var flowWorldOnce = sync.OnceValues(makeFlowWorld)

func flowWorld(t *testing.T) *world {
	t.Helper()
	w, err := flowWorldOnce()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// makeFlowWorld renders a quarter of an hour of a small estate's traffic as
// version 5 flow log lines and decodes them as picket analyze does:
// an internet host on a threat list scanning the bastion (portprobe,
// threatlist), an app server scanning a database (portscan), a worker
// sweeping SSH across the VPC (portsweep), SSH password guessing against
// the bastion (bruteforce), a web server connecting to a Tor relay's
// ORPort (tor), and the web server's clients, whose sessions span the
// contact stage's minute buckets.
func makeFlowWorld() (*world, error) {
	cfg := synth.DefaultConfig
	cfg.Seed, cfg.Duration, cfg.Load, cfg.Noise = 31, 16*time.Minute, 0.15, 0.3
	for _, spec := range []string{
		"scan name=probe from=" + listedScanner + " target=bastion:0 ports=top:100 timing=T4 at=2m",
		"scan name=scan from=app:1 target=db:0 ports=top:200 timing=T4 at=4m",
		"sweep name=sweep from=worker:0 port=22 hosts=200 network=vpc timing=T4 at=6m",
		"bruteforce name=guess from=" + guesser + " target=bastion:0 port=22 attempts=80 interval=3s at=8m",
		"sessions name=tor from=web:0 target=" + relay + " port=9001 count=3 interval=2m duration=60s at=3m",
		"clients name=web from=internet target=web:0 port=443 count=300 at=1m over=12m",
	} {
		a, err := synth.ParseAttack(spec)
		if err != nil {
			return nil, err
		}
		cfg.Attacks = append(cfg.Attacks, a)
	}
	g, err := synth.New(cfg)
	if err != nil {
		return nil, err
	}
	format, err := synth.FormatFor(5)
	if err != nil {
		return nil, err
	}
	dec := vpcflow.NewDecoder("synth/flows.log", &format)
	var input []event.Record
	var line []byte
	var decodeErr error
	err = g.Run(func(r synth.Record) {
		line = synth.AppendRecord(line[:0], format, &r, cfg.Account, cfg.Region)
		f := new(event.Flow)
		if _, err := dec.Decode(line, f); err != nil && decodeErr == nil {
			decodeErr = fmt.Errorf("decoding %q: %w", line, err)
		}
		input = append(input, f)
	})
	if err := errors.Join(err, decodeErr); err != nil {
		return nil, err
	}
	slices.SortStableFunc(input, func(a, b event.Record) int { return cmp.Compare(a.Time(), b.Time()) })
	return &world{input: input, flood: flowFlood(10 * conformanceMaxKeys), intel: conformanceIntel}, nil
}

// flowFlood makes n flows of each of three kinds, all within two
// minutes: SYNs to the SSH port of one interface from distinct spoofed
// internet sources, every other one on a threat list (the port probe,
// brute force and threat list detectors' tables); SYNs to one port each
// from distinct hosts of a peered VPC (the scan detectors' initiators);
// and distinct interfaces each talking to a Tor relay's ORPort (the Tor
// detector's interfaces).
func flowFlood(n int) []event.Record {
	acct, region := event.Intern("123456789012"), event.Intern("us-east-1")
	t0 := event.TimeOf(time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC))
	file := event.Intern("flood.log")
	var out []event.Record
	add := func(f event.Flow) {
		f.Account, f.Region, f.Protocol, f.Status = acct, region, event.ProtoTCP, event.StatusOK
		f.Basis, f.Version = event.BasisField, 5
		f.Has = event.HasStart | event.HasEnd | event.HasPackets | event.HasBytes | event.HasTCPFlags | event.HasSrcPort | event.HasDstPort | event.HasProtocol
		f.Origin = event.Origin{File: file, Line: int64(len(out) + 1)}
		out = append(out, &f)
	}
	exposed, peered := event.Intern("eni-0flooded"), event.Intern("eni-0scanned")
	for i := range n {
		t := t0 + event.Time(i*120/n)
		src := netip.AddrFrom4([4]byte{11, byte(i >> 8), byte(i), 7})
		if i%2 == 0 {
			src = netip.AddrFrom4([4]byte{45, 0, byte(i >> 8), byte(i)})
		}
		add(event.Flow{Interface: exposed, Instance: event.Intern("i-0flooded"), Src: src, Dst: netip.MustParseAddr("10.0.0.5"),
			SrcPort: 40000, DstPort: 22, Packets: 1, Bytes: 60, Start: t, End: t, Action: event.Reject,
			Direction: event.Inbound, TCPFlags: event.TCPSyn})
		add(event.Flow{Interface: peered, Instance: event.Intern("i-0scanned"), Src: netip.AddrFrom4([4]byte{10, 200, byte(i >> 8), byte(i)}),
			Dst: netip.MustParseAddr("10.0.0.6"), SrcPort: 50000, DstPort: uint16(1000 + i), Packets: 1, Bytes: 60, Start: t, End: t,
			Action: event.Reject, Direction: event.Inbound, TCPFlags: event.TCPSyn})
		eni, inst := event.Intern(fmt.Sprintf("eni-0tor%05d", i)), event.Intern(fmt.Sprintf("i-0tor%05d", i))
		local := netip.AddrFrom4([4]byte{10, 0, 100 + byte(i>>8), byte(i)})
		peer := netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i%250)})
		add(event.Flow{Interface: eni, Instance: inst, Src: local, Dst: peer, SrcPort: 41000, DstPort: 9001, Packets: 6, Bytes: 1200,
			Start: t, End: t + 1, Action: event.Accept, Direction: event.Outbound, TCPFlags: event.TCPSyn | event.TCPAck | event.TCPPsh})
		add(event.Flow{Interface: eni, Instance: inst, Src: peer, Dst: local, SrcPort: 9001, DstPort: 41000, Packets: 6, Bytes: 4000,
			Start: t, End: t + 1, Action: event.Accept, Direction: event.Inbound, TCPFlags: event.TCPSyn | event.TCPAck | event.TCPPsh})
	}
	return out
}

var callWorldOnce = sync.OnceValues(makeCallWorld)

func callWorld(t *testing.T) *world {
	t.Helper()
	w, err := callWorldOnce()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// callNets is what the geolocation and AS databases know; callAWS are
// AWS's ranges.
var (
	callNets = []struct {
		prefix netip.Prefix
		info   event.IPInfo
	}{
		{netip.MustParsePrefix("93.184.216.0/24"), event.IPInfo{ASN: 64500, ASOrg: event.Intern("ACME-CORP"), CountryCode: event.Intern("DE")}},
		{netip.MustParsePrefix("185.10.10.0/24"), event.IPInfo{ASN: 64496, ASOrg: event.Intern("EXAMPLE-VPS"), CountryCode: event.Intern("RU")}},
		{netip.MustParsePrefix("3.80.0.0/12"), event.IPInfo{ASN: 16509, ASOrg: event.Intern("AMAZON-02"), CountryCode: event.Intern("US")}},
	}
	callAWS = []netip.Prefix{netip.MustParsePrefix("3.80.0.0/12"), netip.MustParsePrefix("34.224.0.0/12")}
)

func callInfo(a netip.Addr) event.IPInfo {
	var info event.IPInfo
	for _, n := range callNets {
		if n.prefix.Contains(a) {
			info = n.info
		}
	}
	info.AWS = event.TriFalse
	if within(callAWS, a) {
		info.AWS, info.AWSService, info.AWSRegion = event.TriTrue, event.Intern("EC2"), event.Intern("us-east-1")
	}
	return info
}

// makeCallWorld generates a month of CloudTrail and decodes it as picket
// analyze does: a developer's habits and then her key used for
// enumeration at 3 a.m. from another country (iamanomaly, enumeration),
// a Kali Linux user agent enumerating (pentest, enumeration), the root
// user signing in (rootusage), defences taken down (tamper), calls from
// addresses on a threat list and from a Tor exit (ipcaller), and an
// instance's and a Lambda function's credentials used from outside AWS
// (credexfil). The intrusion world adds an activity of mallory's before
// the trail is stopped: her key maps the account from Kali, three
// stages of an intrusion (sequence). It is a world of its own, since the
// batches in which other detectors report depend on their input.
func makeCallWorld() (*world, error) { return makeCallWorldWith(false) }

var intrusionWorldOnce = sync.OnceValues(func() (*world, error) { return makeCallWorldWith(true) })

func intrusionWorld(t *testing.T) *world {
	t.Helper()
	w, err := intrusionWorldOnce()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func makeCallWorldWith(intrusion bool) (*world, error) {
	addrs := func(ss ...string) []netip.Addr {
		out := make([]netip.Addr, len(ss))
		for i, s := range ss {
			out[i] = netip.MustParseAddr(s)
		}
		return out
	}
	day := func(d, h, m int) time.Time { return time.Date(2026, 3, 2+d, h, m, 0, 0, time.UTC) }
	cfg := synth.TrailConfig{
		Seed: 7, Start: day(0, 0, 0), Days: 31,
		Principals: []synth.TrailPrincipal{
			{Name: "alice", Kind: "user", From: addrs("93.184.216.10", "93.184.216.11"), Agent: "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22",
				Hours: [2]int{8, 18}, Weekdays: true, PerDay: 60, ErrorRate: 0.01,
				APIs: []string{"ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "s3:ListBuckets", "s3:GetObject", "s3:PutObject", "logs:DescribeLogGroups",
					"logs:GetLogEvents", "lambda:ListFunctions", "lambda:GetFunction", "lambda:UpdateFunctionCode", "cloudformation:DescribeStacks", "sts:GetCallerIdentity"}},
			{Name: "web", Kind: "instance", Session: "i-0aaa", From: addrs("3.80.1.10"), Agent: "aws-sdk-go/1.44.0 (go1.20; linux; amd64) amazon-ssm-agent/3.2",
				PerDay: 40, APIs: []string{"ssm:UpdateInstanceInformation", "ssm:ListInstanceAssociations", "s3:GetObject", "ec2messages:GetMessages"}},
			{Name: "ci-deployer", Kind: "user", From: addrs("81.2.69.77"),
				Agent: "aws-cli/2.13.0 Python/3.11.4 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off command/ec2.describe-instances"},
			{Name: "root", Kind: "root", From: addrs("81.2.69.20"), Agent: "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"},
			{Name: "mallory", Kind: "user", From: addrs("81.2.69.66"), Agent: "aws-cli/2.15.0"},
			{Name: "bob", Kind: "user", From: addrs("81.2.69.5"), Agent: "aws-cli/2.15.0"},
			{Name: "carol", Kind: "user", From: addrs("81.2.69.6"), Agent: "aws-cli/2.15.0"},
			{Name: "lambda.amazonaws.com", Kind: "service"},
			{Name: "level1", Kind: "role", Session: "level1", AccessKey: "ASIAEXAMPLELEVEL1KEY", From: addrs("34.234.236.212"), Agent: "awslambda-worker"},
		},
		Activities: []synth.TrailActivity{
			{Name: "kali", Who: "ci-deployer", At: day(18, 14, 0), Over: 5 * time.Minute, APIs: synth.DiscoveryAPIs[:60], Calls: 120},
			{Name: "root-login", Who: "root", At: day(23, 9, 0), APIs: []string{"signin:ConsoleLogin"}},
			{Name: "root-setting", Who: "root", At: day(23, 9, 1), Over: 3 * time.Minute, APIs: []string{"account:PutAlternateContact", "iam:ListUsers"}, Calls: 6},
			{Name: "stop", Who: "mallory", At: day(24, 10, 0), Over: 2 * time.Minute, APIs: []string{"cloudtrail:StopLogging"}, Params: `{"name":"org-trail"}`, Calls: 4},
			{Name: "detector", Who: "mallory", At: day(24, 10, 2), APIs: []string{"guardduty:UpdateDetector"},
				Params: `{"detectorId":"12abc34d567e8fa901bc2d34e56789f0","enable":false}`},
			{Name: "policy", Who: "mallory", At: day(24, 10, 3), APIs: []string{"iam:UpdateAccountPasswordPolicy"},
				Params: `{"minimumPasswordLength":6,"requireSymbols":false,"requireNumbers":false,"requireUppercaseCharacters":false,"requireLowercaseCharacters":true,"passwordReusePrevention":0}`},
			{Name: "bob-recon", Who: "bob", At: day(25, 10, 0), Over: 2 * time.Minute, From: netip.MustParseAddr("192.0.2.10"),
				APIs: []string{"s3:ListBuckets", "ec2:DescribeInstances"}, Calls: 4},
			{Name: "bob-key", Who: "bob", At: day(25, 10, 5), From: netip.MustParseAddr("192.0.2.10"), APIs: []string{"iam:CreateAccessKey"}},
			{Name: "carol", Who: "carol", At: day(25, 11, 0), From: netip.MustParseAddr("198.51.100.77"), APIs: []string{"iam:ListUsers", "iam:AttachUserPolicy"}},
			{Name: "issue", Who: "lambda.amazonaws.com", At: day(26, 23, 3), APIs: []string{"sts:AssumeRole"},
				Params:   `{"roleArn":"arn:aws:iam::111122223333:role/service-role/level1","roleSessionName":"level1"}`,
				Response: `{"credentials":{"accessKeyId":"ASIAEXAMPLELEVEL1KEY","expiration":"Mar 29, 2026 11:03:12 AM"}}`},
			{Name: "function", Who: "level1", At: day(26, 23, 4), APIs: []string{"logs:CreateLogStream"}, Calls: 2},
			{Name: "level1-laptop", Who: "level1", At: day(26, 23, 6), Over: 2 * time.Minute, From: netip.MustParseAddr("104.102.221.250"),
				Agent: "aws-cli/1.16.19 Python/2.7.10 Darwin/17.7.0 botocore/1.12.9", APIs: []string{"s3:ListObjects", "ecr:ListImages"}, Calls: 4},
			{Name: "web-laptop", Who: "web", At: day(27, 15, 0), Over: time.Minute, From: netip.MustParseAddr("81.2.69.200"),
				Agent: "aws-cli/2.15.0 Python/3.11.6 Darwin/23.1.0", APIs: []string{"sts:GetCallerIdentity", "s3:ListBuckets", "iam:ListRoles"}, Calls: 3},
			{Name: "recon", Who: "alice", At: day(31, 3, 4), Over: 8 * time.Minute, From: netip.MustParseAddr("185.10.10.66"),
				Agent: "Boto3/1.34.0 Python/3.12.1 Linux/6.5.0 Botocore/1.34.0", APIs: synth.DiscoveryAPIs[:30], Calls: 90, Denied: 0.3},
		},
	}
	if intrusion {
		cfg.Activities = append(cfg.Activities, synth.TrailActivity{Name: "mallory-kali", Who: "mallory", At: day(24, 9, 50), Over: 4 * time.Minute,
			Agent: "aws-cli/2.13.0 Python/3.11.4 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023 prompt/off",
			APIs:  synth.DiscoveryAPIs[:45], Calls: 90},
			// ... and makes a key for another user (riskycall).
			synth.TrailActivity{Name: "mallory-backdoor", Who: "mallory", At: day(24, 10, 4), APIs: []string{"iam:CreateAccessKey"},
				Params: `{"userName":"ci-deployer"}`})
	}
	calls, err := decodeTrail("synth/trail.json", []synth.TrailConfig{cfg})
	if err != nil {
		return nil, err
	}
	// A flow log record puts the web instance's private address on it.
	tie := &event.Flow{Origin: event.Origin{File: event.Intern("synth/flows.log"), Line: 1},
		Account: event.Intern("111122223333"), Region: event.Intern("us-east-1"), Interface: event.Intern("eni-0aaa"), Instance: event.Intern("i-0aaa"),
		Src: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("52.94.0.1"), SrcPort: 40000, DstPort: 443, Protocol: event.ProtoTCP,
		Packets: 10, Bytes: 2000, Start: event.TimeOf(cfg.Start), End: event.TimeOf(cfg.Start) + 10, Action: event.Accept, Status: event.StatusOK,
		Direction: event.Outbound, Basis: event.BasisField, Version: 5,
		Has: event.HasStart | event.HasEnd | event.HasPackets | event.HasBytes | event.HasSrcPort | event.HasDstPort | event.HasProtocol}
	input := append([]event.Record{tie}, calls...)
	flood, err := callFlood(10 * conformanceMaxKeys)
	if err != nil {
		return nil, err
	}
	return &world{input: input, flood: flood, intel: conformanceIntel, info: callInfo}, nil
}

var exposureWorldOnce = sync.OnceValues(makeExposureWorld)

func exposureWorld(t *testing.T) *world {
	t.Helper()
	w, err := exposureWorldOnce()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// makeExposureWorld generates a day of CloudTrail and decodes it as
// picket analyze does: a developer at work, an admin who opens a bucket
// to the public, turns off its Block Public Access and its access
// logging, and restores one of them (s3policy), and a user who signs in
// to the console at home in Germany and twelve minutes later in another
// country (consolelogin). It has a world of its own so that the calls
// world, and with it the other detectors' runs, stays as it is; the
// flood is the calls world's.
func makeExposureWorld() (*world, error) {
	day := func(h, m int) time.Time { return time.Date(2026, 3, 2, h, m, 0, 0, time.UTC) }
	browser := "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
	signedIn := `{"ConsoleLogin":"Success"}`
	cfg := synth.TrailConfig{
		Seed: 11, Start: day(0, 0), Days: 1,
		Principals: []synth.TrailPrincipal{
			{Name: "alice", Kind: "user", From: []netip.Addr{netip.MustParseAddr("93.184.216.10")}, Agent: "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22",
				Hours: [2]int{8, 18}, PerDay: 40, APIs: []string{"s3:ListBuckets", "s3:GetObject", "s3:PutObject", "ec2:DescribeInstances"}},
			{Name: "mallory", Kind: "user", From: []netip.Addr{netip.MustParseAddr("81.2.69.66")}, Agent: "aws-cli/2.15.0"},
			{Name: "dave", Kind: "user", From: []netip.Addr{netip.MustParseAddr("93.184.216.20")}, Agent: browser},
		},
		Activities: []synth.TrailActivity{
			{Name: "bucket-public", Who: "mallory", At: day(10, 0), APIs: []string{"s3:PutBucketPolicy"},
				Params: `{"bucketName":"exports","bucketPolicy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::exports/*"}]},"policy":""}`},
			{Name: "bucket-block", Who: "mallory", At: day(10, 1), APIs: []string{"s3:DeleteBucketPublicAccessBlock"}, Params: `{"bucketName":"exports","publicAccessBlock":""}`},
			{Name: "bucket-logging", Who: "mallory", At: day(10, 2), Over: 10 * time.Minute, Calls: 3, APIs: []string{"s3:PutBucketLogging"},
				Params: `{"bucketName":"exports","BucketLoggingStatus":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"},"logging":""}`},
			{Name: "bucket-logging-on", Who: "mallory", At: day(10, 30), APIs: []string{"s3:PutBucketLogging"},
				Params: `{"bucketName":"exports","BucketLoggingStatus":{"LoggingEnabled":{"TargetBucket":"logs","TargetPrefix":"exports/"}},"logging":""}`},
			{Name: "console-home", Who: "dave", At: day(9, 0), APIs: []string{"signin:ConsoleLogin"}, Response: signedIn},
			{Name: "console-away", Who: "dave", At: day(9, 12), From: netip.MustParseAddr("185.10.10.66"), APIs: []string{"signin:ConsoleLogin"}, Response: signedIn},
			{Name: "console-home-again", Who: "dave", At: day(9, 30), APIs: []string{"signin:ConsoleLogin"}, Response: signedIn},
		},
	}
	input, err := decodeTrail("synth/exposure.json", []synth.TrailConfig{cfg})
	if err != nil {
		return nil, err
	}
	calls, err := callWorldOnce()
	if err != nil {
		return nil, err
	}
	return &world{input: input, flood: calls.flood, intel: conformanceIntel, info: callInfo}, nil
}

// callFlood makes n accounts, each with a user on a threat list's address
// with a Kali user agent who enumerates, stops a trail and weakens the
// password policy, its root user signing in, and an instance role whose
// credentials are used inside and then outside AWS: all within two
// minutes, so that every table of every CloudTrail detector fills.
func callFlood(n int) ([]event.Record, error) {
	t0 := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	var cfgs []synth.TrailConfig
	for i := range n {
		at := t0.Add(time.Duration(i) * 2 * time.Minute / time.Duration(n))
		user := fmt.Sprintf("flood%04d", i)
		cfgs = append(cfgs, synth.TrailConfig{
			Seed: uint64(i), Account: fmt.Sprintf("%012d", 500000000000+i), Start: t0,
			Principals: []synth.TrailPrincipal{
				{Name: user, Kind: "user", From: []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i%250)})},
					Agent: "aws-cli/2.13.0 Python/3.11.4 Linux/6.5.0-kali3-amd64 exe/x86_64.kali.2023"},
				{Name: "root", Kind: "root", From: []netip.Addr{netip.MustParseAddr("81.2.69.20")}, Agent: "Mozilla/5.0"},
				{Name: "app", Kind: "instance", Session: fmt.Sprintf("i-0f%06d", i), From: []netip.Addr{netip.AddrFrom4([4]byte{3, 80, byte(i >> 8), byte(i)})},
					Agent: "aws-sdk-go/1.44.0"},
			},
			Activities: []synth.TrailActivity{
				{Name: "enumerate", Who: user, At: at, APIs: synth.DiscoveryAPIs[:3]},
				{Name: "stop", Who: user, At: at, APIs: []string{"cloudtrail:StopLogging"}, Params: `{"name":"org-trail"}`},
				{Name: "policy", Who: user, At: at, APIs: []string{"iam:UpdateAccountPasswordPolicy"}, Params: `{"minimumPasswordLength":6}`},
				{Name: "root", Who: "root", At: at, APIs: []string{"signin:ConsoleLogin"}},
				{Name: "console", Who: user, At: at, From: netip.AddrFrom4([4]byte{93, 184, 216, byte(i)}), APIs: []string{"signin:ConsoleLogin"},
					Response: `{"ConsoleLogin":"Success"}`},
				{Name: "bucket", Who: user, At: at, APIs: []string{"s3:PutBucketAcl"}, Params: `{"bucketName":"flood","x-amz-acl":["public-read"]}`},
				{Name: "secret", Who: user, At: at, APIs: []string{"secretsmanager:GetSecretValue"}, Params: `{"secretId":"flood"}`},
				{Name: "home", Who: "app", At: at, APIs: []string{"s3:GetObject"}},
				{Name: "away", Who: "app", At: at.Add(time.Second), From: netip.MustParseAddr("81.2.69.200"), APIs: []string{"s3:ListBuckets"}},
			},
		})
	}
	return decodeTrail("synth/flood.json", cfgs)
}

// decodeTrail generates the trails of cfgs, writes them as one CloudTrail
// file in time order, and decodes it, attaching what callInfo knows of
// each caller as enrichment does.
func decodeTrail(name string, cfgs []synth.TrailConfig) ([]event.Record, error) {
	var events []synth.TrailEvent
	for _, cfg := range cfgs {
		es, err := synth.GenerateTrail(cfg)
		if err != nil {
			return nil, err
		}
		events = append(events, es...)
	}
	slices.SortStableFunc(events, func(a, b synth.TrailEvent) int { return a.Time.Compare(b.Time) })
	var buf bytes.Buffer
	if err := synth.WriteTrail(&buf, events); err != nil {
		return nil, err
	}
	r := cloudtrail.NewReader(&buf, name)
	var out []event.Record
	var c event.APICall
	for {
		err := r.Next(&c)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		call := c.Clone()
		if call.SourceIP.IsValid() {
			call.SourceInfo = callInfo(call.SourceIP)
		}
		out = append(out, call)
	}
}

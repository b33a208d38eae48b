package trail_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"

	"picket/internal/awsip"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/synth"
)

var (
	update = flag.Bool("update", false, "rewrite the expect sections of the CloudTrail scenarios")
	dump   = flag.Bool("dump", false, "log the CloudTrail findings of each scenario as JSON")
)

// The CloudTrail scenarios are testdata/scenarios/*.txtar: a description,
// then a "scenario" file that generates a trail with synth (principals
// with habits, over days, and one-off activities over them), says what
// the enrichment databases and intelligence know, and tunes detectors;
// and an "expect" file listing the CloudTrail findings the run must
// yield, one a line (type, principal=, kind=, severity=), or "none".
// -update rewrites the expect files from what the detectors say.
//
// Scenario lines:
//
//	seed: 1
//	start: 2026-03-02             (a date, or an RFC 3339 time)
//	days: 30
//	principal: NAME kind=user|role|instance|root|service session=S key=AKIA... from=ADDR[,ADDR] agent="UA"
//	           hours=8-18 weekdays perday=N apis=svc:API,...|discovery:N|discovery:A-B errors=0.02 vpce=ID
//	activity: NAME who=PRINCIPAL at=TIME over=DURATION from=ADDR agent="UA" apis=... calls=N
//	          denied=0.3 error=CODE message="..." params='{json}' response='{json}' vpce=ID vpce_account=ID invoked_by=SVC
//	net: PREFIX asn=N org=NAME country=CC
//	aws: PREFIX SERVICE REGION     (AWS's ranges; none: no ranges loaded)
//	threat: PREFIX list=NAME       tor: PREFIX       trusted: PREFIX
//	flow: ADDR i-INSTANCE          (a flow record tying a private address to an instance)
//	set: DETECTOR.THRESHOLD=VALUE  allow: DETECTOR.LIST=NAME[,NAME]
//
// An activity's "at" is a time, or a duration after start (30d3h5m is
// written 723h5m).

// scenarioFile is one parsed scenario.
type scenarioFile struct {
	path    string
	cfg     synth.TrailConfig
	w       world
	expect  []string
	archive *txtar.Archive
}

// fields splits a line into words, keeping "double" or 'single' quoted
// runs together and unquoting them.
func fields(s string) []string {
	var out []string
	var cur strings.Builder
	quote := byte(0)
	in := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0 && ch == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(ch)
		case ch == '"' || ch == '\'':
			quote, in = ch, true
		case ch == ' ' || ch == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

func keyValues(t *testing.T, words []string) map[string]string {
	t.Helper()
	kv := map[string]string{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			kv[w] = "true"
			continue
		}
		kv[k] = v
	}
	return kv
}

func apis(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	for _, a := range strings.Split(s, ",") {
		if rest, ok := strings.CutPrefix(a, "discovery:"); ok {
			lo, hi := 0, 0
			if l, h, ok := strings.Cut(rest, "-"); ok {
				lo, _ = strconv.Atoi(l)
				hi, _ = strconv.Atoi(h)
			} else {
				hi, _ = strconv.Atoi(rest)
			}
			if hi > len(synth.DiscoveryAPIs) || lo >= hi {
				t.Fatalf("bad API range %q", a)
			}
			out = append(out, synth.DiscoveryAPIs[lo:hi]...)
			continue
		}
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

func addrs(t *testing.T, s string) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for _, a := range strings.Split(s, ",") {
		if a == "" {
			continue
		}
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func parseTime(t *testing.T, start time.Time, s string) time.Time {
	t.Helper()
	if v, err := time.Parse(time.RFC3339, s); err == nil {
		return v
	}
	if v, err := time.Parse("2006-01-02", s); err == nil {
		return v
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("bad time %q", s)
	}
	return start.Add(d)
}

func parseScenario(t *testing.T, path string) *scenarioFile {
	t.Helper()
	ar, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := &scenarioFile{path: path, archive: ar}
	sc.cfg.Days = 1
	sc.cfg.Start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	var spec, expect []byte
	for _, f := range ar.Files {
		switch f.Name {
		case "scenario":
			spec = f.Data
		case "expect":
			expect = f.Data
		default:
			t.Fatalf("%s: unknown file %q", path, f.Name)
		}
	}
	var awsJSON []string
	var activities []string
	for _, line := range strings.Split(string(spec), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		rest = strings.TrimSpace(rest)
		words := fields(rest)
		switch key {
		case "seed":
			sc.cfg.Seed, _ = strconv.ParseUint(rest, 10, 64)
		case "start":
			sc.cfg.Start = parseTime(t, sc.cfg.Start, rest)
		case "days":
			sc.cfg.Days, _ = strconv.Atoi(rest)
		case "principal":
			kv := keyValues(t, words[1:])
			p := synth.TrailPrincipal{Name: words[0], Kind: kv["kind"], Session: kv["session"], AccessKey: kv["key"], From: addrs(t, kv["from"]),
				Agent: kv["agent"], APIs: apis(t, kv["apis"]), Weekdays: kv["weekdays"] == "true", VPCEndpoint: kv["vpce"]}
			if p.Kind == "" {
				p.Kind = "user"
			}
			p.PerDay, _ = strconv.Atoi(kv["perday"])
			p.ErrorRate, _ = strconv.ParseFloat(kv["errors"], 64)
			if h := kv["hours"]; h != "" {
				a, b, _ := strings.Cut(h, "-")
				p.Hours[0], _ = strconv.Atoi(a)
				p.Hours[1], _ = strconv.Atoi(b)
			}
			sc.cfg.Principals = append(sc.cfg.Principals, p)
		case "activity":
			activities = append(activities, rest)
		case "net":
			kv := keyValues(t, words[1:])
			asn, _ := strconv.ParseUint(kv["asn"], 10, 32)
			sc.w.nets = append(sc.w.nets, netInfo{netip.MustParsePrefix(words[0]), event.IPInfo{
				ASN: uint32(asn), ASOrg: event.Intern(kv["org"]), CountryCode: event.Intern(kv["country"])}})
		case "aws":
			awsJSON = append(awsJSON, fmt.Sprintf(`{"ip_prefix":%q,"service":%q,"region":%q,"network_border_group":%q}`,
				words[0], words[1], words[2], words[2]))
		case "threat":
			sc.intel().threat = append(sc.intel().threat, netip.MustParsePrefix(words[0]))
			sc.intel().list = keyValues(t, words[1:])["list"]
		case "tor":
			sc.intel().tor = append(sc.intel().tor, netip.MustParsePrefix(words[0]))
		case "trusted":
			sc.intel().trusted = append(sc.intel().trusted, netip.MustParsePrefix(words[0]))
		case "flow":
			sc.w.flows = append(sc.w.flows, event.Flow{Src: netip.MustParseAddr(words[0]), Dst: netip.MustParseAddr("52.94.0.1"),
				Instance: event.Intern(words[1]), Direction: event.Outbound, Start: event.TimeOf(sc.cfg.Start), End: event.TimeOf(sc.cfg.Start),
				Account: event.Intern("111122223333"), Interface: event.Intern("eni-" + words[1][2:]), Protocol: event.ProtoTCP})
		case "set":
			k, v, _ := strings.Cut(rest, "=")
			det, name, _ := strings.Cut(k, ".")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if sc.w.thresholds == nil {
				sc.w.thresholds = map[string]map[string]float64{}
			}
			if sc.w.thresholds[det] == nil {
				sc.w.thresholds[det] = map[string]float64{}
			}
			sc.w.thresholds[det][name] = f
		case "allow":
			k, v, _ := strings.Cut(rest, "=")
			det, name, _ := strings.Cut(k, ".")
			if sc.w.allow == nil {
				sc.w.allow = map[string]map[string][]string{}
			}
			if sc.w.allow[det] == nil {
				sc.w.allow[det] = map[string][]string{}
			}
			sc.w.allow[det][name] = strings.Split(v, ",")
		default:
			t.Fatalf("%s: unknown key %q", path, key)
		}
	}
	for _, a := range activities {
		words := fields(a)
		kv := keyValues(t, words[1:])
		act := synth.TrailActivity{Name: words[0], Who: kv["who"], Agent: kv["agent"], APIs: apis(t, kv["apis"]),
			ErrorCode: kv["error"], ErrorMessage: kv["message"], Params: kv["params"], Response: kv["response"],
			VPCEndpoint: kv["vpce"], VPCEndpointAccount: kv["vpce_account"], InvokedBy: kv["invoked_by"]}
		act.At = parseTime(t, sc.cfg.Start, kv["at"])
		if o := kv["over"]; o != "" {
			act.Over, _ = time.ParseDuration(o)
		}
		if f := kv["from"]; f != "" {
			act.From = netip.MustParseAddr(f)
		}
		act.Calls, _ = strconv.Atoi(kv["calls"])
		act.Denied, _ = strconv.ParseFloat(kv["denied"], 64)
		sc.cfg.Activities = append(sc.cfg.Activities, act)
	}
	if len(awsJSON) > 0 {
		tb, err := awsip.Parse(strings.NewReader(`{"syncToken":"1","createDate":"2026-01-01-00-00-00","prefixes":[` +
			strings.Join(awsJSON, ",") + `],"ipv6_prefixes":[]}`))
		if err != nil {
			t.Fatalf("%s: aws ranges: %v", path, err)
		}
		sc.w.aws = tb
	}
	for _, line := range strings.Split(string(expect), "\n") {
		if line = strings.TrimSpace(line); line != "" && line != "none" {
			sc.expect = append(sc.expect, line)
		}
	}
	slices.Sort(sc.expect)
	return sc
}

func (sc *scenarioFile) intel() *fakeIntel {
	if sc.w.intel == nil {
		sc.w.intel = &fakeIntel{}
	}
	return sc.w.intel
}

// trailInputs generates a scenario's trail and renders it as one S3 log
// file per day, as CloudTrail delivers them.
func trailInputs(t *testing.T, cfg synth.TrailConfig) []input {
	t.Helper()
	events, err := synth.GenerateTrail(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []input
	for len(events) > 0 {
		day := events[0].Time.Truncate(24 * time.Hour)
		n := 0
		for n < len(events) && events[n].Time.Before(day.Add(24*time.Hour)) {
			n++
		}
		var buf bytes.Buffer
		if err := synth.WriteTrail(&buf, events[:n]); err != nil {
			t.Fatal(err)
		}
		acct := cmp.Or(cfg.Account, "111122223333")
		out = append(out, input{name: "AWSLogs/" + acct + "/CloudTrail/us-east-1/" + day.Format("2006/01/02") + "/trail.json", data: buf.Bytes()})
		events = events[n:]
	}
	return out
}

// TestScenarios runs every CloudTrail scenario and compares the findings
// with its expect file.
func TestScenarios(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.txtar"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			sc := parseScenario(t, path)
			fs := sc.w.run(t, trailInputs(t, sc.cfg))
			got := apiFindings(fs)
			if *dump {
				for _, f := range fs {
					b, _ := json.MarshalIndent(f, "", "  ")
					t.Logf("%s", b)
				}
			}
			if slices.Equal(got, sc.expect) {
				for _, f := range fs {
					checkFinding(t, f)
				}
				return
			}
			if *update {
				sc.rewrite(t, got)
				return
			}
			t.Errorf("findings differ (-want +got):\n%s", diffLines(sc.expect, got))
			for _, f := range fs {
				if ai := f.Service.AdditionalInfo; ai != nil && ai.Explanation != nil {
					t.Logf("%s: %s", f.Type, ai.Explanation.Summary)
				}
			}
		})
	}
}

func (sc *scenarioFile) rewrite(t *testing.T, got []string) {
	t.Helper()
	body := "none\n"
	if len(got) > 0 {
		body = strings.Join(got, "\n") + "\n"
	}
	for i := range sc.archive.Files {
		if sc.archive.Files[i].Name == "expect" {
			sc.archive.Files[i].Data = []byte(body)
		}
	}
	if err := os.WriteFile(sc.path, txtar.Format(sc.archive), 0o644); err != nil {
		t.Fatal(err)
	}
}

func diffLines(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			b.WriteString("- " + w + "\n")
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			b.WriteString("+ " + g + "\n")
		}
	}
	return b.String()
}

// checkFinding checks what every CloudTrail finding carries: the access
// key details, the API call with its caller, the CloudTrail feature, an
// explanation with evidence samples, and times in order.
func checkFinding(t *testing.T, f *finding.Finding) {
	t.Helper()
	if f.Service.FeatureName != finding.FeatureCloudTrail {
		return
	}
	a := f.Service.Action.AwsAPICallAction
	switch {
	case f.Resource.ResourceType != finding.ResourceAccessKey || f.Resource.AccessKeyDetails == nil:
		t.Errorf("%s: no access key details", f.Type)
	case f.Resource.AccessKeyDetails.UserType == "" || f.Resource.AccessKeyDetails.PrincipalID == "":
		t.Errorf("%s: access key details incomplete: %+v", f.Type, *f.Resource.AccessKeyDetails)
	case f.Service.Action.ActionType != finding.ActionAWSAPICall || a == nil || a.API == "" || a.ServiceName == "":
		t.Errorf("%s: no API call action", f.Type)
	case a.CallerType == "" || a.CallerType == "Remote IP" && a.RemoteIPDetails == nil:
		t.Errorf("%s: caller not described: %+v", f.Type, *a)
	case f.Service.AdditionalInfo == nil || f.Service.AdditionalInfo.Explanation == nil ||
		len(f.Service.AdditionalInfo.Explanation.Samples) == 0 || len(f.Service.AdditionalInfo.Explanation.APICalls) == 0:
		t.Errorf("%s: no explanation with evidence", f.Type)
	case f.Service.EventFirstSeen.After(f.Service.EventLastSeen.Time) || f.Service.Count <= 0:
		t.Errorf("%s: activity window %v to %v, count %d", f.Type, f.Service.EventFirstSeen, f.Service.EventLastSeen, f.Service.Count)
	case strings.Contains(f.Title, "{") || strings.Contains(f.Description, "{"):
		t.Errorf("%s: template left unfilled: %q / %q", f.Type, f.Title, f.Description)
	}
	if f.Service.AdditionalInfo == nil || f.Service.AdditionalInfo.Explanation == nil {
		return
	}
	for _, s := range f.Service.AdditionalInfo.Explanation.Samples {
		if !strings.Contains(s.Origin, ":") || s.Record == "" {
			t.Errorf("%s: sample without file:line: %+v", f.Type, s)
		}
	}
}

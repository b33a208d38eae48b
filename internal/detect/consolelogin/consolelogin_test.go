package consolelogin

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/decode/cloudtrail"
	"picket/internal/detect"
	"picket/internal/event"
	"picket/internal/finding"
)

// The places of the tests' addresses, as a geolocation and AS database
// would give them (documentation and example ranges).
var places = map[string]event.IPInfo{
	"93.184.216.10": {CountryCode: event.Intern("DE"), CountryName: event.Intern("Germany"), City: event.Intern("Frankfurt am Main"),
		Lat: 50.11, Lon: 8.68, HasLocation: true, ASN: 64500, ASOrg: event.Intern("ACME-CORP")},
	"93.184.217.20": {CountryCode: event.Intern("DE"), CountryName: event.Intern("Germany"), City: event.Intern("Munich"),
		Lat: 48.14, Lon: 11.58, HasLocation: true, ASN: 64501, ASOrg: event.Intern("MOBILE-DE")},
	"198.51.100.40": {CountryCode: event.Intern("US"), CountryName: event.Intern("United States"), City: event.Intern("New York"),
		Lat: 40.71, Lon: -74.01, HasLocation: true, ASN: 64502, ASOrg: event.Intern("EXAMPLE-NET")},
	"203.0.113.50": {CountryCode: event.Intern("SG"), CountryName: event.Intern("Singapore"), City: event.Intern("Singapore"),
		Lat: 1.29, Lon: 103.85, HasLocation: true, ASN: 64503, ASOrg: event.Intern("EXAMPLE-VPS")},
	// Country databases give no coordinates.
	"192.0.2.60": {CountryCode: event.Intern("DE"), ASN: 64504},
	"192.0.2.61": {CountryCode: event.Intern("FR"), ASN: 64505},
	// AS databases alone give no place.
	"192.0.2.70": {ASN: 64506, ASOrg: event.Intern("HOME-ISP")},
	"192.0.2.71": {ASN: 64507, ASOrg: event.Intern("MOBILE-OP")},
}

// signin writes one ConsoleLogin event of the IAM user user at
// 2026-03-02 plus at, from addr, as CloudTrail records it; result is
// "Success" or "Failure".
func signin(user, addr, at, result string) string {
	t := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	d, err := time.ParseDuration(at)
	if err != nil {
		panic(err)
	}
	t = t.Add(d)
	extra := ""
	if result == "Failure" {
		extra = `,"errorMessage":"Failed authentication"`
	}
	return `{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE` + strings.ToUpper(user) + `",` +
		`"arn":"arn:aws:iam::111122223333:user/` + user + `","accountId":"111122223333","userName":"` + user + `"},` +
		`"eventTime":"` + t.Format(time.RFC3339) + `","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1",` +
		`"sourceIPAddress":"` + addr + `","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",` +
		`"requestParameters":null,"responseElements":{"ConsoleLogin":"` + result + `"},` +
		`"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_0123456789abcdef","MobileVersion":"No","MFAUsed":"Yes"},` +
		`"eventID":"` + user + `-` + t.Format("150405") + `-` + addr + `","readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,` +
		`"recipientAccountId":"111122223333","eventCategory":"Management",` +
		`"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"signin.aws.amazon.com"}` + extra + `}`
}

// decode reads events as picket analyze does, attaching what the
// databases know of each caller as enrichment does.
func decode(t *testing.T, events ...string) []*event.APICall {
	t.Helper()
	r := cloudtrail.NewReader(strings.NewReader(`{"Records":[`+strings.Join(events, ",")+`]}`), "AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/02/trail.json.gz")
	var out []*event.APICall
	for {
		var c event.APICall
		err := r.Next(&c)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decoding: %v", err)
		}
		call := c.Clone()
		call.SourceInfo = places[call.SourceIP.String()]
		out = append(out, call)
	}
}

// run feeds calls to a new detector, advancing the watermark five
// minutes behind the newest event time as the engine does, and returns
// its findings with the reports of each merged, as the store merges
// them.
func run(t *testing.T, th map[string]float64, calls []*event.APICall) []*finding.Finding {
	t.Helper()
	d, err := New(detect.Env{DetectorID: finding.DetectorID, Thresholds: th})
	if err != nil {
		t.Fatal(err)
	}
	set := finding.NewSet()
	emit := func(f *finding.Finding) { set.Add(f) }
	newest := event.Never
	for _, c := range calls {
		d.Observe(c, emit)
		newest = max(newest, c.EventTime)
		d.Advance(newest-300, emit)
	}
	d.Advance(event.Forever, emit)
	return set.Sorted()
}

func TestSignins(t *testing.T) {
	tests := []struct {
		name   string
		th     map[string]float64
		events []string
		count  int64  // of the one finding; 0 for none
		places string // in the description
	}{
		{"Frankfurt then New York within the hour", nil, []string{
			signin("alice", "93.184.216.10", "9h", "Success"),
			signin("alice", "198.51.100.40", "9h40m", "Success"),
		}, 2, "2 places within 40m0s: Frankfurt am Main, DE (AS64500 ACME-CORP); New York, US (AS64502 EXAMPLE-NET)"},
		{"three continents, folded into one finding", nil, []string{
			signin("alice", "93.184.216.10", "9h", "Success"),
			signin("alice", "198.51.100.40", "9h20m", "Success"),
			signin("alice", "203.0.113.50", "9h30m", "Success"),
		}, 3, "3 places"},
		{"countries without coordinates", nil, []string{
			signin("alice", "192.0.2.60", "9h", "Success"),
			signin("alice", "192.0.2.61", "9h10m", "Success"),
		}, 2, "DE (AS64504); FR (AS64505)"},
		{"networks without places, compared on request", map[string]float64{"compare_networks": 1}, []string{
			signin("alice", "192.0.2.70", "9h", "Success"),
			signin("alice", "192.0.2.71", "9h05m", "Success"),
		}, 2, "AS64506 HOME-ISP; AS64507 MOBILE-OP"},
		{"three places wanted, three seen", map[string]float64{"min_places": 3}, []string{
			signin("alice", "93.184.216.10", "9h", "Success"),
			signin("alice", "198.51.100.40", "9h20m", "Success"),
			signin("alice", "203.0.113.50", "9h30m", "Success"),
		}, 3, "3 places"},

		// Benign look-alikes.
		{"one sign-in a day from one place", nil, []string{
			signin("alice", "93.184.216.10", "9h", "Success"),
			signin("alice", "93.184.216.10", "33h", "Success"),
			signin("alice", "93.184.216.10", "57h", "Success"),
		}, 0, ""},
		{"Frankfurt then Munich, closer than the distance", nil, []string{
			signin("alice", "93.184.216.10", "9h", "Success"),
			signin("alice", "93.184.217.20", "9h30m", "Success"),
		}, 0, ""},
		{"Frankfurt then New York after a flight", nil, []string{
			signin("alice", "93.184.216.10", "9h", "Success"),
			signin("alice", "198.51.100.40", "17h30m", "Success"),
		}, 0, ""},
		{"a failed sign-in from afar", nil, []string{
			signin("alice", "93.184.216.10", "9h", "Success"),
			signin("alice", "198.51.100.40", "9h10m", "Failure"),
		}, 0, ""},
		{"two users, each in one place", nil, []string{
			signin("alice", "93.184.216.10", "9h", "Success"),
			signin("bob", "198.51.100.40", "9h10m", "Success"),
		}, 0, ""},
		{"networks without places, by default", nil, []string{
			signin("alice", "192.0.2.70", "9h", "Success"),
			signin("alice", "192.0.2.71", "9h05m", "Success"),
		}, 0, ""},
		{"a place and an unknown address", nil, []string{
			signin("alice", "93.184.216.10", "9h", "Success"),
			signin("alice", "192.0.2.99", "9h05m", "Success"),
		}, 0, ""},
		{"three places wanted, two seen", map[string]float64{"min_places": 3}, []string{
			signin("alice", "93.184.216.10", "9h", "Success"),
			signin("alice", "198.51.100.40", "9h20m", "Success"),
		}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := run(t, tt.th, decode(t, tt.events...))
			if tt.count == 0 {
				for _, f := range fs {
					t.Errorf("unexpected %s: %s", f.Type, f.Description)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("%d findings, want one", len(fs))
			}
			f := fs[0]
			if f.Type != finding.TypeConsoleLoginSuccessB || f.Severity != finding.SeverityMedium || f.Service.Count != tt.count {
				t.Errorf("got %s at %v count %d, want %s at Medium count %d", f.Type, f.Severity, f.Service.Count, finding.TypeConsoleLoginSuccessB, tt.count)
			}
			if f.Resource.ResourceType != finding.ResourceAccessKey || f.Resource.AccessKeyDetails == nil || f.Resource.AccessKeyDetails.UserName != "alice" {
				t.Errorf("resource %+v", f.Resource)
			}
			a := f.Service.Action.AwsAPICallAction
			if a == nil || a.API != "ConsoleLogin" || a.ServiceName != "signin.amazonaws.com" || a.RemoteIPDetails == nil {
				t.Errorf("awsApiCallAction %+v", a)
			}
			if !strings.Contains(f.Description, tt.places) || strings.Contains(f.Title+f.Description, "{") {
				t.Errorf("description %q, want it to name %q", f.Description, tt.places)
			}
		})
	}
}

// TestArrivalOrder checks that sign-ins arriving out of order, within
// the lateness, give the same finding.
func TestArrivalOrder(t *testing.T) {
	events := []string{
		signin("alice", "93.184.216.10", "9h", "Success"),
		signin("alice", "93.184.216.10", "9h01m", "Success"),
		signin("alice", "198.51.100.40", "9h02m", "Success"),
		signin("alice", "203.0.113.50", "9h03m", "Success"),
	}
	calls := decode(t, events...)
	want := run(t, nil, calls)
	got := run(t, nil, []*event.APICall{calls[3], calls[1], calls[2], calls[0]})
	if d := cmp.Diff(jsonOf(t, want), jsonOf(t, got)); d != "" {
		t.Errorf("findings depend on arrival order (-in order +reordered):\n%s", d)
	}
}

func jsonOf(t *testing.T, fs []*finding.Finding) string {
	t.Helper()
	b, err := json.MarshalIndent(fs, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestState checks that a restart between two sign-ins keeps the first.
func TestState(t *testing.T) {
	calls := decode(t, signin("alice", "93.184.216.10", "9h", "Success"), signin("alice", "198.51.100.40", "9h30m", "Success"))
	d, _ := New(detect.Env{DetectorID: finding.DetectorID})
	d.Observe(calls[0], nil)
	d.Advance(calls[0].EventTime, nil)
	b, err := d.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	e, _ := New(detect.Env{DetectorID: finding.DetectorID})
	if err := e.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(d.State(), e.State()); d != "" {
		t.Errorf("restored tables differ:\n%s", d)
	}
	var fs []*finding.Finding
	e.Observe(calls[1], nil)
	e.Advance(event.Forever, func(f *finding.Finding) { fs = append(fs, f) })
	if len(fs) != 1 || fs[0].Service.Count != 2 {
		t.Fatalf("after a restart: %d findings, want one of count 2", len(fs))
	}
}

// TestExpiry checks that sign-ins older than the window are forgotten
// and principals with none left leave the table.
func TestExpiry(t *testing.T) {
	calls := decode(t, signin("alice", "93.184.216.10", "9h", "Success"), signin("bob", "93.184.216.10", "9h", "Success"))
	d, _ := New(detect.Env{DetectorID: finding.DetectorID})
	for _, c := range calls {
		d.Observe(c, nil)
	}
	d.Advance(calls[0].EventTime+3600, nil)
	if n := d.histories.Len(); n != 2 {
		t.Fatalf("%d principals remembered within the window, want 2", n)
	}
	d.Advance(calls[0].EventTime+3601, nil)
	if n := d.histories.Len(); n != 0 || len(d.active) != 0 {
		t.Fatalf("%d principals (%d active) remembered after the window, want none", n, len(d.active))
	}
}

func TestDistance(t *testing.T) {
	frankfurt, newYork := place{Lat: 50.11, Lon: 8.68, HasLocation: true}, place{Lat: 40.71, Lon: -74.01, HasLocation: true}
	if km := distanceKm(frankfurt, newYork); km < 6150 || km > 6250 {
		t.Errorf("Frankfurt to New York: %.0f km, want about 6200", km)
	}
	if km := distanceKm(frankfurt, frankfurt); km != 0 {
		t.Errorf("a place to itself: %v km", km)
	}
	antipode := place{Lat: -50.11, Lon: -171.32, HasLocation: true}
	if km := distanceKm(frankfurt, antipode); km < 20000 || km > 20020 {
		t.Errorf("to the antipode: %.0f km, want half the circumference", km)
	}
}

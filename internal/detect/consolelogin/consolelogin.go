// Package consolelogin owns the UnauthorizedAccess:IAMUser/
// ConsoleLoginSuccess.B detector: successful sign-ins to the AWS
// Management Console by one principal from places so far apart, so close
// in time, that one person could not have made them all.
//
// A sign-in is a ConsoleLogin event of signin.amazonaws.com whose
// responseElements say "Success". Its place is what enrichment attached
// to the caller's address (event.APICall.SourceInfo): the coordinates
// when the geolocation database has them, else the country, else, only
// when compare_networks is on, the autonomous system. Two sign-ins are
// in different places when their coordinates are at least
// min_distance_km apart, or, without coordinates, when their countries
// (or networks) differ; sign-ins whose place is unknown are in no place
// and never count.
//
// The detector decides in Advance, once the watermark has passed a
// sign-in, so that every sign-in up to it has arrived: it looks back over
// the principal's sign-ins of the preceding window and reports all of
// them when they come from min_places different places. The finding
// folds every such sign-in of the principal and names the places of the
// latest window.
//
// The detector imports detect, detect/trail, event, finding and lru.
package consolelogin

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"picket/internal/detect"
	"picket/internal/detect/trail"
	"picket/internal/event"
	"picket/internal/finding"
	"picket/internal/lru"
)

// ID is the detector's ID.
const ID = "consolelogin"

// Thresholds are the detector's tunables.
var Thresholds = detect.Tunables{
	{Name: "window", Unit: "seconds", Default: 3600, Min: 60, Max: 86_400,
		Doc: "how close in time sign-ins from different places must be. In an hour no one signs in, reaches an airport, flies 500 km and signs in again; over longer windows real journeys (a two-hour flight covers 1500 km) start to look like two places at once"},
	{Name: "min_distance_km", Unit: "kilometres", Default: 500, Min: 0, Max: 20_000,
		Doc: "how far apart two sign-ins with known coordinates must be to count as two places. 500 km in an hour is faster than any road or rail journey, and well beyond the error of city-level geolocation (tens of kilometres); addresses of one country's mobile network often geolocate hundreds of kilometres apart, so much lower values report people who did not move"},
	{Name: "min_places", Unit: "places", Default: 2, Min: 2, Max: 10,
		Doc: "distinct places within the window that make a finding. Two already cannot be one person travelling; raise it when people share a console user across sites on purpose, or sign in through VPN exits in other countries"},
	{Name: "compare_networks", Unit: "flag", Default: 0, Min: 0, Max: 1,
		Doc: "1 counts two sign-ins from different autonomous systems as two places when neither has a geolocation (an AS database is loaded and no geolocation database). Off by default: one person moves between a mobile network and an office network within minutes"},
	{Name: "max_principals", Unit: "principals", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "principals whose recent sign-ins are remembered: up to 16 sign-ins of the last window each, about 2 KiB a sign-in (the event as recorded); the least recently active are evicted and counted"},
	{Name: "max_pending", Unit: "findings", Default: 10_000, Min: 10, Max: 1e7,
		Doc: "findings noted between two watermarks, about 4 KiB each; sign-ins of findings beyond it are counted as lost until the next watermark"},
}

// maxLogins bounds the sign-ins remembered per principal; the oldest go
// first. Sixteen sign-ins within an hour is already far beyond what one
// person does, and the places the finding needs are few.
const maxLogins = 16

// place is where a sign-in came from. Fields are exported for saving
// state.
type place struct {
	Lat, Lon    float64
	HasLocation bool
	Country     string
	City        string
	ASN         uint32
	ASOrg       string
}

func placeOf(c *event.APICall) place {
	in := &c.SourceInfo
	return place{Lat: in.Lat, Lon: in.Lon, HasLocation: in.HasLocation, Country: in.CountryCode.String(), City: in.City.String(),
		ASN: in.ASN, ASOrg: in.ASOrg.String()}
}

// known reports whether the place can be told apart from others at all.
func (p place) known(networks bool) bool {
	return p.HasLocation || p.Country != "" || (networks && p.ASN != 0)
}

// String names a place: "Frankfurt am Main, DE (AS64500 ACME-CORP)".
func (p place) String() string {
	var parts []string
	if p.City != "" {
		parts = append(parts, p.City)
	}
	if p.Country != "" {
		parts = append(parts, p.Country)
	}
	s := strings.Join(parts, ", ")
	if s == "" && p.HasLocation {
		s = strconv.FormatFloat(p.Lat, 'f', 2, 64) + "," + strconv.FormatFloat(p.Lon, 'f', 2, 64)
	}
	if p.ASN != 0 {
		as := "AS" + strconv.FormatUint(uint64(p.ASN), 10)
		if p.ASOrg != "" {
			as += " " + p.ASOrg
		}
		if s == "" {
			return as
		}
		s += " (" + as + ")"
	}
	return s
}

// earthRadiusKm is the mean radius of the Earth.
const earthRadiusKm = 6371.0

// distanceKm returns the great-circle distance between two places with
// coordinates (the haversine formula).
func distanceKm(a, b place) float64 {
	rad := math.Pi / 180
	dLat, dLon := (b.Lat-a.Lat)*rad, (b.Lon-a.Lon)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(min(h, 1)))
}

// login is one successful sign-in. Fields are exported for saving state.
type login struct {
	Call    *event.APICall
	Place   place
	Settled bool // the watermark has passed it and it was judged
	Noted   bool // it is part of a finding
}

// history is a principal's recent sign-ins, in event-time order.
type history struct {
	Logins []login
}

// Detector is the console sign-in detector.
type Detector struct {
	env       detect.Env
	th        detect.Tunables
	window    event.Time
	minKm     float64
	minPlaces int
	networks  bool
	signin    event.ID
	name      event.ID
	histories *lru.Table[trail.Principal, history]
	// active holds the principals with a history, which Advance visits.
	active  map[trail.Principal]bool
	pending *trail.Pending
}

var (
	_ detect.Detector    = (*Detector)(nil)
	_ detect.Stater      = (*Detector)(nil)
	_ detect.Snapshotter = (*Detector)(nil)
)

// New builds the detector.
func New(env detect.Env) (*Detector, error) {
	th, err := Thresholds.Apply(ID, env.Thresholds)
	if err != nil {
		return nil, err
	}
	d := &Detector{
		env: env, th: th,
		window:    event.Time(th.Get("window")),
		minKm:     th.Get("min_distance_km"),
		minPlaces: int(th.Get("min_places")),
		networks:  th.Get("compare_networks") >= 0.5,
		signin:    event.Intern("signin.amazonaws.com"),
		name:      event.Intern("ConsoleLogin"),
		active:    map[trail.Principal]bool{},
		pending:   trail.NewPending(env.Cap(int(th.Get("max_pending")), 0.3, 4096)),
	}
	d.histories = lru.New[trail.Principal, history](env.Cap(int(th.Get("max_principals")), 0.7, 8192),
		func(p trail.Principal, _ *history) { delete(d.active, p) })
	return d, nil
}

// Definition describes the detector.
func (d *Detector) Definition() detect.Definition {
	return detect.Definition{
		ID:           ID,
		Summary:      "successful console sign-ins of one principal from places too far apart for the time between them",
		FindingTypes: []string{finding.TypeConsoleLoginSuccessB},
		Subscribes:   []event.Kind{event.KindAPICall},
		Thresholds:   d.th,
	}
}

// State reports the detector's tables.
func (d *Detector) State() []detect.StateStats {
	return []detect.StateStats{
		{Table: "principals", Len: d.histories.Len(), Cap: d.histories.Cap(), Evicted: d.histories.Evicted()},
		d.pending.Stats("pending"),
	}
}

// succeeded reports whether a call is a successful console sign-in.
func (d *Detector) succeeded(c *event.APICall) bool {
	if c.EventName != d.name || c.EventSource != d.signin || c.Failed() {
		return false
	}
	s, _ := event.JSONString(c.ResponseElements, "ConsoleLogin")
	return s == "Success"
}

// Observe remembers a successful sign-in from a known place.
func (d *Detector) Observe(rec event.Record, _ detect.Emit) {
	c, ok := rec.(*event.APICall)
	if !ok || !d.succeeded(c) || trail.Ignored(&d.env, c) {
		return
	}
	pl := placeOf(c)
	if !pl.known(d.networks) {
		return
	}
	p := trail.PrincipalOf(c)
	if p.IsZero() {
		return
	}
	h, _ := d.histories.Put(p)
	l := login{Call: c.Clone(), Place: pl}
	i, _ := slices.BinarySearchFunc(h.Logins, l, compareLogins)
	h.Logins = slices.Insert(h.Logins, i, l)
	if len(h.Logins) > maxLogins {
		h.Logins = slices.Delete(h.Logins, 0, len(h.Logins)-maxLogins)
	}
	d.active[p] = true
}

func compareLogins(a, b login) int {
	if c := cmp.Compare(a.Call.EventTime, b.Call.EventTime); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Call.Origin.File.String(), b.Call.Origin.File.String()); c != 0 {
		return c
	}
	return cmp.Compare(a.Call.Origin.Line, b.Call.Origin.Line)
}

// apart reports whether two places are different places.
func (d *Detector) apart(a, b place) bool {
	switch {
	case a.HasLocation && b.HasLocation:
		return distanceKm(a, b) >= d.minKm
	case a.Country != "" && b.Country != "":
		return a.Country != b.Country
	case d.networks && !a.HasLocation && !b.HasLocation && a.Country == "" && b.Country == "":
		return a.ASN != 0 && b.ASN != 0 && a.ASN != b.ASN
	}
	return false
}

// Advance judges the sign-ins the watermark has passed and reports the
// findings.
func (d *Detector) Advance(wm event.Time, emit detect.Emit) {
	for _, p := range sortedPrincipals(d.active) {
		h := d.histories.Peek(p)
		if h == nil {
			delete(d.active, p)
			continue
		}
		d.settle(p, h, wm)
		// Sign-ins older than a window before the watermark can no longer
		// be in the window of one still to settle.
		old := 0
		for old < len(h.Logins) && h.Logins[old].Settled && h.Logins[old].Call.EventTime < wm-d.window {
			old++
		}
		h.Logins = slices.Delete(h.Logins, 0, old)
		if len(h.Logins) == 0 {
			d.histories.Delete(p)
			delete(d.active, p)
		}
	}
	d.pending.Flush(func(k trail.Key, it *trail.Item) {
		exp := &finding.Explanation{
			Kind:    "impossible-travel",
			Summary: "successful console sign-ins from " + it.Vars["places"] + " within " + duration(d.window),
			Thresholds: []finding.Threshold{
				{Name: "min_places", Limit: float64(d.minPlaces), Observed: float64(it.Notes["places"]), Unit: "places", Crossed: true},
			},
		}
		r := it.Report(ID, k, exp)
		r.Vars = map[string]string{"detail": it.Vars["detail"]}
		emit(trail.Build(&d.env, r))
	})
}

// settle judges the principal's sign-ins that the watermark has passed,
// in event-time order.
func (d *Detector) settle(p trail.Principal, h *history, wm event.Time) {
	for i := range h.Logins {
		l := &h.Logins[i]
		if l.Settled {
			continue
		}
		if l.Call.EventTime > wm {
			break
		}
		l.Settled = true
		// The places of the settled sign-ins of the window that ends
		// with this one.
		var places []place
		var first event.Time
		members := 0
		for j := 0; j <= i; j++ {
			m := &h.Logins[j]
			if !m.Settled || m.Call.EventTime < l.Call.EventTime-d.window {
				continue
			}
			if members == 0 {
				first = m.Call.EventTime
			}
			members++
			if !slices.ContainsFunc(places, func(q place) bool { return !d.apart(q, m.Place) }) {
				places = append(places, m.Place)
			}
		}
		if len(places) < d.minPlaces {
			continue
		}
		var it *trail.Item
		for j := 0; j <= i; j++ {
			m := &h.Logins[j]
			if m.Noted || !m.Settled || m.Call.EventTime < l.Call.EventTime-d.window {
				continue
			}
			m.Noted = true
			if got := d.pending.Note(trail.Key{Type: finding.TypeConsoleLoginSuccessB, Principal: p}, m.Call); got != nil {
				it = got
			}
		}
		if it == nil {
			continue
		}
		names := make([]string, len(places))
		for j, q := range places {
			names[j] = q.String()
		}
		if it.Vars == nil {
			it.Vars = map[string]string{}
		}
		if it.Notes == nil {
			it.Notes = map[string]int64{}
		}
		it.Vars["places"] = strings.Join(names, "; ")
		it.Vars["detail"] = strconv.Itoa(len(places)) + " places within " + duration(l.Call.EventTime-first) + ": " + it.Vars["places"]
		it.Notes["places"] = int64(len(places))
		it.Notes["span_seconds"] = int64(l.Call.EventTime - first)
	}
}

// sortedPrincipals returns the principals of a set in a fixed order.
func sortedPrincipals(set map[trail.Principal]bool) []trail.Principal {
	out := make([]trail.Principal, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b trail.Principal) int {
		return cmp.Or(cmp.Compare(a.Account.String(), b.Account.String()), cmp.Compare(a.ARN.String(), b.ARN.String()))
	})
	return out
}

// duration writes seconds for people: "45m0s", "1h0m0s".
func duration(s event.Time) string {
	return (time.Duration(s) * time.Second).String()
}

type detectorState struct {
	Histories lru.Snapshot[trail.Principal, history]
	Active    []trail.Principal
	Pending   *trail.Pending
}

// MarshalState saves the recent sign-ins and the findings not yet
// reported.
func (d *Detector) MarshalState() ([]byte, error) {
	return detect.EncodeState(detectorState{Histories: d.histories.View(), Active: sortedPrincipals(d.active), Pending: d.pending})
}

// UnmarshalState restores them.
func (d *Detector) UnmarshalState(b []byte) error {
	var st detectorState
	if err := detect.DecodeState(b, &st); err != nil {
		return err
	}
	d.histories.Restore(st.Histories)
	d.active = make(map[trail.Principal]bool, len(st.Active))
	for _, p := range st.Active {
		d.active[p] = true
	}
	st.Pending = st.Pending.Restored(d.pending.Max)
	d.pending = st.Pending
	return nil
}

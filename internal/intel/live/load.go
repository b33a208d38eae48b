package live

import (
	"context"
	"log/slog"
	"net/netip"

	"picket/internal/detect"
	"picket/internal/intel"
	"picket/internal/intel/fetch"
)

// Options says where lists come from besides their locations.
type Options struct {
	// Fetch configures how lists are fetched: the S3 endpoint, the size
	// limit. The zero value fetches files, http(s) URLs and S3 objects
	// with the AWS configuration of the environment.
	Fetch fetch.Options
	// MaxSamples bounds the bad entries each list's report keeps (0: 20).
	MaxSamples int
	// Log receives list failures and refreshes; nil discards them.
	Log *slog.Logger
}

// LoadLists fetches and decodes the lists and returns the loader that
// holds them, with each list's report. It fails, naming every list that
// cannot be used at all, rather than run with a list that silently does
// nothing. Lists refreshes the loader with its Run method.
func LoadLists(ctx context.Context, lists []intel.Spec, opt Options) (*intel.Loader, []intel.Report, error) {
	f := fetch.New(opt.Fetch)
	l, err := intel.NewLoader(intel.Config{Lists: lists, Fetch: f.Fetch, Log: opt.Log, MaxSamples: opt.MaxSamples})
	if err != nil {
		return nil, nil, err
	}
	reports, err := l.Load(ctx)
	if err != nil {
		return nil, reports, err
	}
	return l, reports, nil
}

// CheckLists fetches and decodes each list on its own, as `picket intel
// check` reports them: the report of every list that could be fetched,
// and for each list the error that makes it unusable, or nil.
func CheckLists(ctx context.Context, lists []intel.Spec, opt Options) ([]*intel.Report, []error) {
	f := fetch.New(opt.Fetch)
	reports := make([]*intel.Report, len(lists))
	errs := make([]error, len(lists))
	for i, sp := range lists {
		body, _, err := f.Fetch(ctx, sp.Location, "")
		if err != nil {
			errs[i] = &intel.ListError{Name: sp.Name, Where: sp.Location, Kind: sp.Kind, Reason: "cannot fetch", Err: err}
			continue
		}
		l, err := intel.Decode(body, sp.DecodeOptions(opt.MaxSamples))
		body.Close()
		reports[i], errs[i] = &l.Report, err
	}
	return reports, errs
}

// Adapt returns a loader as detectors consult it: detect.Intel, and
// detect.DomainIntel for DNS detectors. Lookups read the loader's current
// set through an atomic pointer and never allocate.
func Adapt(l *intel.Loader) detect.Intel { return adapter{l} }

type adapter struct{ l *intel.Loader }

var (
	_ detect.Intel       = adapter{}
	_ detect.DomainIntel = adapter{}
)

func (a adapter) Trusted(addr netip.Addr) bool { return a.l.Trusted(addr) }

func (a adapter) Threat(addr netip.Addr) (detect.ThreatMatch, bool) {
	m, ok := a.l.Threat(addr)
	if !ok {
		return detect.ThreatMatch{}, false
	}
	return threatMatch(m), true
}

func (a adapter) TrustedDomain(name string) bool { return a.l.TrustedDomain(name) }

func (a adapter) ThreatDomain(name string) (detect.ThreatMatch, bool) {
	m, ok := a.l.ThreatDomain(name)
	if !ok {
		return detect.ThreatMatch{}, false
	}
	return threatMatch(m), true
}

// threatMatch copies a match; its slices are shared, immutable.
func threatMatch(m *intel.Match) detect.ThreatMatch {
	kind := detect.ThreatCustom
	if m.Kind == intel.KindTor {
		kind = detect.ThreatTor
	}
	return detect.ThreatMatch{
		ListName: m.List, ThreatNames: m.ThreatNames, FileSHA256: m.SHA256,
		Kind: kind, Purpose: m.Purpose, Score: m.Score, Ports: m.Ports, Category: m.Category,
	}
}

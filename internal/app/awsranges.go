package app

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"picket/internal/awsip"
	"picket/internal/config"
	"picket/internal/detect"
	"picket/internal/detect/all"
	"picket/internal/detect/credexfil"
)

// AWSIPRangesOff and AWSIPRangesAuto, given as the ranges file
// (AnalyzeOptions.AWSIPRanges, enrich.aws_ip_ranges), turn AWS's ip
// ranges off, and ask for the copy kept in a directory, the same as no
// file.
const (
	AWSIPRangesOff  = config.AWSIPRangesOff
	AWSIPRangesAuto = config.AWSIPRangesAuto
)

// needAWSRanges lists the detectors that raise nothing without AWS's ip
// ranges: inside or outside AWS is what they decide, and without the
// ranges every address could be either.
var needAWSRanges = []string{credexfil.ID}

// AWSRangesReport says which AWS ip ranges a run uses, or why none.
type AWSRangesReport struct {
	// Ranges describes the table ("8 AWS prefixes published
	// 2024-03-01"); "" when there is none.
	Ranges string
	// Origin is where they came from: "file" (named by the user), or a
	// copy kept in a directory, "cache" (current), "fetched" (now) or
	// "stale" (old: fetching failed); "" when there are none.
	Origin string
	// Path is the file read.
	Path string
	// Checked is when a kept copy was last fetched or confirmed current.
	Checked time.Time
	// Problem says why there are none, or why the copy is stale.
	Problem string
	// Blind lists, when there are no ranges, the enabled detectors that
	// raise nothing without them.
	Blind []BlindDetector
}

// BlindDetector is a detector that raises nothing without some input,
// with the finding types it would raise.
type BlindDetector struct {
	ID           string
	FindingTypes []string
}

// awsRangesSource is where a run's AWS ip ranges come from.
type awsRangesSource struct {
	file string // a file named by the user, AWSIPRangesOff, or ""
	dir  string // directory of the kept copy, used when file is ""
	url  string // where the copy is fetched from; "" fetches nothing
	log  *slog.Logger
}

// newAWSRangesSource returns the source of a file, AWSIPRangesOff,
// AWSIPRangesAuto or "" (the copy kept in dir, fetched from url).
func newAWSRangesSource(file, dir, url string, log *slog.Logger) awsRangesSource {
	if file == AWSIPRangesAuto {
		file = ""
	}
	return awsRangesSource{file: file, dir: dir, url: url, log: log}
}

// cache returns the kept copy's Cache, nil when there is none.
func (s awsRangesSource) cache() *awsip.Cache {
	if s.file != "" || s.dir == "" {
		return nil
	}
	return &awsip.Cache{Dir: s.dir, URL: s.url, Log: s.log}
}

// load finds the ranges: the file the user named (which must load, or
// the run fails), else the kept copy, fetched when missing or a day old
// (never failing: without ranges the run goes on, blind where it must
// be). It returns the path for enrich to open ("" for none) and the
// report, without Blind, which depends on the detectors.
func (s awsRangesSource) load(ctx context.Context) (string, AWSRangesReport, error) {
	switch {
	case s.file == AWSIPRangesOff:
		return "", AWSRangesReport{Problem: "turned off"}, nil
	case s.file != "":
		t, err := awsip.Load(s.file)
		if err != nil {
			return "", AWSRangesReport{}, err
		}
		return s.file, AWSRangesReport{Ranges: t.String(), Origin: "file", Path: s.file}, nil
	case s.dir == "":
		return "", AWSRangesReport{Problem: "no file given, and no directory to keep a fetched copy in"}, nil
	}
	st := s.cache().Load(ctx)
	rep := AWSRangesReport{Origin: string(st.Origin), Path: st.Path, Checked: st.Checked}
	if st.Problem != nil {
		rep.Problem = st.Problem.Error()
	}
	if st.Table == nil || st.Path == "" {
		// Fetched ranges that could not be kept (Problem says why)
		// are not used: enrich reads them from the file.
		if st.Table != nil && rep.Problem == "" {
			rep.Problem = "the fetched ranges could not be kept"
		}
		return "", AWSRangesReport{Problem: rep.Problem}, nil
	}
	rep.Ranges = st.Table.String()
	if st.Origin == awsip.OriginCache {
		rep.Problem = "" // a young copy that a refresh could not replace
	}
	return st.Path, rep, nil
}

// blindWithout returns the detectors among dets that raise nothing
// without AWS's ip ranges.
func blindWithout(dets []detect.Detector) []BlindDetector {
	var out []BlindDetector
	for _, d := range dets {
		def := d.Definition()
		if slices.Contains(needAWSRanges, def.ID) {
			out = append(out, BlindDetector{ID: def.ID, FindingTypes: slices.Clone(def.FindingTypes)})
		}
	}
	return out
}

// blindWithoutEnabled is blindWithout for the built-in detectors that
// disabled does not name.
func blindWithoutEnabled(disabled []string) []BlindDetector {
	var out []BlindDetector
	for _, def := range all.Definitions() {
		if slices.Contains(needAWSRanges, def.ID) && !slices.Contains(disabled, def.ID) {
			out = append(out, BlindDetector{ID: def.ID, FindingTypes: slices.Clone(def.FindingTypes)})
		}
	}
	return out
}

// serveAWSRanges is where picket serve's ranges come from: the file the
// configuration names, or a copy kept in the data directory, fetched
// from enrich.aws_ip_ranges_url.
func serveAWSRanges(cfg *config.Config, dataDir string, log *slog.Logger) awsRangesSource {
	return newAWSRangesSource(cfg.Enrich.AWSIPRanges, dataDir, cfg.Enrich.AWSIPRangesURL, log)
}

// logAWSRanges logs, once at start, which ranges the service uses or,
// without them, which detectors are blind.
func logAWSRanges(log *slog.Logger, rep AWSRangesReport, none bool, disabled []string) {
	if !none {
		log.Info("AWS ip ranges", "ranges", rep.Ranges, "origin", rep.Origin, "path", rep.Path)
		return
	}
	for _, b := range blindWithoutEnabled(disabled) {
		log.Warn("no AWS ip ranges: a detector raises nothing without them",
			"detector", b.ID, "finding_types", b.FindingTypes, "reason", rep.Problem,
			"fix", "set enrich.aws_ip_ranges to a copy of ip-ranges.json, or let picket fetch it (enrich.aws_ip_ranges: auto, the default)")
	}
}

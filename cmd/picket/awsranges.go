package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"picket/internal/app"
)

// envAWSIPRanges, when set, is the default of --aws-ip-ranges (analyze
// and serve) and of enrich.aws_ip_ranges: auto, off or a file. Machines
// that must not reach AWS, and the command's own tests, set it to off.
const envAWSIPRanges = "PICKET_AWS_IP_RANGES"

// awsRangesDefault is the default of --aws-ip-ranges.
func awsRangesDefault() string {
	if v := os.Getenv(envAWSIPRanges); v != "" {
		return v
	}
	return app.AWSIPRangesAuto
}

// defaultCacheDir is where picket analyze keeps what it fetches: the
// user's cache directory ($XDG_CACHE_HOME or ~/.cache on Linux), "" when
// there is none (then nothing is fetched).
func defaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "picket")
}

// writeAWSRangesSummary says which AWS ip ranges the analysis used, when
// it read API calls (they are what the ranges are for), and, without
// ranges, which detectors were blind. An old copy used because fetching
// failed is said whatever the input.
func writeAWSRangesSummary(w io.Writer, s *app.Summary) {
	r := s.AWSRanges
	calls := s.ByKind["api-call"] > 0
	switch {
	case r.Origin == "stale":
		fmt.Fprintf(w, "  AWS ip ranges: %s, from a copy last checked %s: fetching a new one failed: %s\n",
			r.Ranges, r.Checked.UTC().Format(time.DateOnly), r.Problem)
	case !calls:
	case r.Ranges != "":
		how := map[string]string{"file": "from " + r.Path, "cache": "kept copy, checked " + r.Checked.UTC().Format(time.DateOnly), "fetched": "fetched now"}[r.Origin]
		fmt.Fprintf(w, "  AWS ip ranges: %s (%s)\n", r.Ranges, how)
	case len(r.Blind) > 0:
		fmt.Fprintf(w, "  AWS ip ranges: none (%s); without them these detectors raise nothing:\n", r.Problem)
		for _, b := range r.Blind {
			fmt.Fprintf(w, "    %s: %s\n", b.ID, strings.Join(b.FindingTypes, ", "))
		}
		fmt.Fprintf(w, "    give --aws-ip-ranges FILE (AWS's ip-ranges.json), or let picket fetch it (--aws-ip-ranges auto)\n")
	}
}

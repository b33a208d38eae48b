package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"picket/internal/intel"
	"picket/internal/intel/live"
)

// listFlags collects repeated list flags (--threat-list, --trusted-list,
// --tor-list) as [NAME=][FORMAT:]LOCATION. Commas are not separators:
// URLs may hold them.
type listFlags struct {
	kind  intel.Kind
	specs *[]intel.Spec
}

func (l listFlags) String() string { return "" }

func (l listFlags) Set(s string) error {
	sp, err := intel.ParseSpec(l.kind, s)
	if err != nil {
		return err
	}
	*l.specs = append(*l.specs, sp)
	return nil
}

// addListFlags defines the list flags of a command on fs.
func addListFlags(fs *flag.FlagSet, specs *[]intel.Spec) {
	const how = " as [NAME=][FORMAT][,OPTION...:]LOCATION: a file, an http(s):// URL or s3://bucket/key (repeatable; the format is detected when not given; see 'picket intel check')"
	fs.Var(listFlags{intel.KindThreat, specs}, "threat-list", "threat list whose addresses raise MaliciousIPCaller.Custom findings and whose domains MaliciousDomainRequest.Custom (or, with the option category=c2, blackhole, droppoint, phishing, bitcoin-tool, abused, bitcoin, malicious or suspicious, the DNS finding of that category),"+how)
	fs.Var(listFlags{intel.KindTrusted, specs}, "trusted-list", "trusted list whose addresses and domains raise no finding,"+how)
	fs.Var(listFlags{intel.KindTor, specs}, "tor-list", "list of Tor relays and exit nodes, for TorClient and TorRelay findings,"+how)
}

func cmdIntel(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, intelUsage)
			return 0
		}
		fmt.Fprint(stderr, intelUsage)
		return 2
	}
	return cmdIntelCheck(args[1:], stdout, stderr)
}

const intelUsage = `Usage: picket intel check [flags] LIST...

Reads threat, trusted and Tor lists and reports, for each, the format it
was read as, the entries it holds and every entry it could not read, with
its line. LIST is [NAME=][FORMAT][,OPTION...:]LOCATION: a file, an http(s):// URL
or s3://bucket/key; the format is detected from the content when not
given ("auto"). Options: allow_private keeps the entries of a threat or
Tor list in private, loopback, link-local, multicast and reserved networks,
which are otherwise refused and reported; relays or exits says what a Tor
list in a format that does not tell (TXT) names.
Formats: ` + "TXT, STIX, STIX2, OTX_CSV, ALIEN_VAULT, PROOF_POINT, FIRE_EYE, TOR_EXIT, TOR_RELAY, FIREHOL, IPSUM, CSV" + `.

Exit status: 0 when every list is usable (bad entries are reported, not
fatal), 1 when a list has no usable entry or was cut short, 2 for a usage
error.
`

func cmdIntelCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("intel check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", "threat", "what the lists are for: threat, trusted or tor")
	maxErrors := fs.Int("errors", 10, "bad entries to print per list (all are counted)")
	output := fs.String("output", "text", "text or json")
	fs.StringVar(output, "o", "text", "short for --output")
	fs.Usage = func() {
		fmt.Fprint(stderr, intelUsage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	args, err := parse(fs, args)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, "picket intel check: no list given\n\n"+intelUsage)
		return 2
	}
	k, err := intel.ParseKind(*kind)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	if *output != "text" && *output != "json" {
		return usageError(stderr, fs, fmt.Errorf("unknown output %q (want text or json)", *output))
	}
	var specs []intel.Spec
	for _, a := range args {
		sp, err := intel.ParseSpec(k, a)
		if err != nil {
			return usageError(stderr, fs, fmt.Errorf("%s: %w", a, err))
		}
		specs = append(specs, sp)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	reports, errs := live.CheckLists(ctx, specs, live.Options{MaxSamples: max(*maxErrors, 0)})
	status := 0
	type jsonReport struct {
		*intel.Report
		Format string `json:"Format"`
		Kind   string `json:"Kind"`
		Tor    string `json:"Tor,omitempty"`
		Error  string `json:"Error,omitempty"`
	}
	var out []jsonReport
	for i, sp := range specs {
		r, err := reports[i], errs[i]
		if err != nil || r == nil || r.Incomplete != "" {
			status = 1
		}
		if *output == "json" {
			j := jsonReport{Report: r}
			if r != nil {
				j.Format, j.Kind = r.Format.String(), r.Kind.String()
				if r.Kind == intel.KindTor {
					j.Tor = r.Tor.String()
				}
			}
			if err != nil {
				j.Error = err.Error()
			}
			out = append(out, j)
			continue
		}
		writeListReport(stdout, sp, r, err, *maxErrors)
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"lists": out}); err != nil {
			fmt.Fprintf(stderr, "picket intel check: %v\n", err)
			return 1
		}
	}
	return status
}

func writeListReport(w io.Writer, sp intel.Spec, r *intel.Report, err error, maxErrors int) {
	fmt.Fprintf(w, "%s (%s list %q)\n", sp.Location, sp.Kind, sp.Name)
	if r != nil {
		if r.Kind != sp.Kind {
			fmt.Fprintf(w, "  kind:    %s (the format says so)\n", r.Kind)
		}
		how := "detected"
		if !r.Detected {
			how = "given"
		}
		fmt.Fprintf(w, "  format:  %s (%s)\n", r.Format, how)
		fmt.Fprintf(w, "  entries: %d (%d addresses, %d networks, %d ranges, %d domains; %d IPv6)\n",
			r.Entries, r.Addresses, r.Networks, r.Ranges, r.Domains, r.IPv6)
		if r.Kind == intel.KindTor {
			fmt.Fprintf(w, "  tor:     %s (%s)\n", r.Tor, r.Tor.Purpose())
		}
		if r.Skipped > 0 {
			fmt.Fprintf(w, "  skipped: %d entries of kinds lists do not match on (file hashes, e-mail, URL paths)\n", r.Skipped)
		}
		if r.Refused > 0 {
			fmt.Fprintf(w, "  REFUSED: %d entries in private or reserved networks, left out (the allow_private list option keeps them)\n", r.Refused)
			if s := r.RefusedSample; s != nil {
				fmt.Fprintf(w, "    line %d: %s: %q\n", s.Line, s.Reason, s.Value)
			}
		} else if r.AllowPrivate {
			fmt.Fprintf(w, "  private: allowed\n")
		}
		fmt.Fprintf(w, "  errors:  %d\n", r.Errors)
		for i, e := range r.Samples {
			if i >= maxErrors {
				break
			}
			fmt.Fprintf(w, "    line %d: %s: %q\n", e.Line, e.Reason, e.Value)
		}
		if r.Errors > len(r.Samples) && len(r.Samples) > 0 && maxErrors > 0 {
			fmt.Fprintf(w, "    ... and %d more\n", r.Errors-len(r.Samples))
		}
		if r.Incomplete != "" {
			fmt.Fprintf(w, "  INCOMPLETE: %s\n", r.Incomplete)
		}
		if r.SHA256 != "" {
			fmt.Fprintf(w, "  sha256:  %s (%s)\n", r.SHA256, bytesHuman(r.Bytes))
		}
	}
	if err != nil {
		fmt.Fprintf(w, "  UNUSABLE: %s\n", strings.TrimPrefix(err.Error(), fmt.Sprintf("%s list %q (%s): ", sp.Kind, sp.Name, sp.Location)))
	}
	fmt.Fprintln(w)
}

// writeIntelSummary adds the lists an analysis used to its summary.
func writeIntelSummary(w io.Writer, reports []intel.Report) {
	for _, r := range reports {
		fmt.Fprintf(w, "  %s list %q: %d entries (%s)", r.Kind, r.Name, r.Entries, r.Format)
		if r.Errors > 0 && len(r.Samples) > 0 {
			fmt.Fprintf(w, ", %d bad entries skipped (first: line %d: %s)", r.Errors, r.Samples[0].Line, r.Samples[0].Reason)
		}
		if r.Refused > 0 && r.RefusedSample != nil {
			fmt.Fprintf(w, ", %d entries in private or reserved networks refused (first: line %d: %s; allow_private keeps them)",
				r.Refused, r.RefusedSample.Line, r.RefusedSample.Reason)
		}
		if r.Incomplete != "" {
			fmt.Fprintf(w, ", incomplete: %s", r.Incomplete)
		}
		fmt.Fprintln(w)
	}
}

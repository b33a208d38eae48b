package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

const usage = `picket detects reconnaissance in cloud logs and reports it as GuardDuty findings.

Usage:
  picket analyze [flags] PATH...   read flow logs, CloudTrail, pcap/pcapng captures or Zeek conn.logs and print findings
  picket explain [flags] ID        print a finding's resource, path, rules, evidence and remediation
  picket convert [flags] INPUT...  turn pcap/pcapng captures and Zeek conn.logs into VPC Flow Logs text
  picket generate [flags]          write synthetic flow logs with embedded attacks
  picket detectors                 list the detectors, their finding types and thresholds
  picket intel check LIST...       validate threat, trusted and Tor lists: format, entries, bad lines
  picket serve [flags]             run the service: ingest logs, keep findings, serve the GuardDuty API and a web console
  picket credentials [flags]       print an AWS CLI profile for the service's API key
  picket cluster status [flags]    print each partition of a cluster: holder, position, watermark
  picket version                   print the version

Run 'picket COMMAND -h' for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// run runs the command line and returns the exit status: 0 on success, 1
// when the work failed, 2 for a usage error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "analyze":
		return cmdAnalyze(rest, stdin, stdout, stderr)
	case "explain":
		return cmdExplain(rest, stdin, stdout, stderr)
	case "convert":
		return cmdConvert(rest, stdin, stdout, stderr)
	case "generate":
		return cmdGenerate(rest, stdout, stderr)
	case "detectors":
		return cmdDetectors(rest, stdout, stderr)
	case "intel":
		return cmdIntel(rest, stdout, stderr)
	case "serve":
		return cmdServe(rest, stderr)
	case "credentials":
		return cmdCredentials(rest, stdout, stderr)
	case "cluster":
		return cmdCluster(rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "picket", version)
		return 0
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "picket: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// parse parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError reports a bad command line.
func usageError(stderr io.Writer, fs *flag.FlagSet, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "picket %s: %v\n", fs.Name(), err)
	return 2
}

// thresholdFlags collects repeated --set detector.name=value flags.
type thresholdFlags map[string]map[string]float64

func (t thresholdFlags) String() string { return "" }

func (t thresholdFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	det, name, ok2 := strings.Cut(k, ".")
	if !ok || !ok2 || det == "" || name == "" {
		return fmt.Errorf("want DETECTOR.THRESHOLD=VALUE, got %q", s)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return fmt.Errorf("threshold %s: %q is not a number", k, v)
	}
	if t[det] == nil {
		t[det] = map[string]float64{}
	}
	t[det][name] = f
	return nil
}

// allowFlags collects repeated --allow detector.list=a,b flags; the
// names of one list add up.
type allowFlags map[string]map[string][]string

func (a allowFlags) String() string { return "" }

func (a allowFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	det, name, ok2 := strings.Cut(k, ".")
	if !ok || !ok2 || det == "" || name == "" {
		return fmt.Errorf("want DETECTOR.LIST=NAME[,NAME...], got %q", s)
	}
	if a[det] == nil {
		a[det] = map[string][]string{}
	}
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			a[det][name] = append(a[det][name], n)
		}
	}
	return nil
}

// listFlag collects a repeated string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, strings.Split(s, ",")...); return nil }

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// byteSize is a flag holding a size in bytes, written as a number with an
// optional unit: B, KiB, MiB, GiB (or KB, MB, GB, also meaning powers of
// 1024).
type byteSize int64

func (b *byteSize) String() string {
	if *b == 0 {
		return ""
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := int64(1)
	num := strings.TrimSpace(s)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			mult, num = u.mult, strings.TrimSpace(strings.TrimSuffix(num, u.suffix))
			break
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size such as 512MiB", s)
	}
	*b = byteSize(n * float64(mult))
	return nil
}

package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"picket/internal/app"
	"picket/internal/decode/vpcflow"
	"picket/internal/event"
	"picket/internal/synth"
	"picket/internal/topology"
)

// v5Format is the custom format of `picket convert --format v5`: every
// field up to version 5, in AWS's documented order.
const v5Format = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path"

// captureFlags are the flags that say how packets and Zeek connections
// become flow records, shared by analyze and convert.
type captureFlags struct {
	topology    *string
	iface       *string
	local       listFlag
	aggregation *time.Duration
}

func addCaptureFlags(fs *flag.FlagSet) *captureFlags {
	c := &captureFlags{}
	c.topology = fs.String("topology", "", "JSON file naming the VPC's interfaces, addresses and security group rules, for pcap and Zeek input (default: each private address is an interface that accepts everything)")
	c.iface = fs.String("interface", "", "record only this interface ID's traffic from pcap and Zeek input (default: the topology interface named in the file name, else every interface)")
	fs.Var(&c.local, "local", "CIDR block of the addresses that are interfaces, for pcap and Zeek input without a topology (repeatable; default: private address ranges)")
	c.aggregation = fs.Duration("aggregation", time.Minute, "flow log aggregation interval for pcap and Zeek input: 60s or 600s")
	return c
}

func (c *captureFlags) options() (app.CaptureOptions, error) {
	o := app.CaptureOptions{Interface: *c.iface, Aggregation: *c.aggregation}
	if *c.topology != "" {
		t, err := topology.Load(*c.topology)
		if err != nil {
			return o, err
		}
		o.Topology = t
	}
	for _, s := range c.local {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return o, fmt.Errorf("--local %q: not a CIDR block", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		o.Local = append(o.Local, p.Masked())
	}
	return o, nil
}

func cmdConvert(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "v2", "output format: v2 (the AWS default format) or v5 (every field up to version 5)")
	fields := fs.String("fields", "", "custom output field list, as a header line or an AWS LogFormat string (instead of --format)")
	out := fs.String("out", "-", "output: - (stdout), a file, or a directory for --layout s3 and per-interface")
	layout := fs.String("layout", "single", "file layout: single (one stream), s3 (AWSLogs/... gzip objects every 5 minutes, as S3 delivery writes them), per-interface")
	gz := fs.Bool("gzip", false, "gzip the output (s3 layout objects are always gzip)")
	header := fs.Bool("header", true, "write a header line naming the fields")
	account := fs.String("account", app.DefaultAccount, "account ID for records the topology does not name")
	region := fs.String("region", app.DefaultRegion, "region for records the topology does not name")
	flowFormat := fs.String("flow-format", "", "fields of headerless flow log input")
	cf := addCaptureFlags(fs)
	quiet := fs.Bool("quiet", false, "no summary on stderr")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: picket convert [flags] INPUT...\n\nTurns packet captures (pcap, pcapng), Zeek conn.logs (TSV or JSON lines) and flow logs into\nVPC Flow Logs text, recorded as AWS would record the same traffic.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	paths, err := parse(fs, args)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "picket convert: no input: give captures, conn.logs, directories or - for stdin")
		return 2
	}
	var f vpcflow.Format
	switch {
	case *fields != "":
		f, err = vpcflow.ParseFormat(*fields)
	case *format == "v2" || *format == "2":
		f = vpcflow.DefaultFormat
	case *format == "v5" || *format == "5":
		f, err = vpcflow.ParseFormat(v5Format)
	default:
		err = fmt.Errorf("--format %q: want v2 or v5 (or --fields)", *format)
	}
	if err != nil {
		return usageError(stderr, fs, err)
	}
	capture, err := cf.options()
	if err != nil {
		return usageError(stderr, fs, err)
	}
	lay, err := synth.ParseLayout(*layout)
	if err != nil {
		return usageError(stderr, fs, err)
	}
	acct, reg := *account, *region
	if t := capture.Topology; t != nil {
		if t.Account != "" {
			acct = t.Account
		}
		if t.Region != "" {
			reg = t.Region
		}
	}
	version := uint8(max(f.Version(), 2))

	var emit func(*event.Flow) error
	var finish func() error
	if lay == synth.LayoutSingle {
		w := stdout
		var file *os.File
		if *out != "-" {
			file, err = os.Create(*out)
			if err != nil {
				fmt.Fprintf(stderr, "picket convert: %v\n", err)
				return 1
			}
			defer file.Close()
			w = file
		}
		var zw *gzip.Writer
		if *gz {
			zw = gzip.NewWriter(w)
			w = zw
		}
		bw := bufio.NewWriterSize(w, 256<<10)
		if *header {
			bw.WriteString(f.String() + "\n")
		}
		var line []byte
		emit = func(r *event.Flow) error {
			r.Version = version
			line = vpcflow.AppendFlow(line[:0], f, r)
			line = append(line, '\n')
			_, err := bw.Write(line)
			return err
		}
		finish = func() error {
			err := bw.Flush()
			if zw != nil {
				if e := zw.Close(); err == nil {
					err = e
				}
			}
			if file != nil {
				if e := file.Close(); err == nil {
					err = e
				}
			}
			return err
		}
	} else {
		if *out == "-" {
			return usageError(stderr, fs, fmt.Errorf("--layout %s writes files: give --out DIR", *layout))
		}
		// The flow log ID in object names: the same inputs give the same
		// names.
		h := fnv.New64a()
		io.WriteString(h, strings.Join(paths, "\x00"))
		w := &synth.Writer{Format: f, Layout: lay, Header: *header, Gzip: *gz, Dir: *out, Account: acct, Region: reg, Seed: h.Sum64()}
		emit = func(r *event.Flow) error {
			r.Version = version
			return w.AddFlow(r)
		}
		finish = w.Close
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum, err := app.Convert(ctx, app.ConvertOptions{
		Paths: paths, Stdin: stdin, FlowFormat: *flowFormat, Account: acct, Region: reg, Capture: capture, Emit: emit,
	})
	if ferr := finish(); err == nil && ferr != nil {
		err = fmt.Errorf("writing: %w", ferr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "picket convert: %v\n", err)
		return 1
	}
	if !*quiet {
		writeConvertSummary(stderr, sum)
	}
	if len(sum.InputErrors) > 0 {
		return 1
	}
	return 0
}

func writeConvertSummary(w io.Writer, s *app.ConvertSummary) {
	fmt.Fprintf(w, "picket convert: %d input(s)", s.Inputs)
	if s.Packets > 0 {
		fmt.Fprintf(w, ", %d packets (%d without IP)", s.Packets, s.NonIP)
	}
	if s.Connections > 0 {
		fmt.Fprintf(w, ", %d connections", s.Connections)
	}
	fmt.Fprintf(w, ", %d flow records in %s\n", s.Records, s.Elapsed.Round(time.Millisecond))
	var n uint64
	for _, v := range s.Skipped {
		n += v
	}
	if n > 0 {
		parts := []string{}
		for k, v := range s.Skipped {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
		fmt.Fprintf(w, "  skipped %d bad packet(s) or line(s): %s\n", n, strings.Join(parts, ", "))
		for _, e := range s.Examples {
			fmt.Fprintf(w, "    %s\n", e)
		}
	}
	if s.Late > 0 {
		fmt.Fprintf(w, "  %d packet(s) or connection(s) arrived after their window was written; counted in the next one\n", s.Late)
	}
	if s.Evicted > 0 {
		fmt.Fprintf(w, "  %d flow(s) written before their window ended, to stay within the open-flow bound\n", s.Evicted)
	}
	for _, e := range s.InputErrors {
		fmt.Fprintf(w, "  input error: %s\n", e)
	}
}

package app

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"picket/internal/decode"
	"picket/internal/decode/vpcflow"
	"picket/internal/event"
	"picket/internal/flowmeter"
	"picket/internal/ingest"
	"picket/internal/source"
	"picket/internal/topology"
)

// CaptureOptions says how packet captures and Zeek connection logs become
// flow records: which interfaces record traffic and with which security
// group rules, and the aggregation window.
type CaptureOptions struct {
	// Topology names the interfaces and their security group rules (nil:
	// every local address is an interface that accepts everything).
	Topology *topology.Topology
	// Local replaces the private address ranges as the test of which
	// addresses are interfaces, without a topology.
	Local []netip.Prefix
	// Interface restricts the records to one interface ID.
	Interface string
	// Aggregation is the flow log aggregation interval: one minute (the
	// default) or ten.
	Aggregation time.Duration
}

// check validates the options.
func (o *CaptureOptions) check() error {
	switch o.Aggregation {
	case 0, time.Minute, 10 * time.Minute:
	default:
		return fmt.Errorf("aggregation interval %s: flow logs aggregate over 60s or 600s", o.Aggregation)
	}
	return nil
}

// meter returns the flow meter configuration the options describe; the
// account and region of each input are filled in when it is opened.
func (o *CaptureOptions) meter() flowmeter.Config {
	return flowmeter.Config{
		Topology: o.Topology, Local: o.Local, Interface: o.Interface,
		Window: event.Time(o.Aggregation / time.Second),
	}
}

// flowFormats are the formats picket convert reads: those of flow
// records.
var flowFormats = []decode.Format{decode.VPCFlow, decode.VPCFlowParquet, decode.VPCFlowCloudWatch, decode.Pcap, decode.Pcapng, decode.ZeekConn}

// ConvertOptions configures a conversion of packet captures, Zeek
// connection logs and flow logs into flow records.
type ConvertOptions struct {
	// Paths are files, directories, or "-" for standard input.
	Paths []string
	Stdin io.Reader
	// FlowFormat is the field list of headerless flow log inputs.
	FlowFormat string
	// Account and Region fill records that name none.
	Account, Region string
	Capture         CaptureOptions
	// Emit receives each record, in event-time order across the inputs;
	// the record is valid only during the call. An error stops the
	// conversion.
	Emit func(*event.Flow) error
}

// ConvertSummary reports what a conversion read and wrote.
type ConvertSummary struct {
	Inputs      int
	InputErrors []string
	Formats     map[string]int
	Records     uint64
	Skipped     map[string]uint64 // bad packets, lines and records by reason
	Examples    []string
	Packets     int64 // frames read from captures
	NonIP       int64 // frames without IP, skipped
	Connections int64 // Zeek connections read
	Late        uint64
	Evicted     uint64
	Elapsed     time.Duration
}

// Convert reads every input and hands its flow records to opt.Emit,
// merged by event time. Inputs that cannot be read are reported in the
// summary; the error is non-nil only when the conversion could not run or
// Emit failed.
func Convert(ctx context.Context, opt ConvertOptions) (*ConvertSummary, error) {
	start := time.Now()
	if err := opt.Capture.check(); err != nil {
		return nil, err
	}
	var flowFormat *vpcflow.Format
	if opt.FlowFormat != "" {
		f, err := vpcflow.ParseFormat(opt.FlowFormat)
		if err != nil {
			return nil, fmt.Errorf("flow log format: %w", err)
		}
		flowFormat = &f
	}
	account, region := opt.Account, opt.Region
	if account == "" {
		account = DefaultAccount
	}
	if region == "" {
		region = DefaultRegion
	}
	sum := &ConvertSummary{Formats: map[string]int{}, Skipped: map[string]uint64{}}
	inputs, errs := source.Expand(opt.Paths)
	for _, e := range errs {
		sum.InputErrors = append(sum.InputErrors, e.Error())
	}
	feed := &ingest.Feed{
		FlowFormat: flowFormat, Capture: opt.Capture.meter(),
		Account: event.Intern(account), Region: event.Intern(region),
		Skipped: sum.Skipped, Only: flowFormats,
		Bad: func(reason string, err error) error {
			if len(sum.Examples) < maxExamples {
				sum.Examples = append(sum.Examples, err.Error())
			}
			return nil
		},
	}
	merge := &ingest.Merge{
		Feed: feed, Stdin: opt.Stdin, Formats: sum.Formats,
		InputError: func(name string, err error) {
			sum.InputErrors = append(sum.InputErrors, fmt.Sprintf("%s: %v", name, err))
		},
		Closed: func(in *ingest.Input) {
			s := in.Reader.Stats()
			sum.Packets += s.Packets
			sum.NonIP += s.NonIP
			sum.Connections += s.Connections
			sum.Late += s.Late
			sum.Evicted += s.Evicted
		},
	}
	err := merge.Run(ctx, inputs, func(rec event.Record) error {
		f := rec.(*event.Flow)
		if !f.HasData() {
			return nil
		}
		sum.Records++
		return opt.Emit(f)
	})
	sum.Inputs = merge.Inputs
	sum.Elapsed = time.Since(start)
	return sum, err
}

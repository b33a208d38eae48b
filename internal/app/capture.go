package app

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"picket/internal/decode"
	"picket/internal/decode/pcap"
	"picket/internal/decode/vpcflow"
	"picket/internal/decode/zeek"
	"picket/internal/event"
	"picket/internal/flowmeter"
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

// meter returns the flow meter configuration for an input whose records
// default to account and region.
func (o *CaptureOptions) meter(account, region event.ID) flowmeter.Config {
	return flowmeter.Config{
		Topology: o.Topology, Local: o.Local, Interface: o.Interface,
		Window:  event.Time(o.Aggregation / time.Second),
		Account: account.String(), Region: region.String(),
	}
}

// pcapFlows reads a packet capture as flow records.
type pcapFlows struct {
	r *pcap.Reader
	f event.Flow
}

func (t *pcapFlows) Next() (event.Record, error) {
	if err := t.r.Next(&t.f); err != nil {
		return nil, err
	}
	return &t.f, nil
}

// zeekFlows reads a Zeek conn.log as flow records.
type zeekFlows struct {
	r *zeek.Reader
	f event.Flow
}

func (t *zeekFlows) Next() (event.Record, error) {
	if err := t.r.Next(&t.f); err != nil {
		return nil, err
	}
	return &t.f, nil
}

// openFlows returns the reader of a flow-producing input of the given
// format: flow log text, a packet capture or a Zeek conn.log. It returns
// nil for other formats.
func openFlows(format decode.Format, st *source.Stream, name string, flowFormat *vpcflow.Format, capture *CaptureOptions, account, region event.ID) (recordReader, error) {
	switch format {
	case decode.VPCFlow:
		return &flowText{r: vpcflow.NewReader(st, name, flowFormat)}, nil
	case decode.Pcap, decode.Pcapng:
		r, err := pcap.NewReader(st, name, capture.meter(account, region))
		if err != nil {
			return nil, err
		}
		return &pcapFlows{r: r}, nil
	case decode.ZeekConn:
		return &zeekFlows{r: zeek.NewReader(st, name, capture.meter(account, region))}, nil
	}
	return nil, nil
}

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
	var h cursorHeap
	var all []*cursor
	defer func() {
		for _, c := range all {
			if c.stream != nil {
				c.stream.Close()
			}
		}
	}()
	next := func(c *cursor) (bool, error) {
		for {
			rec, err := c.reader.Next()
			if err == nil {
				f, ok := rec.(*event.Flow)
				if !ok || !f.HasData() {
					continue
				}
				if f.Account.IsZero() || f.Account.String() == "unknown" {
					f.Account = c.account
				}
				if f.Region.IsZero() {
					f.Region = c.region
				}
				c.rec = rec
				return true, nil
			}
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			var bad badRecord
			if errors.As(err, &bad) {
				sum.Skipped[bad.Reason()]++
				if len(sum.Examples) < maxExamples {
					sum.Examples = append(sum.Examples, err.Error())
				}
				continue
			}
			sum.InputErrors = append(sum.InputErrors, fmt.Sprintf("%s: %v", c.in.Name, err))
			return false, nil
		}
	}
	for i, in := range inputs {
		st, err := in.Open(opt.Stdin)
		if err != nil {
			sum.InputErrors = append(sum.InputErrors, fmt.Sprintf("%s: %v", in.Name, err))
			continue
		}
		c := &cursor{in: in, idx: i, stream: st, account: event.Intern(account), region: event.Intern(region)}
		if in.Layout.Account != "" {
			c.account = event.Intern(in.Layout.Account)
		}
		if in.Layout.Region != "" {
			c.region = event.Intern(in.Layout.Region)
		}
		all = append(all, c)
		format := decode.Detect(st.Head(4096))
		if flowFormat != nil && format == decode.Unknown {
			format = decode.VPCFlow
		}
		sum.Formats[format.String()]++
		c.reader, err = openFlows(format, st, in.Name, flowFormat, &opt.Capture, c.account, c.region)
		if err == nil && c.reader == nil {
			err = fmt.Errorf("unrecognized format (%s): not a packet capture, Zeek conn.log or VPC flow logs", format)
		}
		if err != nil {
			sum.InputErrors = append(sum.InputErrors, fmt.Sprintf("%s: %v", in.Name, err))
			continue
		}
		sum.Inputs++
		ok, err := next(c)
		if err != nil {
			return sum, err
		}
		if ok {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	for n := 0; len(h) > 0; n++ {
		if n&0xfff == 0 {
			if err := ctx.Err(); err != nil {
				return sum, err
			}
		}
		c := h[0]
		if err := opt.Emit(c.rec.(*event.Flow)); err != nil {
			return sum, err
		}
		sum.Records++
		ok, err := next(c)
		if err != nil {
			return sum, err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	for _, c := range all {
		switch r := c.reader.(type) {
		case *pcapFlows:
			s := r.r.Stats()
			sum.Packets += s.Frames
			sum.NonIP += s.NonIP
			sum.Late += s.Meter.Late
			sum.Evicted += s.Meter.Evicted
		case *zeekFlows:
			s := r.r.Stats()
			sum.Connections += s.Lines
			sum.Late += s.Meter.Late
			sum.Evicted += s.Meter.Evicted
		}
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// Package awspoll makes inventory snapshots by calling the AWS describe
// APIs (EC2, ECS, Elastic Load Balancing v2) with the AWS SDK for Go v2.
// Each API's answer is written as the JSON the AWS CLI prints for the same
// call and read by inventory.Parse, so a polled snapshot and one loaded
// from saved CLI output go through one parser. Only the composition root
// (picket serve) imports it.
package awspoll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"picket/internal/inventory"
)

// Config says which regions to poll and how to reach AWS.
type Config struct {
	// Regions to poll; at least one.
	Regions []string
	// Endpoint, when set, is the base URL every client uses instead of
	// the AWS endpoints (tests point it at a local server).
	Endpoint string
	// Credentials signs the calls; nil uses the SDK's default chain
	// (environment, shared files, SSO, instance or task role).
	Credentials aws.CredentialsProvider
	// HTTPClient, when set, carries the describe calls (not those of the
	// credential providers), and a CA bundle named by AWS_CA_BUNDLE does
	// not apply to them.
	HTTPClient *http.Client
	// Log receives a record per failed call; nil discards.
	Log *slog.Logger
}

// Poller calls the describe APIs of a fixed set of regions. It is safe
// for concurrent use, though one poll at a time is the intended use.
type Poller struct {
	regions []region
	log     *slog.Logger
}

// region holds one region's clients.
type region struct {
	name string
	ec2  *ec2.Client
	ecs  *ecs.Client
	elb  *elb.Client
}

// New returns a poller for cfg's regions. It loads the SDK's shared
// configuration (and, with no Credentials, its default credential chain)
// but makes no call.
func New(ctx context.Context, cfg Config) (*Poller, error) {
	if len(cfg.Regions) == 0 {
		return nil, errors.New("awspoll: no regions to poll")
	}
	for _, r := range cfg.Regions {
		if r == "" {
			return nil, errors.New("awspoll: empty region name")
		}
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(cfg.Regions[0])}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("awspoll: loading AWS configuration: %w", err)
	}
	var endpoint *string
	if cfg.Endpoint != "" {
		endpoint = aws.String(cfg.Endpoint)
	}
	httpClient := awsCfg.HTTPClient
	if cfg.HTTPClient != nil {
		httpClient = cfg.HTTPClient
	}
	p := &Poller{log: cfg.Log}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, name := range cfg.Regions {
		p.regions = append(p.regions, region{
			name: name,
			ec2: ec2.NewFromConfig(awsCfg, func(o *ec2.Options) {
				o.Region, o.BaseEndpoint, o.HTTPClient = name, endpoint, httpClient
			}),
			ecs: ecs.NewFromConfig(awsCfg, func(o *ecs.Options) {
				o.Region, o.BaseEndpoint, o.HTTPClient = name, endpoint, httpClient
			}),
			elb: elb.NewFromConfig(awsCfg, func(o *elb.Options) {
				o.Region, o.BaseEndpoint, o.HTTPClient = name, endpoint, httpClient
			}),
		})
	}
	return p, nil
}

// result is what one API gave in one region: the CLI-shaped JSON of what
// it read (nil when nothing is to be parsed) and its failure, if any. A
// paginated call that fails part way keeps the pages it read.
type result struct {
	source string // "us-east-1 ec2:DescribeNetworkInterfaces"
	data   []byte
	err    error
}

// Poll calls every describe API in every region, following pagination,
// and returns one snapshot taken at now. The snapshot's Sources name the
// calls that succeeded ("us-east-1 ec2:DescribeNetworkInterfaces"). A
// failed call (access denied, throttled past the SDK's retries) is logged
// and added to the report's Problems, naming its region and API, and the
// rest of the snapshot is still returned; Poll returns an error only when
// every call failed. Sources and problems name APIs by their IAM action
// (ec2:, ecs:, elasticloadbalancing:), the permission a denied call
// lacks. ECS tasks are those ListTasks gives by default, the running ones.
// The snapshot is not indexed: inventory.New and Inventory.Add index it.
func (p *Poller) Poll(ctx context.Context, now time.Time) (*inventory.Snapshot, *inventory.Report, error) {
	results := make([][]result, len(p.regions))
	var wg sync.WaitGroup
	for i, r := range p.regions {
		wg.Go(func() { results[i] = r.poll(ctx) })
	}
	wg.Wait()

	s := inventory.NewSnapshot(now)
	rep := &inventory.Report{Counts: map[string]int{}}
	var ok, failed int
	for _, rs := range results {
		for _, res := range rs {
			if res.data != nil {
				if err := inventory.Parse(s, res.source, res.data, rep); err != nil {
					res.err = errors.Join(res.err, fmt.Errorf("parsing: %w", err))
				}
			}
			if res.err != nil {
				failed++
				p.log.Warn("inventory call failed", "source", res.source, "err", res.err)
				rep.Problems = append(rep.Problems, fmt.Errorf("%s: %w", res.source, res.err))
				continue
			}
			ok++
			s.Sources = append(s.Sources, res.source)
		}
	}
	p.log.Debug("inventory polled", "calls", ok, "failed", failed,
		"interfaces", len(s.Interfaces), "instances", len(s.Instances), "tasks", len(s.Tasks))
	if ok == 0 {
		return nil, rep, fmt.Errorf("polling inventory: every call failed: %w", errors.Join(rep.Problems...))
	}
	return s, rep, nil
}

// poll makes every call of one region in turn.
func (r region) poll(ctx context.Context) []result {
	c := r.ec2
	out := []result{
		ec2Call(ctx, r.name, "DescribeNetworkInterfaces", "NetworkInterfaces",
			ec2.NewDescribeNetworkInterfacesPaginator(c, &ec2.DescribeNetworkInterfacesInput{}),
			func(o *ec2.DescribeNetworkInterfacesOutput) any { return o.NetworkInterfaces }),
		ec2Call(ctx, r.name, "DescribeInstances", "Reservations",
			ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{}),
			func(o *ec2.DescribeInstancesOutput) any { return o.Reservations }),
		ec2Call(ctx, r.name, "DescribeSecurityGroups", "SecurityGroups",
			ec2.NewDescribeSecurityGroupsPaginator(c, &ec2.DescribeSecurityGroupsInput{}),
			func(o *ec2.DescribeSecurityGroupsOutput) any { return o.SecurityGroups }),
		ec2Call(ctx, r.name, "DescribeNetworkAcls", "NetworkAcls",
			ec2.NewDescribeNetworkAclsPaginator(c, &ec2.DescribeNetworkAclsInput{}),
			func(o *ec2.DescribeNetworkAclsOutput) any { return o.NetworkAcls }),
		ec2Call(ctx, r.name, "DescribeRouteTables", "RouteTables",
			ec2.NewDescribeRouteTablesPaginator(c, &ec2.DescribeRouteTablesInput{}),
			func(o *ec2.DescribeRouteTablesOutput) any { return o.RouteTables }),
		ec2Call(ctx, r.name, "DescribeNatGateways", "NatGateways",
			ec2.NewDescribeNatGatewaysPaginator(c, &ec2.DescribeNatGatewaysInput{}),
			func(o *ec2.DescribeNatGatewaysOutput) any { return o.NatGateways }),
		ec2Call(ctx, r.name, "DescribeTransitGatewayAttachments", "TransitGatewayAttachments",
			ec2.NewDescribeTransitGatewayAttachmentsPaginator(c, &ec2.DescribeTransitGatewayAttachmentsInput{}),
			func(o *ec2.DescribeTransitGatewayAttachmentsOutput) any { return o.TransitGatewayAttachments }),
		elbCall(ctx, r.name, "DescribeLoadBalancers", "LoadBalancers",
			elb.NewDescribeLoadBalancersPaginator(r.elb, &elb.DescribeLoadBalancersInput{}),
			func(o *elb.DescribeLoadBalancersOutput) any { return o.LoadBalancers }),
	}
	return append(out, r.tasks(ctx)...)
}

// pager is the shape every SDK paginator has; Opt is its client's
// options type.
type pager[Out, Opt any] interface {
	HasMorePages() bool
	NextPage(context.Context, ...func(*Opt)) (Out, error)
}

// ec2Call reads every page of one EC2 describe API and writes the items
// as the CLI's JSON, {key: [...]}.
func ec2Call[Out any](ctx context.Context, region, api, key string, p pager[Out, ec2.Options], items func(Out) any) result {
	return pagedCall(ctx, region+" ec2:"+api, key, p, items)
}

// elbCall is ec2Call for Elastic Load Balancing v2.
func elbCall[Out any](ctx context.Context, region, api, key string, p pager[Out, elb.Options], items func(Out) any) result {
	return pagedCall(ctx, region+" elasticloadbalancing:"+api, key, p, items)
}

func pagedCall[Out, Opt any](ctx context.Context, source, key string, p pager[Out, Opt], items func(Out) any) result {
	res := result{source: source}
	var pages []any
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			res.err = err
			break
		}
		pages = append(pages, items(out))
	}
	if len(pages) == 0 {
		return res
	}
	data, err := cliJSON(key, pages, false)
	if err != nil {
		res.err = errors.Join(res.err, err)
	}
	res.data = data
	return res
}

// describeBatch is the most task ARNs DescribeTasks takes in one call.
const describeBatch = 100

// tasks lists the region's clusters and their tasks and describes the
// tasks, with their tags. The described tasks of every cluster make one
// {"tasks": [...]} document.
func (r region) tasks(ctx context.Context) []result {
	prefix := r.name + " ecs:"
	list := result{source: prefix + "ListClusters"}
	var clusters []string
	for p := ecs.NewListClustersPaginator(r.ecs, &ecs.ListClustersInput{}); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			list.err = err
			break
		}
		clusters = append(clusters, out.ClusterArns...)
	}
	if list.err != nil && len(clusters) == 0 {
		return []result{list}
	}

	listTasks := result{source: prefix + "ListTasks"}
	describe := result{source: prefix + "DescribeTasks"}
	var tasks []ecstypes.Task
	described := false // whether DescribeTasks was called
	for _, cluster := range clusters {
		var arns []string
		for p := ecs.NewListTasksPaginator(r.ecs, &ecs.ListTasksInput{Cluster: aws.String(cluster)}); p.HasMorePages(); {
			out, err := p.NextPage(ctx)
			if err != nil {
				listTasks.err = errors.Join(listTasks.err, fmt.Errorf("cluster %s: %w", cluster, err))
				break
			}
			arns = append(arns, out.TaskArns...)
		}
		for len(arns) > 0 {
			batch := arns[:min(len(arns), describeBatch)]
			arns = arns[len(batch):]
			described = true
			out, err := r.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{
				Cluster: aws.String(cluster),
				Tasks:   batch,
				Include: []ecstypes.TaskField{ecstypes.TaskFieldTags},
			})
			if err != nil {
				describe.err = errors.Join(describe.err, fmt.Errorf("cluster %s: %w", cluster, err))
				continue
			}
			tasks = append(tasks, out.Tasks...)
		}
	}
	out := []result{list}
	if len(clusters) > 0 {
		out = append(out, listTasks)
	}
	if !described {
		return out
	}
	data, err := cliJSON("tasks", [][]ecstypes.Task{tasks}, true)
	if err != nil {
		describe.err = errors.Join(describe.err, err)
	} else {
		describe.data = data
	}
	return append(out, describe)
}

// cliJSON writes pages of SDK output items as the AWS CLI prints them:
// {key: [items of every page]}. The SDK's output types are named as the
// API's members, so encoding/json gives the CLI's field names; it writes
// timestamps in RFC 3339, as the CLI prints them, and enums as their
// strings. Two differences are mended here. Absent members come out as
// null (nil pointers and slices) or "" (unset enums), where the CLI leaves
// them out, so both are dropped. And the JSON-protocol services (ECS) name
// their members in lower camel case on the wire and in the CLI while the
// Go fields are capitalized, so with camel each object key's first letter
// is lowered. That is right only for shapes without maps, whose keys are
// data rather than member names; the ECS Task shape has none, which a test
// checks. Union members (an interface in the SDK) come out as
// {"Value": ...} rather than the CLI's {"member": ...}; the parser reads
// none.
func cliJSON[T any](key string, pages []T, camel bool) ([]byte, error) {
	var items []any
	for _, page := range pages {
		raw, err := json.Marshal(page)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", key, err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v []any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", key, err)
		}
		for _, item := range v {
			items = append(items, clean(item, camel))
		}
	}
	if items == nil {
		items = []any{}
	}
	return json.Marshal(map[string]any{key: items})
}

// clean drops null and empty-string members and, with camel, lowers the
// first letter of every object key.
func clean(v any, camel bool) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if e == nil || e == "" {
				continue
			}
			if camel {
				k = lowerFirst(k)
			}
			out[k] = clean(e, camel)
		}
		return out
	case []any:
		for i, e := range v {
			v[i] = clean(e, camel)
		}
		return v
	}
	return v
}

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}

package inventory

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxProblems bounds Report.Problems; Report.Skipped counts every bad
// entity.
const maxProblems = 20

// Report says what a load read: files, entities by kind, and the bad
// entities skipped, each problem naming the file and field.
type Report struct {
	Files    int
	Counts   map[string]int // entities read by kind: "interfaces", "instances", ...
	Skipped  int            // bad entities skipped
	Problems []error        // the first problems (bounded), each naming file and field
}

func (r *Report) problem(err error) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, err)
	}
}

// EntityError is a bad entity in a describe output: the file, where the
// entity is in the output, its ID when it has one, and the field that is
// wrong.
type EntityError struct {
	File   string // the name given to Parse
	Entity string // the entity's place in the output: "NetworkInterfaces[3]"
	ID     string // the entity's ID, empty when it has none
	Field  string // the path of the bad field in the entity: "PrivateIpAddresses[0].PrivateIpAddress"
	Value  string // the bad value; empty when the field is missing or of the wrong JSON type
	Err    error  // what is wrong with it
}

func (e *EntityError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteString(": ")
	b.WriteString(e.Entity)
	if e.ID != "" {
		b.WriteString(" (")
		b.WriteString(e.ID)
		b.WriteByte(')')
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	if e.Value != "" {
		b.WriteString(strconv.Quote(e.Value))
		b.WriteByte(' ')
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *EntityError) Unwrap() error { return e.Err }

// The reasons an entity is bad.
var (
	errMissing  = errors.New("missing")
	errAddr     = errors.New("is not an IP address")
	errPrefix   = errors.New("is not a CIDR block")
	errTime     = errors.New("is not an RFC 3339 time")
	errRange    = errors.New("is out of range")
	errAction   = errors.New(`is neither "allow" nor "deny"`)
	errNoTarget = errors.New("names no destination")
)

// kinds are the describe outputs Parse reads, by top-level key, in the
// order a file holding several of them is read.
var kinds = []struct {
	key   string
	parse func(*parser, string, []json.RawMessage)
}{
	{"NetworkInterfaces", (*parser).interfaces},
	{"Reservations", (*parser).reservations},
	{"tasks", (*parser).tasks},
	{"SecurityGroups", (*parser).securityGroups},
	{"NetworkAcls", (*parser).networkACLs},
	{"RouteTables", (*parser).routeTables},
	{"NatGateways", (*parser).natGateways},
	{"LoadBalancers", (*parser).loadBalancers},
	{"TransitGatewayAttachments", (*parser).tgwAttachments},
	{"TransitGatewayVpcAttachments", (*parser).tgwVPCAttachments},
}

// Parse reads one describe command's JSON output into s, recognizing the
// command by the output's top-level key (NetworkInterfaces, Reservations,
// SecurityGroups, NetworkAcls, RouteTables, NatGateways, tasks,
// LoadBalancers, TransitGatewayAttachments, TransitGatewayVpcAttachments).
// The data is one output object or a JSON array of them (pages); members
// picket does not use, NextToken among them, are ignored. name is the
// file name for errors.
//
// Bad entities are skipped and reported in rep (which may be nil): each
// adds to rep.Skipped and, up to a bound, an *EntityError to
// rep.Problems. rep.Counts gains the entities the data added to s by
// kind. An interface an instance lists is added from describe-instances
// only when s does not hold it yet; describe-network-interfaces replaces
// it. The error is non-nil only when the data is not a describe output
// picket reads, and then s is unchanged.
func Parse(s *Snapshot, name string, data []byte, rep *Report) error {
	if rep == nil {
		rep = &Report{}
	}
	if rep.Counts == nil {
		rep.Counts = map[string]int{}
	}
	type page struct {
		where string // "" or "[k]." for pages of an array
		lists map[string][]json.RawMessage
	}
	var pages []page
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &obj); err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		lists, err := outputLists(obj)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		pages = append(pages, page{"", lists})
	case len(trimmed) > 0 && trimmed[0] == '[':
		var objs []map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &objs); err != nil {
			return fmt.Errorf("reading %s: want an object or an array of objects: %w", name, err)
		}
		if len(objs) == 0 {
			return fmt.Errorf("reading %s: an empty array is no describe output", name)
		}
		for k, obj := range objs {
			lists, err := outputLists(obj)
			if err != nil {
				return fmt.Errorf("reading %s: [%d]: %w", name, k, err)
			}
			pages = append(pages, page{fmt.Sprintf("[%d].", k), lists})
		}
	default:
		return fmt.Errorf("reading %s: not a JSON object or array", name)
	}

	s.ensureMaps()
	before := s.sizes()
	p := &parser{s: s, file: name, rep: rep}
	for _, pg := range pages {
		for _, k := range kinds {
			if items, ok := pg.lists[k.key]; ok {
				k.parse(p, pg.where+k.key, items)
			}
		}
	}
	after := s.sizes()
	for k, n := range after {
		if d := n - before[k]; d > 0 {
			rep.Counts[k] += d
		}
	}
	return nil
}

// outputLists returns the entity lists of one describe output object by
// top-level key, or an error naming the keys it has when it holds none
// Parse reads.
func outputLists(obj map[string]json.RawMessage) (map[string][]json.RawMessage, error) {
	lists := map[string][]json.RawMessage{}
	for _, k := range kinds {
		raw, ok := obj[k.key]
		if !ok {
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("%s: want an array, got %s", k.key, jsonKind(raw))
		}
		lists[k.key] = items
	}
	if len(lists) == 0 {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, strconv.Quote(k))
		}
		slices.Sort(keys)
		if len(keys) == 0 {
			return nil, errors.New("not a describe output picket reads: no top-level keys")
		}
		return nil, fmt.Errorf("not a describe output picket reads: top-level keys are %s", strings.Join(keys, ", "))
	}
	return lists, nil
}

// jsonKind names the JSON type of a value.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func (s *Snapshot) ensureMaps() {
	if s.Interfaces == nil {
		s.Interfaces = map[string]*Interface{}
	}
	if s.Instances == nil {
		s.Instances = map[string]*Instance{}
	}
	if s.Tasks == nil {
		s.Tasks = map[string]*Task{}
	}
	if s.SecurityGroups == nil {
		s.SecurityGroups = map[string]*SecurityGroup{}
	}
	if s.NetworkACLs == nil {
		s.NetworkACLs = map[string]*NetworkACL{}
	}
	if s.RouteTables == nil {
		s.RouteTables = map[string]*RouteTable{}
	}
	if s.NATGateways == nil {
		s.NATGateways = map[string]*NATGateway{}
	}
	if s.LoadBalancers == nil {
		s.LoadBalancers = map[string]*LoadBalancer{}
	}
	if s.TGWAttachments == nil {
		s.TGWAttachments = map[string]*TGWAttachment{}
	}
}

// sizes returns the number of entities of s by Report.Counts key.
func (s *Snapshot) sizes() map[string]int {
	return map[string]int{
		"interfaces":      len(s.Interfaces),
		"instances":       len(s.Instances),
		"tasks":           len(s.Tasks),
		"security_groups": len(s.SecurityGroups),
		"network_acls":    len(s.NetworkACLs),
		"route_tables":    len(s.RouteTables),
		"nat_gateways":    len(s.NATGateways),
		"load_balancers":  len(s.LoadBalancers),
		"tgw_attachments": len(s.TGWAttachments),
	}
}

// parser reads the entities of one file into a snapshot.
type parser struct {
	s    *Snapshot
	file string
	rep  *Report
}

// decode unmarshals one entity into v. A JSON type error is returned as
// a field error with the path of the bad member, array indexes included.
func decode(raw json.RawMessage, v any) *fieldError {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &fieldError{
			field: pathAt(raw, te.Offset),
			err:   fmt.Errorf("got %s, want %s", jsonValue(te.Value), goKind(te.Type)),
		}
	}
	return &fieldError{err: err}
}

// jsonValue names a value as encoding/json describes it ("string",
// "number 1.5", "bool") in JSON's words.
func jsonValue(s string) string {
	if s == "bool" {
		return "boolean"
	}
	return s
}

// goKind names the JSON type a Go type is decoded from.
func goKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return goKind(t.Elem())
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}

// pathAt returns the path ("A[1].B") of the JSON value that ends at or
// after offset off of raw, the offset encoding/json reports a type error
// at.
func pathAt(raw []byte, off int64) string {
	type frame struct {
		array   bool
		index   int
		key     string
		wantKey bool
	}
	var stack []frame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				b.WriteByte('[')
				b.WriteString(strconv.Itoa(f.index))
				b.WriteByte(']')
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		}
		return b.String()
	}
	done := func() { // a value of the innermost container has been read
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].wantKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err != nil {
			return path()
		}
		if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].wantKey {
			if key, ok := tok.(string); ok {
				stack[n-1].key, stack[n-1].wantKey = key, false
				continue
			}
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if dec.InputOffset() >= off {
					return path()
				}
				stack = append(stack, frame{array: d == '[', wantKey: d == '{'})
			default:
				stack = stack[:len(stack)-1]
				done()
			}
			continue
		}
		if dec.InputOffset() >= off {
			return path()
		}
		done()
	}
}

// fieldError is what is wrong with one field of an entity.
type fieldError struct {
	field, value string
	err          error
}

// conv converts the members of one entity, keeping the first problem.
type conv struct {
	fe *fieldError
}

func (c *conv) fail(field, value string, err error) {
	if c.fe == nil {
		c.fe = &fieldError{field: field, value: value, err: err}
	}
}

// need checks that a required member is present.
func (c *conv) need(field, v string) {
	if v == "" {
		c.fail(field, "", errMissing)
	}
}

// addr parses an optional address; "" gives the zero Addr. IPv4-mapped
// IPv6 addresses are unmapped.
func (c *conv) addr(field, v string) netip.Addr {
	if v == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		c.fail(field, v, errAddr)
		return netip.Addr{}
	}
	return a.Unmap()
}

// mustAddr parses a required address.
func (c *conv) mustAddr(field, v string) netip.Addr {
	c.need(field, v)
	return c.addr(field, v)
}

// prefix parses a CIDR block, unmapping an IPv4-mapped one, and masks it.
func (c *conv) prefix(field, v string) netip.Prefix {
	p, err := netip.ParsePrefix(v)
	if err != nil {
		c.fail(field, v, errPrefix)
		return netip.Prefix{}
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// port checks an optional port (or ICMP type or code) bound, absent
// meaning all (-1).
func (c *conv) port(field string, v *int, max int) int {
	if v == nil {
		return -1
	}
	if *v < -1 || *v > max {
		c.fail(field, strconv.Itoa(*v), errRange)
		return -1
	}
	return *v
}

// bad records a skipped entity.
func (p *parser) bad(where, id string, fe *fieldError) {
	p.rep.Skipped++
	p.rep.problem(&EntityError{File: p.file, Entity: where, ID: id, Field: fe.field, Value: fe.value, Err: fe.err})
}

func index(where string, i int) string { return where + "[" + strconv.Itoa(i) + "]" }

// The JSON of the describe outputs, as the AWS CLI prints it. Members
// picket does not use are left out and ignored.

type groupJSON struct {
	GroupID   string `json:"GroupId"`
	GroupName string
}

type tagJSON struct {
	Key   string
	Value string
}

type associationJSON struct {
	PublicIP      string `json:"PublicIp"`
	PublicDNSName string `json:"PublicDnsName"`
}

type eniJSON struct {
	NetworkInterfaceID string `json:"NetworkInterfaceId"`
	InterfaceType      string
	Description        string
	Status             string
	OwnerID            string `json:"OwnerId"`
	RequesterID        string `json:"RequesterId"`
	RequesterManaged   bool
	AvailabilityZone   string
	SubnetID           string `json:"SubnetId"`
	VPCID              string `json:"VpcId"`
	MACAddress         string `json:"MacAddress"`
	PrivateDNSName     string `json:"PrivateDnsName"`
	PrivateIPAddress   string `json:"PrivateIpAddress"`
	PrivateIPAddresses []struct {
		Primary          bool
		PrivateIPAddress string `json:"PrivateIpAddress"`
		PrivateDNSName   string `json:"PrivateDnsName"`
		Association      *associationJSON
	} `json:"PrivateIpAddresses"`
	Association   *associationJSON
	IPv6Addresses []struct {
		IPv6Address string `json:"Ipv6Address"`
	} `json:"Ipv6Addresses"`
	Groups     []groupJSON
	Attachment *struct {
		InstanceID  string `json:"InstanceId"`
		DeviceIndex int
	}
	SourceDestCheck *bool
}

// iface converts one interface; field paths start with pre. The
// interface's addresses list the primary first.
func (c *conv) iface(pre string, e *eniJSON) *Interface {
	c.need(pre+"NetworkInterfaceId", e.NetworkInterfaceID)
	i := &Interface{
		ID:              e.NetworkInterfaceID,
		Type:            e.InterfaceType,
		Description:     e.Description,
		Status:          e.Status,
		Owner:           e.OwnerID,
		RequesterID:     e.RequesterID,
		Managed:         e.RequesterManaged,
		AZ:              e.AvailabilityZone,
		Subnet:          e.SubnetID,
		VPC:             e.VPCID,
		MAC:             e.MACAddress,
		PrivateDNS:      e.PrivateDNSName,
		SourceDestCheck: e.SourceDestCheck == nil || *e.SourceDestCheck, // AWS's default
	}
	top := c.addr(pre+"PrivateIpAddress", e.PrivateIPAddress)
	var topPublic netip.Addr
	var topPublicDNS string
	if e.Association != nil {
		topPublic = c.addr(pre+"Association.PublicIp", e.Association.PublicIP)
		topPublicDNS = e.Association.PublicDNSName
	}
	for k, pa := range e.PrivateIPAddresses {
		f := pre + "PrivateIpAddresses[" + strconv.Itoa(k) + "]."
		a := PrivateAddr{
			Addr:    c.mustAddr(f+"PrivateIpAddress", pa.PrivateIPAddress),
			DNS:     pa.PrivateDNSName,
			Primary: pa.Primary,
		}
		if pa.Association != nil {
			a.Public = c.addr(f+"Association.PublicIp", pa.Association.PublicIP)
			a.PublicDNS = pa.Association.PublicDNSName
		}
		if a.Primary && !a.Public.IsValid() && top == a.Addr {
			a.Public, a.PublicDNS = topPublic, topPublicDNS
		}
		i.Private = append(i.Private, a)
	}
	if len(i.Private) == 0 && top.IsValid() {
		i.Private = []PrivateAddr{{Addr: top, DNS: e.PrivateDNSName, Primary: true, Public: topPublic, PublicDNS: topPublicDNS}}
	}
	slices.SortStableFunc(i.Private, func(a, b PrivateAddr) int {
		switch {
		case a.Primary == b.Primary:
			return 0
		case a.Primary:
			return -1
		}
		return 1
	})
	for k, a := range e.IPv6Addresses {
		i.IPv6 = append(i.IPv6, c.mustAddr(pre+"Ipv6Addresses["+strconv.Itoa(k)+"].Ipv6Address", a.IPv6Address))
	}
	i.Groups = groupRefs(e.Groups)
	if e.Attachment != nil {
		i.Instance = e.Attachment.InstanceID
		i.DeviceIndex = e.Attachment.DeviceIndex
	}
	return i
}

func groupRefs(gs []groupJSON) []GroupRef {
	var out []GroupRef
	for _, g := range gs {
		out = append(out, GroupRef{ID: g.GroupID, Name: g.GroupName})
	}
	return out
}

func tags(ts []tagJSON) []Tag {
	var out []Tag
	for _, t := range ts {
		out = append(out, Tag(t))
	}
	return out
}

func (p *parser) interfaces(where string, items []json.RawMessage) {
	for k, raw := range items {
		w := index(where, k)
		var e eniJSON
		if fe := decode(raw, &e); fe != nil {
			p.bad(w, e.NetworkInterfaceID, fe)
			continue
		}
		var c conv
		i := c.iface("", &e)
		if c.fe != nil {
			p.bad(w, e.NetworkInterfaceID, c.fe)
			continue
		}
		p.s.Interfaces[i.ID] = i
	}
}

type instanceJSON struct {
	InstanceID   string `json:"InstanceId"`
	InstanceType string
	ImageID      string `json:"ImageId"`
	LaunchTime   string
	State        struct {
		Name string
	}
	Platform        string
	PlatformDetails string
	Placement       struct {
		AvailabilityZone string
	}
	VPCID              string `json:"VpcId"`
	SubnetID           string `json:"SubnetId"`
	PrivateDNSName     string `json:"PrivateDnsName"`
	PublicDNSName      string `json:"PublicDnsName"`
	PublicIPAddress    string `json:"PublicIpAddress"`
	OutpostARN         string `json:"OutpostArn"`
	IAMInstanceProfile *struct {
		ARN string `json:"Arn"`
		ID  string `json:"Id"`
	} `json:"IamInstanceProfile"`
	Tags         []tagJSON
	ProductCodes []struct {
		ProductCodeID   string `json:"ProductCodeId"`
		ProductCodeType string
	}
	NetworkInterfaces []eniJSON
	SecurityGroups    []groupJSON
}

func (p *parser) reservations(where string, items []json.RawMessage) {
	for r, raw := range items {
		wr := index(where, r)
		var res struct {
			OwnerID   string `json:"OwnerId"`
			Instances []json.RawMessage
		}
		if fe := decode(raw, &res); fe != nil {
			p.bad(wr, "", fe)
			continue
		}
		for k, raw := range res.Instances {
			w := index(wr+".Instances", k)
			var e instanceJSON
			if fe := decode(raw, &e); fe != nil {
				p.bad(w, e.InstanceID, fe)
				continue
			}
			in, ifaces, fe := instance(&e, res.OwnerID)
			if fe != nil {
				p.bad(w, e.InstanceID, fe)
				continue
			}
			p.s.Instances[in.ID] = in
			for _, i := range ifaces {
				if p.s.Interfaces[i.ID] == nil {
					p.s.Interfaces[i.ID] = i
				}
			}
		}
	}
}

// instance converts one instance and the interfaces it lists.
func instance(e *instanceJSON, owner string) (*Instance, []*Interface, *fieldError) {
	var c conv
	c.need("InstanceId", e.InstanceID)
	in := &Instance{
		ID:         e.InstanceID,
		Type:       e.InstanceType,
		ImageID:    e.ImageID,
		State:      e.State.Name,
		Platform:   e.PlatformDetails,
		AZ:         e.Placement.AvailabilityZone,
		VPC:        e.VPCID,
		Subnet:     e.SubnetID,
		PrivateDNS: e.PrivateDNSName,
		PublicDNS:  e.PublicDNSName,
		PublicIP:   c.addr("PublicIpAddress", e.PublicIPAddress),
		OutpostARN: e.OutpostARN,
		Owner:      owner,
		Tags:       tags(e.Tags),
		Groups:     groupRefs(e.SecurityGroups),
	}
	if in.Platform == "" {
		in.Platform = e.Platform
	}
	if e.LaunchTime != "" {
		t, err := time.Parse(time.RFC3339, e.LaunchTime)
		if err != nil {
			c.fail("LaunchTime", e.LaunchTime, errTime)
		}
		in.LaunchTime = t.UTC()
	}
	if e.IAMInstanceProfile != nil {
		in.ProfileARN, in.ProfileID = e.IAMInstanceProfile.ARN, e.IAMInstanceProfile.ID
	}
	for _, pc := range e.ProductCodes {
		in.ProductCodes = append(in.ProductCodes, ProductCode{ID: pc.ProductCodeID, Type: pc.ProductCodeType})
	}
	var ifaces []*Interface
	for k := range e.NetworkInterfaces {
		i := c.iface("NetworkInterfaces["+strconv.Itoa(k)+"].", &e.NetworkInterfaces[k])
		i.Instance, i.AZ = in.ID, in.AZ
		ifaces = append(ifaces, i)
	}
	if c.fe != nil {
		return nil, nil, c.fe
	}
	slices.SortStableFunc(ifaces, func(a, b *Interface) int { return a.DeviceIndex - b.DeviceIndex })
	for _, i := range ifaces {
		in.Interfaces = append(in.Interfaces, i.ID)
	}
	return in, ifaces, nil
}

type taskJSON struct {
	TaskARN           string `json:"taskArn"`
	ClusterARN        string `json:"clusterArn"`
	TaskDefinitionARN string `json:"taskDefinitionArn"`
	Version           int64  `json:"version"`
	StartedBy         string `json:"startedBy"`
	Group             string `json:"group"`
	LaunchType        string `json:"launchType"`
	LastStatus        string `json:"lastStatus"`
	AvailabilityZone  string `json:"availabilityZone"`
	Containers        []struct {
		Name              string `json:"name"`
		Image             string `json:"image"`
		RuntimeID         string `json:"runtimeId"`
		ContainerARN      string `json:"containerArn"`
		NetworkInterfaces []struct {
			PrivateIPv4Address string `json:"privateIpv4Address"`
		} `json:"networkInterfaces"`
	} `json:"containers"`
	Attachments []struct {
		Type    string `json:"type"`
		Details []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"details"`
	} `json:"attachments"`
	Tags []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"tags"`
}

func (p *parser) tasks(where string, items []json.RawMessage) {
	for k, raw := range items {
		w := index(where, k)
		var e taskJSON
		if fe := decode(raw, &e); fe != nil {
			p.bad(w, e.TaskARN, fe)
			continue
		}
		var c conv
		c.need("taskArn", e.TaskARN)
		t := &Task{
			ARN:           e.TaskARN,
			ClusterARN:    e.ClusterARN,
			DefinitionARN: e.TaskDefinitionARN,
			Version:       e.Version,
			StartedBy:     e.StartedBy,
			Group:         e.Group,
			LaunchType:    e.LaunchType,
			LastStatus:    e.LastStatus,
			AZ:            e.AvailabilityZone,
		}
		var containerIP netip.Addr
		for j, ct := range e.Containers {
			t.Containers = append(t.Containers, Container{Name: ct.Name, Image: ct.Image, RuntimeID: ct.RuntimeID, ARN: ct.ContainerARN})
			for n, ni := range ct.NetworkInterfaces {
				a := c.addr(fmt.Sprintf("containers[%d].networkInterfaces[%d].privateIpv4Address", j, n), ni.PrivateIPv4Address)
				if !containerIP.IsValid() {
					containerIP = a
				}
			}
		}
		for j, at := range e.Attachments {
			if at.Type != "ElasticNetworkInterface" || t.ENI != "" {
				continue
			}
			for n, d := range at.Details {
				switch d.Name {
				case "networkInterfaceId":
					t.ENI = d.Value
				case "privateIPv4Address":
					t.PrivateIP = c.addr(fmt.Sprintf("attachments[%d].details[%d].value", j, n), d.Value)
				}
			}
		}
		if !t.PrivateIP.IsValid() {
			t.PrivateIP = containerIP
		}
		for _, tg := range e.Tags {
			t.Tags = append(t.Tags, Tag{Key: tg.Key, Value: tg.Value})
		}
		if c.fe != nil {
			p.bad(w, e.TaskARN, c.fe)
			continue
		}
		p.s.Tasks[t.ARN] = t
	}
}

type permissionJSON struct {
	IPProtocol string `json:"IpProtocol"`
	FromPort   *int
	ToPort     *int
	IPRanges   []struct {
		CIDRIP      string `json:"CidrIp"`
		Description string
	} `json:"IpRanges"`
	IPv6Ranges []struct {
		CIDRIPv6    string `json:"CidrIpv6"`
		Description string
	} `json:"Ipv6Ranges"`
	PrefixListIDs []struct {
		PrefixListID string `json:"PrefixListId"`
	} `json:"PrefixListIds"`
	UserIDGroupPairs []struct {
		GroupID string `json:"GroupId"`
	} `json:"UserIdGroupPairs"`
}

func (p *parser) securityGroups(where string, items []json.RawMessage) {
	for k, raw := range items {
		w := index(where, k)
		var e struct {
			GroupID             string `json:"GroupId"`
			GroupName           string
			VPCID               string           `json:"VpcId"`
			OwnerID             string           `json:"OwnerId"`
			IPPermissions       []permissionJSON `json:"IpPermissions"`
			IPPermissionsEgress []permissionJSON `json:"IpPermissionsEgress"`
		}
		if fe := decode(raw, &e); fe != nil {
			p.bad(w, e.GroupID, fe)
			continue
		}
		var c conv
		c.need("GroupId", e.GroupID)
		g := &SecurityGroup{
			ID:      e.GroupID,
			Name:    e.GroupName,
			VPC:     e.VPCID,
			Owner:   e.OwnerID,
			Ingress: c.permissions("IpPermissions", e.IPPermissions),
			Egress:  c.permissions("IpPermissionsEgress", e.IPPermissionsEgress),
		}
		if c.fe != nil {
			p.bad(w, e.GroupID, c.fe)
			continue
		}
		p.s.SecurityGroups[g.ID] = g
	}
}

func (c *conv) permissions(where string, ps []permissionJSON) []Permission {
	var out []Permission
	for k, e := range ps {
		f := index(where, k) + "."
		c.need(f+"IpProtocol", e.IPProtocol)
		pm := Permission{
			Proto:    e.IPProtocol,
			FromPort: c.port(f+"FromPort", e.FromPort, 65535),
			ToPort:   c.port(f+"ToPort", e.ToPort, 65535),
		}
		for j, r := range e.IPRanges {
			pm.IPv4 = append(pm.IPv4, CIDR{Prefix: c.prefix(index(f+"IpRanges", j)+".CidrIp", r.CIDRIP), Description: r.Description})
		}
		for j, r := range e.IPv6Ranges {
			pm.IPv6 = append(pm.IPv6, CIDR{Prefix: c.prefix(index(f+"Ipv6Ranges", j)+".CidrIpv6", r.CIDRIPv6), Description: r.Description})
		}
		for _, pl := range e.PrefixListIDs {
			if pl.PrefixListID != "" {
				pm.PrefixLists = append(pm.PrefixLists, pl.PrefixListID)
			}
		}
		for _, g := range e.UserIDGroupPairs {
			if g.GroupID != "" {
				pm.Groups = append(pm.Groups, g.GroupID)
			}
		}
		out = append(out, pm)
	}
	return out
}

func (p *parser) networkACLs(where string, items []json.RawMessage) {
	for k, raw := range items {
		w := index(where, k)
		var e struct {
			NetworkACLID string `json:"NetworkAclId"`
			VPCID        string `json:"VpcId"`
			IsDefault    bool
			OwnerID      string `json:"OwnerId"`
			Associations []struct {
				SubnetID string `json:"SubnetId"`
			}
			Entries []struct {
				RuleNumber    *int
				Egress        bool
				Protocol      string
				RuleAction    string
				CIDRBlock     string `json:"CidrBlock"`
				IPv6CIDRBlock string `json:"Ipv6CidrBlock"`
				PortRange     *struct {
					From, To int
				}
				IcmpTypeCode *struct {
					Type, Code *int
				}
			}
		}
		if fe := decode(raw, &e); fe != nil {
			p.bad(w, e.NetworkACLID, fe)
			continue
		}
		var c conv
		c.need("NetworkAclId", e.NetworkACLID)
		a := &NetworkACL{ID: e.NetworkACLID, VPC: e.VPCID, Default: e.IsDefault, Owner: e.OwnerID}
		for _, as := range e.Associations {
			if as.SubnetID != "" {
				a.Subnets = append(a.Subnets, as.SubnetID)
			}
		}
		for j, en := range e.Entries {
			f := index("Entries", j) + "."
			ae := ACLEntry{Egress: en.Egress, Proto: en.Protocol, Allow: en.RuleAction == "allow", ICMPType: -1, ICMPCode: -1}
			switch {
			case en.RuleNumber == nil:
				c.fail(f+"RuleNumber", "", errMissing)
			case *en.RuleNumber < 1 || *en.RuleNumber > 32767:
				c.fail(f+"RuleNumber", strconv.Itoa(*en.RuleNumber), errRange)
			default:
				ae.RuleNumber = *en.RuleNumber
			}
			c.need(f+"Protocol", en.Protocol)
			if en.RuleAction != "allow" && en.RuleAction != "deny" {
				c.fail(f+"RuleAction", en.RuleAction, errAction)
			}
			switch {
			case en.CIDRBlock != "":
				ae.CIDR = c.prefix(f+"CidrBlock", en.CIDRBlock)
			case en.IPv6CIDRBlock != "":
				ae.CIDR = c.prefix(f+"Ipv6CidrBlock", en.IPv6CIDRBlock)
			default:
				c.fail(f+"CidrBlock", "", errMissing)
			}
			if pr := en.PortRange; pr != nil {
				from, to := pr.From, pr.To
				ae.FromPort = c.port(f+"PortRange.From", &from, 65535)
				ae.ToPort = c.port(f+"PortRange.To", &to, 65535)
			}
			if it := en.IcmpTypeCode; it != nil {
				ae.ICMPType = c.port(f+"IcmpTypeCode.Type", it.Type, 255)
				ae.ICMPCode = c.port(f+"IcmpTypeCode.Code", it.Code, 255)
			}
			a.Entries = append(a.Entries, ae)
		}
		if c.fe != nil {
			p.bad(w, e.NetworkACLID, c.fe)
			continue
		}
		p.s.NetworkACLs[a.ID] = a
	}
}

func (p *parser) routeTables(where string, items []json.RawMessage) {
	for k, raw := range items {
		w := index(where, k)
		var e struct {
			RouteTableID string `json:"RouteTableId"`
			VPCID        string `json:"VpcId"`
			Associations []struct {
				Main     bool
				SubnetID string `json:"SubnetId"`
			}
			Routes []struct {
				DestinationCIDRBlock        string `json:"DestinationCidrBlock"`
				DestinationIPv6CIDRBlock    string `json:"DestinationIpv6CidrBlock"`
				DestinationPrefixListID     string `json:"DestinationPrefixListId"`
				GatewayID                   string `json:"GatewayId"`
				NatGatewayID                string `json:"NatGatewayId"`
				TransitGatewayID            string `json:"TransitGatewayId"`
				VPCPeeringConnectionID      string `json:"VpcPeeringConnectionId"`
				NetworkInterfaceID          string `json:"NetworkInterfaceId"`
				InstanceID                  string `json:"InstanceId"`
				EgressOnlyInternetGatewayID string `json:"EgressOnlyInternetGatewayId"`
				CarrierGatewayID            string `json:"CarrierGatewayId"`
				LocalGatewayID              string `json:"LocalGatewayId"`
				CoreNetworkARN              string `json:"CoreNetworkArn"`
				State                       string
			}
		}
		if fe := decode(raw, &e); fe != nil {
			p.bad(w, e.RouteTableID, fe)
			continue
		}
		var c conv
		c.need("RouteTableId", e.RouteTableID)
		rt := &RouteTable{ID: e.RouteTableID, VPC: e.VPCID}
		for _, as := range e.Associations {
			rt.Main = rt.Main || as.Main
			if as.SubnetID != "" {
				rt.Subnets = append(rt.Subnets, as.SubnetID)
			}
		}
		for j, r := range e.Routes {
			f := index("Routes", j) + "."
			route := Route{State: r.State}
			switch {
			case r.DestinationCIDRBlock != "":
				route.Dest = c.prefix(f+"DestinationCidrBlock", r.DestinationCIDRBlock)
			case r.DestinationIPv6CIDRBlock != "":
				route.Dest = c.prefix(f+"DestinationIpv6CidrBlock", r.DestinationIPv6CIDRBlock)
			case r.DestinationPrefixListID != "":
				route.PrefixList = r.DestinationPrefixListID
			default:
				c.fail(f+"DestinationCidrBlock", "", errNoTarget)
			}
			for _, t := range []string{r.GatewayID, r.NatGatewayID, r.TransitGatewayID, r.VPCPeeringConnectionID,
				r.NetworkInterfaceID, r.InstanceID, r.EgressOnlyInternetGatewayID, r.CarrierGatewayID,
				r.LocalGatewayID, r.CoreNetworkARN} {
				if t != "" {
					route.Target = t
					break
				}
			}
			rt.Routes = append(rt.Routes, route)
		}
		if c.fe != nil {
			p.bad(w, e.RouteTableID, c.fe)
			continue
		}
		p.s.RouteTables[rt.ID] = rt
	}
}

func (p *parser) natGateways(where string, items []json.RawMessage) {
	for k, raw := range items {
		w := index(where, k)
		var e struct {
			NatGatewayID        string `json:"NatGatewayId"`
			VPCID               string `json:"VpcId"`
			SubnetID            string `json:"SubnetId"`
			ConnectivityType    string
			State               string
			NatGatewayAddresses []struct {
				NetworkInterfaceID string `json:"NetworkInterfaceId"`
				PrivateIP          string `json:"PrivateIp"`
				PublicIP           string `json:"PublicIp"`
			}
		}
		if fe := decode(raw, &e); fe != nil {
			p.bad(w, e.NatGatewayID, fe)
			continue
		}
		var c conv
		c.need("NatGatewayId", e.NatGatewayID)
		n := &NATGateway{ID: e.NatGatewayID, VPC: e.VPCID, Subnet: e.SubnetID, Connectivity: e.ConnectivityType, State: e.State}
		for j, a := range e.NatGatewayAddresses {
			f := index("NatGatewayAddresses", j) + "."
			n.Addresses = append(n.Addresses, NATAddress{
				ENI:     a.NetworkInterfaceID,
				Private: c.addr(f+"PrivateIp", a.PrivateIP),
				Public:  c.addr(f+"PublicIp", a.PublicIP),
			})
		}
		if c.fe != nil {
			p.bad(w, e.NatGatewayID, c.fe)
			continue
		}
		p.s.NATGateways[n.ID] = n
	}
}

func (p *parser) loadBalancers(where string, items []json.RawMessage) {
	for k, raw := range items {
		w := index(where, k)
		var e struct {
			LoadBalancerARN  string `json:"LoadBalancerArn"`
			LoadBalancerName string
			DNSName          string
			Type             string
			Scheme           string
			VPCID            string `json:"VpcId"`
			State            struct {
				Code string
			}
			SecurityGroups    []string
			AvailabilityZones []struct {
				ZoneName              string
				SubnetID              string `json:"SubnetId"`
				LoadBalancerAddresses []struct {
					IPAddress          string `json:"IpAddress"`
					PrivateIPv4Address string
					IPv6Address        string
				}
			}
		}
		if fe := decode(raw, &e); fe != nil {
			p.bad(w, e.LoadBalancerARN, fe)
			continue
		}
		var c conv
		c.need("LoadBalancerArn", e.LoadBalancerARN)
		lb := &LoadBalancer{
			ARN:               e.LoadBalancerARN,
			Name:              e.LoadBalancerName,
			DNS:               e.DNSName,
			Type:              e.Type,
			Scheme:            e.Scheme,
			VPC:               e.VPCID,
			State:             e.State.Code,
			Groups:            e.SecurityGroups,
			ClientIPPreserved: e.Type == "network",
		}
		for j, z := range e.AvailabilityZones {
			zone := LBZone{Zone: z.ZoneName, Subnet: z.SubnetID}
			for n, a := range z.LoadBalancerAddresses {
				f := fmt.Sprintf("AvailabilityZones[%d].LoadBalancerAddresses[%d].", j, n)
				for _, v := range []struct{ field, value string }{
					{"IpAddress", a.IPAddress}, {"PrivateIPv4Address", a.PrivateIPv4Address}, {"IPv6Address", a.IPv6Address},
				} {
					if ip := c.addr(f+v.field, v.value); ip.IsValid() {
						zone.Addresses = append(zone.Addresses, ip)
					}
				}
			}
			lb.Zones = append(lb.Zones, zone)
		}
		if c.fe != nil {
			p.bad(w, e.LoadBalancerARN, c.fe)
			continue
		}
		p.s.LoadBalancers[lb.ARN] = lb
	}
}

func (p *parser) tgwAttachments(where string, items []json.RawMessage) {
	for k, raw := range items {
		w := index(where, k)
		var e struct {
			TransitGatewayAttachmentID string `json:"TransitGatewayAttachmentId"`
			TransitGatewayID           string `json:"TransitGatewayId"`
			ResourceType               string
			ResourceID                 string `json:"ResourceId"`
			ResourceOwnerID            string `json:"ResourceOwnerId"`
			State                      string
		}
		if fe := decode(raw, &e); fe != nil {
			p.bad(w, e.TransitGatewayAttachmentID, fe)
			continue
		}
		if e.TransitGatewayAttachmentID == "" {
			p.bad(w, "", &fieldError{field: "TransitGatewayAttachmentId", err: errMissing})
			continue
		}
		p.s.TGWAttachments[e.TransitGatewayAttachmentID] = &TGWAttachment{
			ID:           e.TransitGatewayAttachmentID,
			TGW:          e.TransitGatewayID,
			ResourceType: e.ResourceType,
			ResourceID:   e.ResourceID,
			Owner:        e.ResourceOwnerID,
			State:        e.State,
		}
	}
}

func (p *parser) tgwVPCAttachments(where string, items []json.RawMessage) {
	for k, raw := range items {
		w := index(where, k)
		var e struct {
			TransitGatewayAttachmentID string `json:"TransitGatewayAttachmentId"`
			TransitGatewayID           string `json:"TransitGatewayId"`
			VPCID                      string `json:"VpcId"`
			VPCOwnerID                 string `json:"VpcOwnerId"`
			State                      string
		}
		if fe := decode(raw, &e); fe != nil {
			p.bad(w, e.TransitGatewayAttachmentID, fe)
			continue
		}
		if e.TransitGatewayAttachmentID == "" {
			p.bad(w, "", &fieldError{field: "TransitGatewayAttachmentId", err: errMissing})
			continue
		}
		p.s.TGWAttachments[e.TransitGatewayAttachmentID] = &TGWAttachment{
			ID:           e.TransitGatewayAttachmentID,
			TGW:          e.TransitGatewayID,
			ResourceType: "vpc",
			ResourceID:   e.VPCID,
			Owner:        e.VPCOwnerID,
			State:        e.State,
		}
	}
}

// Load reads a folder of describe outputs: the files directly in dir
// whose names end in .json or .json.gz make one undated snapshot (when
// there are any); each subfolder named by a UTC time
// (2026-03-02T10:00:00Z, or with dashes for colons) makes a snapshot of
// that time. Files are read in name order; other files are ignored.
// Subfolders not named by a time, files that cannot be read and files
// that are no describe output are noted in the report's problems and the
// rest is loaded. It is an error when dir cannot be read or holds no
// describe output.
func Load(dir string) (*Inventory, *Report, error) {
	rep := &Report{Counts: map[string]int{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, rep, fmt.Errorf("loading inventory: %w", err)
	}
	undated := NewSnapshot(time.Time{})
	dated := map[time.Time]*Snapshot{}
	var snaps []*Snapshot
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if !isDir(path, e) {
			if describeFile(e.Name()) && loadFile(undated, path, rep) && len(undated.Sources) == 1 {
				snaps = append(snaps, undated)
			}
			continue
		}
		t, ok := folderTime(e.Name())
		if !ok {
			rep.problem(fmt.Errorf("loading inventory: ignoring folder %s: its name is not a UTC time like 2026-03-02T10:00:00Z", path))
			continue
		}
		s := dated[t]
		if s == nil {
			s = NewSnapshot(t)
		}
		had := len(s.Sources)
		if err := loadFolder(s, path, rep); err != nil {
			rep.problem(err)
			continue
		}
		if had == 0 && len(s.Sources) > 0 {
			dated[t] = s
			snaps = append(snaps, s)
		}
	}
	if len(snaps) == 0 {
		return nil, rep, fmt.Errorf("loading inventory: no describe output in %s", dir)
	}
	return New(snaps...), rep, nil
}

// loadFolder reads the describe outputs of a dated folder into s.
func loadFolder(s *Snapshot, dir string, rep *Report) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("loading inventory: %w", err)
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if isDir(path, e) {
			rep.problem(fmt.Errorf("loading inventory: ignoring folder %s: snapshots do not nest", path))
			continue
		}
		if describeFile(e.Name()) {
			loadFile(s, path, rep)
		}
	}
	if len(s.Sources) == 0 {
		return fmt.Errorf("loading inventory: ignoring folder %s: it holds no describe output", dir)
	}
	return nil
}

func isDir(path string, e fs.DirEntry) bool {
	if e.Type()&fs.ModeSymlink != 0 {
		fi, err := os.Stat(path)
		return err == nil && fi.IsDir()
	}
	return e.IsDir()
}

func describeFile(name string) bool {
	return strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".json.gz")
}

// folderTime parses a snapshot folder's name.
func folderTime(name string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04:05Z", "2006-01-02T15-04-05Z"} {
		if t, err := time.Parse(layout, name); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// loadFile parses one file into s, noting a failure in rep, and reports
// whether it was read.
func loadFile(s *Snapshot, path string, rep *Report) bool {
	data, err := readFile(path)
	if err == nil {
		err = Parse(s, path, data, rep)
	}
	if err != nil {
		rep.problem(err)
		return false
	}
	rep.Files++
	s.Sources = append(s.Sources, path)
	return true
}

func readFile(path string) ([]byte, error) {
	if !strings.HasSuffix(path, ".gz") {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		return data, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return data, nil
}

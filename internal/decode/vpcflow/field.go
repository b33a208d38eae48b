package vpcflow

import (
	"errors"
	"fmt"
	"strings"
)

// Field is one VPC Flow Logs field, such as srcaddr or tcp-flags.
type Field uint8

// The fields of VPC and transit gateway flow logs, by the version that
// introduced them. FieldOther stands for a column whose name picket does
// not know (a field newer than this decoder); its values are skipped.
const (
	FieldOther Field = iota

	// Version 2: the default format, in its order.
	FieldVersion
	FieldAccountID
	FieldInterfaceID
	FieldSrcAddr
	FieldDstAddr
	FieldSrcPort
	FieldDstPort
	FieldProtocol
	FieldPackets
	FieldBytes
	FieldStart
	FieldEnd
	FieldAction
	FieldLogStatus

	// Version 3.
	FieldVPCID
	FieldSubnetID
	FieldInstanceID
	FieldTCPFlags
	FieldType
	FieldPktSrcAddr
	FieldPktDstAddr

	// Version 4.
	FieldRegion
	FieldAZID
	FieldSublocationType
	FieldSublocationID

	// Version 5.
	FieldPktSrcAWSService
	FieldPktDstAWSService
	FieldFlowDirection
	FieldTrafficPath

	// Version 7.
	FieldECSClusterARN
	FieldECSClusterName
	FieldECSContainerInstanceARN
	FieldECSContainerInstanceID
	FieldECSContainerID
	FieldECSSecondContainerID
	FieldECSServiceName
	FieldECSTaskDefinitionARN
	FieldECSTaskARN
	FieldECSTaskID

	// Version 8.
	FieldRejectReason

	// Version 9.
	FieldResourceID

	// Version 10.
	FieldEncryptionStatus

	// Version 11.
	FieldInstanceTag
	FieldInstanceTag2
	FieldInterfaceTag
	FieldInterfaceTag2
	FieldASGTag
	FieldASGTag2
	FieldInterfaceType
	FieldNextHopInterfaceID
	FieldNextHopSubnetID
	FieldNextHopAZID
	FieldNextHopVPCID
	FieldNextHopInterfaceType

	// Transit gateway flow logs (version 6).
	FieldResourceType
	FieldTGWID
	FieldTGWAttachmentID
	FieldTGWSrcVPCAccountID
	FieldTGWDstVPCAccountID
	FieldTGWSrcVPCID
	FieldTGWDstVPCID
	FieldTGWSrcSubnetID
	FieldTGWDstSubnetID
	FieldTGWSrcENI
	FieldTGWDstENI
	FieldTGWSrcAZID
	FieldTGWDstAZID
	FieldTGWPairAttachmentID
	FieldPacketsLostNoRoute
	FieldPacketsLostBlackhole
	FieldPacketsLostMTUExceeded
	FieldPacketsLostTTLExpired

	numFields
)

type fieldInfo struct {
	name    string
	version uint8
}

var fieldTable = [numFields]fieldInfo{
	FieldOther:                   {"", 0},
	FieldVersion:                 {"version", 2},
	FieldAccountID:               {"account-id", 2},
	FieldInterfaceID:             {"interface-id", 2},
	FieldSrcAddr:                 {"srcaddr", 2},
	FieldDstAddr:                 {"dstaddr", 2},
	FieldSrcPort:                 {"srcport", 2},
	FieldDstPort:                 {"dstport", 2},
	FieldProtocol:                {"protocol", 2},
	FieldPackets:                 {"packets", 2},
	FieldBytes:                   {"bytes", 2},
	FieldStart:                   {"start", 2},
	FieldEnd:                     {"end", 2},
	FieldAction:                  {"action", 2},
	FieldLogStatus:               {"log-status", 2},
	FieldVPCID:                   {"vpc-id", 3},
	FieldSubnetID:                {"subnet-id", 3},
	FieldInstanceID:              {"instance-id", 3},
	FieldTCPFlags:                {"tcp-flags", 3},
	FieldType:                    {"type", 3},
	FieldPktSrcAddr:              {"pkt-srcaddr", 3},
	FieldPktDstAddr:              {"pkt-dstaddr", 3},
	FieldRegion:                  {"region", 4},
	FieldAZID:                    {"az-id", 4},
	FieldSublocationType:         {"sublocation-type", 4},
	FieldSublocationID:           {"sublocation-id", 4},
	FieldPktSrcAWSService:        {"pkt-src-aws-service", 5},
	FieldPktDstAWSService:        {"pkt-dst-aws-service", 5},
	FieldFlowDirection:           {"flow-direction", 5},
	FieldTrafficPath:             {"traffic-path", 5},
	FieldECSClusterARN:           {"ecs-cluster-arn", 7},
	FieldECSClusterName:          {"ecs-cluster-name", 7},
	FieldECSContainerInstanceARN: {"ecs-container-instance-arn", 7},
	FieldECSContainerInstanceID:  {"ecs-container-instance-id", 7},
	FieldECSContainerID:          {"ecs-container-id", 7},
	FieldECSSecondContainerID:    {"ecs-second-container-id", 7},
	FieldECSServiceName:          {"ecs-service-name", 7},
	FieldECSTaskDefinitionARN:    {"ecs-task-definition-arn", 7},
	FieldECSTaskARN:              {"ecs-task-arn", 7},
	FieldECSTaskID:               {"ecs-task-id", 7},
	FieldRejectReason:            {"reject-reason", 8},
	FieldResourceID:              {"resource-id", 9},
	FieldEncryptionStatus:        {"encryption-status", 10},
	FieldInstanceTag:             {"instance-tag", 11},
	FieldInstanceTag2:            {"instance-tag-2", 11},
	FieldInterfaceTag:            {"interface-tag", 11},
	FieldInterfaceTag2:           {"interface-tag-2", 11},
	FieldASGTag:                  {"asg-tag", 11},
	FieldASGTag2:                 {"asg-tag-2", 11},
	FieldInterfaceType:           {"interface-type", 11},
	FieldNextHopInterfaceID:      {"next-hop-interface-id", 11},
	FieldNextHopSubnetID:         {"next-hop-subnet-id", 11},
	FieldNextHopAZID:             {"next-hop-az-id", 11},
	FieldNextHopVPCID:            {"next-hop-vpc-id", 11},
	FieldNextHopInterfaceType:    {"next-hop-interface-type", 11},
	FieldResourceType:            {"resource-type", 6},
	FieldTGWID:                   {"tgw-id", 6},
	FieldTGWAttachmentID:         {"tgw-attachment-id", 6},
	FieldTGWSrcVPCAccountID:      {"tgw-src-vpc-account-id", 6},
	FieldTGWDstVPCAccountID:      {"tgw-dst-vpc-account-id", 6},
	FieldTGWSrcVPCID:             {"tgw-src-vpc-id", 6},
	FieldTGWDstVPCID:             {"tgw-dst-vpc-id", 6},
	FieldTGWSrcSubnetID:          {"tgw-src-subnet-id", 6},
	FieldTGWDstSubnetID:          {"tgw-dst-subnet-id", 6},
	FieldTGWSrcENI:               {"tgw-src-eni", 6},
	FieldTGWDstENI:               {"tgw-dst-eni", 6},
	FieldTGWSrcAZID:              {"tgw-src-az-id", 6},
	FieldTGWDstAZID:              {"tgw-dst-az-id", 6},
	FieldTGWPairAttachmentID:     {"tgw-pair-attachment-id", 6},
	FieldPacketsLostNoRoute:      {"packets-lost-no-route", 6},
	FieldPacketsLostBlackhole:    {"packets-lost-blackhole", 6},
	FieldPacketsLostMTUExceeded:  {"packets-lost-mtu-exceeded", 6},
	FieldPacketsLostTTLExpired:   {"packets-lost-ttl-expired", 6},
}

var fieldByName = func() map[string]Field {
	m := make(map[string]Field, numFields)
	for f := Field(1); f < numFields; f++ {
		m[fieldTable[f].name] = f
	}
	return m
}()

// String returns the field's name as AWS writes it in a format string.
func (f Field) String() string {
	if f < numFields && f != FieldOther {
		return fieldTable[f].name
	}
	return "(unknown field)"
}

// Version returns the flow log version that introduced the field.
func (f Field) Version() int {
	if f < numFields {
		return int(fieldTable[f].version)
	}
	return 0
}

// FieldNamed returns the field with the given name (such as "tcp-flags"),
// and whether picket knows it.
func FieldNamed(name string) (Field, bool) {
	f, ok := fieldByName[name]
	return f, ok
}

// Fields returns every field picket knows, in the order of the AWS
// documentation.
func Fields() []Field {
	out := make([]Field, 0, numFields-1)
	for f := Field(1); f < numFields; f++ {
		out = append(out, f)
	}
	return out
}

// Format is the column layout of a flow log: which field each
// space-separated column holds. Names keeps the column names as written,
// so that columns of unknown (newer) fields can still be reported.
type Format struct {
	Columns []Field
	Names   []string
}

// maxColumns bounds a format; AWS defines fewer than 70 fields.
const maxColumns = 128

// DefaultFormat is the version 2 default format, which AWS uses when a flow
// log is created without a custom format.
var DefaultFormat = Format{
	Columns: []Field{
		FieldVersion, FieldAccountID, FieldInterfaceID, FieldSrcAddr, FieldDstAddr,
		FieldSrcPort, FieldDstPort, FieldProtocol, FieldPackets, FieldBytes,
		FieldStart, FieldEnd, FieldAction, FieldLogStatus,
	},
	Names: []string{
		"version", "account-id", "interface-id", "srcaddr", "dstaddr",
		"srcport", "dstport", "protocol", "packets", "bytes",
		"start", "end", "action", "log-status",
	},
}

// ParseFormat parses a format given either as the header line of a flow
// log file ("version account-id ...") or as the LogFormat string of the
// AWS API ("${version} ${account-id} ..."). A field picket does not know is
// accepted as a column to skip, as long as at least one field is known.
func ParseFormat(s string) (Format, error) {
	toks := strings.Fields(s)
	if len(toks) == 0 {
		return Format{}, errors.New("empty flow log format")
	}
	if len(toks) > maxColumns {
		return Format{}, fmt.Errorf("flow log format has %d fields, more than the %d allowed", len(toks), maxColumns)
	}
	var f Format
	known := 0
	seen := make(map[Field]bool, len(toks))
	for _, t := range toks {
		name := t
		if strings.HasPrefix(name, "${") && strings.HasSuffix(name, "}") {
			name = name[2 : len(name)-1]
		}
		// Parquet column names use underscores where the format uses hyphens.
		name = strings.ReplaceAll(name, "_", "-")
		if !looksLikeFieldName(name) {
			return Format{}, fmt.Errorf("flow log format: %q is not a field name", t)
		}
		fd, ok := fieldByName[name]
		if ok {
			if seen[fd] {
				return Format{}, fmt.Errorf("flow log format: field %q appears twice", name)
			}
			seen[fd] = true
			known++
		}
		f.Columns = append(f.Columns, fd)
		f.Names = append(f.Names, name)
	}
	if known == 0 {
		return Format{}, fmt.Errorf("flow log format %q names no known field", s)
	}
	return f, nil
}

// String renders the format as a header line.
func (f Format) String() string { return strings.Join(f.Names, " ") }

// Version returns the flow log version the format implies: the highest
// version among its fields.
func (f Format) Version() int {
	v := 0
	for _, c := range f.Columns {
		v = max(v, c.Version())
	}
	return v
}

// Has reports whether the format includes field fd.
func (f Format) Has(fd Field) bool {
	for _, c := range f.Columns {
		if c == fd {
			return true
		}
	}
	return false
}

func looksLikeFieldName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

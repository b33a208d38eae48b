package vpcflow

import (
	"strconv"

	"picket/internal/event"
)

// AppendFlow renders f as one line of flow log text in format, without a
// newline: the inverse of Decode for every field the format holds. Absent
// values are written as "-". It is picket's one flow log text encoder:
// the generator (synth), picket convert and the round-trip tests write
// with it.
func AppendFlow(b []byte, format Format, f *event.Flow) []byte {
	for i, col := range format.Columns {
		if i > 0 {
			b = append(b, ' ')
		}
		b = appendColumn(b, col, f)
	}
	return b
}

func appendID(b []byte, id event.ID) []byte {
	if id.IsZero() {
		return append(b, '-')
	}
	return append(b, id.String()...)
}

func appendUint(b []byte, has bool, v uint64) []byte {
	if !has {
		return append(b, '-')
	}
	return strconv.AppendUint(b, v, 10)
}

func appendColumn(b []byte, col Field, f *event.Flow) []byte {
	switch col {
	case FieldVersion:
		return appendUint(b, f.Has&event.HasVersion != 0, uint64(f.Version))
	case FieldAccountID:
		return appendID(b, f.Account)
	case FieldInterfaceID:
		return appendID(b, f.Interface)
	case FieldSrcAddr, FieldDstAddr, FieldPktSrcAddr, FieldPktDstAddr:
		addr := f.Src
		switch col {
		case FieldDstAddr:
			addr = f.Dst
		case FieldPktSrcAddr:
			addr = f.PktSrc
		case FieldPktDstAddr:
			addr = f.PktDst
		}
		if !addr.IsValid() {
			return append(b, '-')
		}
		return addr.AppendTo(b)
	case FieldSrcPort:
		return appendUint(b, f.Has&event.HasSrcPort != 0, uint64(f.SrcPort))
	case FieldDstPort:
		return appendUint(b, f.Has&event.HasDstPort != 0, uint64(f.DstPort))
	case FieldProtocol:
		return appendUint(b, f.Has&event.HasProtocol != 0, uint64(f.Protocol))
	case FieldPackets:
		return appendUint(b, f.Has&event.HasPackets != 0, f.Packets)
	case FieldBytes:
		return appendUint(b, f.Has&event.HasBytes != 0, f.Bytes)
	case FieldStart:
		return appendUint(b, f.Has&event.HasStart != 0, uint64(f.Start))
	case FieldEnd:
		return appendUint(b, f.Has&event.HasEnd != 0, uint64(f.End))
	case FieldAction:
		return append(b, f.Action.String()...)
	case FieldLogStatus:
		return append(b, f.Status.String()...)
	case FieldVPCID:
		return appendID(b, f.VPC)
	case FieldSubnetID:
		return appendID(b, f.Subnet)
	case FieldInstanceID:
		return appendID(b, f.Instance)
	case FieldTCPFlags:
		return appendUint(b, f.Has&event.HasTCPFlags != 0, uint64(f.TCPFlags))
	case FieldType:
		return append(b, f.Type.String()...)
	case FieldRegion:
		return appendID(b, f.Region)
	case FieldAZID:
		return appendID(b, f.AZ)
	case FieldSublocationType:
		return appendID(b, f.SublocationType)
	case FieldSublocationID:
		return appendID(b, f.SublocationID)
	case FieldPktSrcAWSService:
		return appendID(b, f.PktSrcService)
	case FieldPktDstAWSService:
		return appendID(b, f.PktDstService)
	case FieldFlowDirection:
		if f.Basis != event.BasisField {
			return append(b, '-')
		}
		if f.Direction == event.Inbound {
			return append(b, "ingress"...)
		}
		return append(b, "egress"...)
	case FieldTrafficPath:
		return appendUint(b, f.Has&event.HasTrafficPath != 0, uint64(f.TrafficPath))
	case FieldECSClusterARN:
		return appendID(b, f.ECS.ClusterARN)
	case FieldECSClusterName:
		return appendID(b, f.ECS.ClusterName)
	case FieldECSContainerInstanceARN:
		return appendID(b, f.ECS.ContainerInstanceARN)
	case FieldECSContainerInstanceID:
		return appendID(b, f.ECS.ContainerInstanceID)
	case FieldECSContainerID:
		return appendID(b, f.ECS.ContainerID)
	case FieldECSSecondContainerID:
		return appendID(b, f.ECS.SecondContainerID)
	case FieldECSServiceName:
		return appendID(b, f.ECS.ServiceName)
	case FieldECSTaskDefinitionARN:
		return appendID(b, f.ECS.TaskDefinitionARN)
	case FieldECSTaskARN:
		return appendID(b, f.ECS.TaskARN)
	case FieldECSTaskID:
		return appendID(b, f.ECS.TaskID)
	case FieldRejectReason:
		return appendID(b, f.RejectReason)
	case FieldResourceID:
		return appendID(b, f.Resource)
	case FieldEncryptionStatus:
		return appendID(b, f.Encryption)
	case FieldInstanceTag:
		return appendID(b, f.Meta.InstanceTag)
	case FieldInstanceTag2:
		return appendID(b, f.Meta.InstanceTag2)
	case FieldInterfaceTag:
		return appendID(b, f.Meta.InterfaceTag)
	case FieldInterfaceTag2:
		return appendID(b, f.Meta.InterfaceTag2)
	case FieldASGTag:
		return appendID(b, f.Meta.ASGTag)
	case FieldASGTag2:
		return appendID(b, f.Meta.ASGTag2)
	case FieldInterfaceType:
		return appendID(b, f.Meta.InterfaceType)
	case FieldNextHopInterfaceID:
		return appendID(b, f.Meta.NextHopInterface)
	case FieldNextHopSubnetID:
		return appendID(b, f.Meta.NextHopSubnet)
	case FieldNextHopAZID:
		return appendID(b, f.Meta.NextHopAZ)
	case FieldNextHopVPCID:
		return appendID(b, f.Meta.NextHopVPC)
	case FieldNextHopInterfaceType:
		return appendID(b, f.Meta.NextHopInterfaceType)
	case FieldResourceType:
		return appendID(b, f.TGW.ResourceType)
	case FieldTGWID:
		return appendID(b, f.TGW.ID)
	case FieldTGWAttachmentID:
		return appendID(b, f.TGW.AttachmentID)
	case FieldTGWSrcVPCAccountID:
		return appendID(b, f.TGW.SrcVPCAccountID)
	case FieldTGWDstVPCAccountID:
		return appendID(b, f.TGW.DstVPCAccountID)
	case FieldTGWSrcVPCID:
		return appendID(b, f.TGW.SrcVPCID)
	case FieldTGWDstVPCID:
		return appendID(b, f.TGW.DstVPCID)
	case FieldTGWSrcSubnetID:
		return appendID(b, f.TGW.SrcSubnetID)
	case FieldTGWDstSubnetID:
		return appendID(b, f.TGW.DstSubnetID)
	case FieldTGWSrcENI:
		return appendID(b, f.TGW.SrcENI)
	case FieldTGWDstENI:
		return appendID(b, f.TGW.DstENI)
	case FieldTGWSrcAZID:
		return appendID(b, f.TGW.SrcAZID)
	case FieldTGWDstAZID:
		return appendID(b, f.TGW.DstAZID)
	case FieldTGWPairAttachmentID:
		return appendID(b, f.TGW.PairAttachmentID)
	case FieldPacketsLostNoRoute:
		return appendUint(b, f.Has&event.HasPacketsLost != 0, f.TGW.LostNoRoute)
	case FieldPacketsLostBlackhole:
		return appendUint(b, f.Has&event.HasPacketsLost != 0, f.TGW.LostBlackhole)
	case FieldPacketsLostMTUExceeded:
		return appendUint(b, f.Has&event.HasPacketsLost != 0, f.TGW.LostMTUExceeded)
	case FieldPacketsLostTTLExpired:
		return appendUint(b, f.Has&event.HasPacketsLost != 0, f.TGW.LostTTLExpired)
	}
	return append(b, '-')
}

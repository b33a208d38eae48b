//lint:file-ignore SA1019 the deprecated master-account operations and dataSources are in the model, and tested, on purpose

package api

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	gd "github.com/aws/aws-sdk-go-v2/service/guardduty/types"
)

// opState carries the IDs that earlier operations of TestOperations
// created to the later ones.
type opState struct {
	det, filter                           string
	ipSet, threatIntel, threatEnt, truste string
	dest                                  string
}

// opCase is one operation of the service model called through the SDK
// with minimal valid input. feature is empty for an operation that
// works, else the feature whose not-offered error it answers.
type opCase struct {
	op      string
	call    func(context.Context, *guardduty.Client, *opState) error
	feature string
}

// operationCases lists every operation of GuardDuty's model, in an order
// where each finds what it needs: the detector first, its deletion last.
func operationCases() []opCase {
	works := func(op string, call func(context.Context, *guardduty.Client, *opState) error) opCase {
		return opCase{op: op, call: call}
	}
	off := func(op, feature string, call func(context.Context, *guardduty.Client, *opState) error) opCase {
		return opCase{op: op, call: call, feature: feature}
	}
	ids := []string{"210987654321"}
	const planID = "0123456789abcdef0123"
	s3 := aws.String("s3://lists/x.txt")
	return []opCase{
		works("CreateDetector", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			out, err := c.CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
			if err == nil {
				s.det = *out.DetectorId
			}
			return err
		}),
		works("ListDetectors", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListDetectors(ctx, &guardduty.ListDetectorsInput{})
			return err
		}),
		works("GetDetector", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			out, err := c.GetDetector(ctx, &guardduty.GetDetectorInput{DetectorId: &s.det})
			if err != nil {
				return err
			}
			// Only the sources picket reads are on.
			var on []string
			for _, f := range out.Features {
				if f.Status == gd.FeatureStatusEnabled {
					on = append(on, string(f.Name))
				}
			}
			ds := out.DataSources //nolint:staticcheck // the deprecated block is served on purpose
			if !slices.Equal(on, []string{"FLOW_LOGS", "CLOUD_TRAIL"}) || ds.DNSLogs.Status != gd.DataSourceStatusDisabled ||
				ds.S3Logs.Status != gd.DataSourceStatusDisabled || ds.CloudTrail.Status != gd.DataSourceStatusEnabled {
				return fmt.Errorf("features on: %v; data sources %+v", on, ds)
			}
			return nil
		}),
		works("UpdateDetector", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UpdateDetector(ctx, &guardduty.UpdateDetectorInput{DetectorId: &s.det})
			return err
		}),

		// Findings.
		works("CreateSampleFindings", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.CreateSampleFindings(ctx, &guardduty.CreateSampleFindingsInput{DetectorId: &s.det})
			return err
		}),
		works("ListFindings", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListFindings(ctx, &guardduty.ListFindingsInput{DetectorId: &s.det})
			return err
		}),
		works("GetFindings", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetFindings(ctx, &guardduty.GetFindingsInput{DetectorId: &s.det, FindingIds: []string{}})
			return err
		}),
		works("GetFindingsStatistics", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetFindingsStatistics(ctx, &guardduty.GetFindingsStatisticsInput{DetectorId: &s.det, GroupBy: gd.GroupByTypeSeverity})
			return err
		}),
		works("ArchiveFindings", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ArchiveFindings(ctx, &guardduty.ArchiveFindingsInput{DetectorId: &s.det, FindingIds: []string{}})
			return err
		}),
		works("UnarchiveFindings", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UnarchiveFindings(ctx, &guardduty.UnarchiveFindingsInput{DetectorId: &s.det, FindingIds: []string{}})
			return err
		}),
		works("UpdateFindingsFeedback", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UpdateFindingsFeedback(ctx, &guardduty.UpdateFindingsFeedbackInput{DetectorId: &s.det, FindingIds: []string{}, Feedback: gd.FeedbackUseful})
			return err
		}),

		// Filters.
		works("CreateFilter", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			out, err := c.CreateFilter(ctx, &guardduty.CreateFilterInput{DetectorId: &s.det, Name: aws.String("quiet"),
				FindingCriteria: &gd.FindingCriteria{Criterion: map[string]gd.Condition{"severity": {GreaterThan: aws.Int64(1)}}}})
			if err == nil {
				s.filter = *out.Name
			}
			return err
		}),
		works("ListFilters", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListFilters(ctx, &guardduty.ListFiltersInput{DetectorId: &s.det})
			return err
		}),
		works("GetFilter", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetFilter(ctx, &guardduty.GetFilterInput{DetectorId: &s.det, FilterName: &s.filter})
			return err
		}),
		works("UpdateFilter", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UpdateFilter(ctx, &guardduty.UpdateFilterInput{DetectorId: &s.det, FilterName: &s.filter, Rank: aws.Int32(2)})
			return err
		}),
		works("DeleteFilter", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DeleteFilter(ctx, &guardduty.DeleteFilterInput{DetectorId: &s.det, FilterName: &s.filter})
			return err
		}),

		// Lists.
		works("CreateIPSet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			out, err := c.CreateIPSet(ctx, &guardduty.CreateIPSetInput{DetectorId: &s.det, Name: aws.String("ip"), Format: gd.IpSetFormatTxt, Location: s3, Activate: aws.Bool(false)})
			if err == nil {
				s.ipSet = *out.IpSetId
			}
			return err
		}),
		works("ListIPSets", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListIPSets(ctx, &guardduty.ListIPSetsInput{DetectorId: &s.det})
			return err
		}),
		works("GetIPSet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetIPSet(ctx, &guardduty.GetIPSetInput{DetectorId: &s.det, IpSetId: &s.ipSet})
			return err
		}),
		works("UpdateIPSet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UpdateIPSet(ctx, &guardduty.UpdateIPSetInput{DetectorId: &s.det, IpSetId: &s.ipSet, Name: aws.String("ip2")})
			return err
		}),
		works("DeleteIPSet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DeleteIPSet(ctx, &guardduty.DeleteIPSetInput{DetectorId: &s.det, IpSetId: &s.ipSet})
			return err
		}),
		works("CreateThreatIntelSet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			out, err := c.CreateThreatIntelSet(ctx, &guardduty.CreateThreatIntelSetInput{DetectorId: &s.det, Name: aws.String("ti"), Format: gd.ThreatIntelSetFormatTxt, Location: s3, Activate: aws.Bool(false)})
			if err == nil {
				s.threatIntel = *out.ThreatIntelSetId
			}
			return err
		}),
		works("ListThreatIntelSets", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListThreatIntelSets(ctx, &guardduty.ListThreatIntelSetsInput{DetectorId: &s.det})
			return err
		}),
		works("GetThreatIntelSet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetThreatIntelSet(ctx, &guardduty.GetThreatIntelSetInput{DetectorId: &s.det, ThreatIntelSetId: &s.threatIntel})
			return err
		}),
		works("UpdateThreatIntelSet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UpdateThreatIntelSet(ctx, &guardduty.UpdateThreatIntelSetInput{DetectorId: &s.det, ThreatIntelSetId: &s.threatIntel, Name: aws.String("ti2")})
			return err
		}),
		works("DeleteThreatIntelSet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DeleteThreatIntelSet(ctx, &guardduty.DeleteThreatIntelSetInput{DetectorId: &s.det, ThreatIntelSetId: &s.threatIntel})
			return err
		}),
		works("CreateThreatEntitySet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			out, err := c.CreateThreatEntitySet(ctx, &guardduty.CreateThreatEntitySetInput{DetectorId: &s.det, Name: aws.String("te"), Format: gd.ThreatEntitySetFormatTxt, Location: s3, Activate: aws.Bool(false)})
			if err == nil {
				s.threatEnt = *out.ThreatEntitySetId
			}
			return err
		}),
		works("ListThreatEntitySets", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListThreatEntitySets(ctx, &guardduty.ListThreatEntitySetsInput{DetectorId: &s.det})
			return err
		}),
		works("GetThreatEntitySet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetThreatEntitySet(ctx, &guardduty.GetThreatEntitySetInput{DetectorId: &s.det, ThreatEntitySetId: &s.threatEnt})
			return err
		}),
		works("UpdateThreatEntitySet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UpdateThreatEntitySet(ctx, &guardduty.UpdateThreatEntitySetInput{DetectorId: &s.det, ThreatEntitySetId: &s.threatEnt, Name: aws.String("te2")})
			return err
		}),
		works("DeleteThreatEntitySet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DeleteThreatEntitySet(ctx, &guardduty.DeleteThreatEntitySetInput{DetectorId: &s.det, ThreatEntitySetId: &s.threatEnt})
			return err
		}),
		works("CreateTrustedEntitySet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			out, err := c.CreateTrustedEntitySet(ctx, &guardduty.CreateTrustedEntitySetInput{DetectorId: &s.det, Name: aws.String("tr"), Format: gd.TrustedEntitySetFormatTxt, Location: s3, Activate: aws.Bool(false)})
			if err == nil {
				s.truste = *out.TrustedEntitySetId
			}
			return err
		}),
		works("ListTrustedEntitySets", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListTrustedEntitySets(ctx, &guardduty.ListTrustedEntitySetsInput{DetectorId: &s.det})
			return err
		}),
		works("GetTrustedEntitySet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetTrustedEntitySet(ctx, &guardduty.GetTrustedEntitySetInput{DetectorId: &s.det, TrustedEntitySetId: &s.truste})
			return err
		}),
		works("UpdateTrustedEntitySet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UpdateTrustedEntitySet(ctx, &guardduty.UpdateTrustedEntitySetInput{DetectorId: &s.det, TrustedEntitySetId: &s.truste, Name: aws.String("tr2")})
			return err
		}),
		works("DeleteTrustedEntitySet", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DeleteTrustedEntitySet(ctx, &guardduty.DeleteTrustedEntitySetInput{DetectorId: &s.det, TrustedEntitySetId: &s.truste})
			return err
		}),

		// Tags.
		works("TagResource", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.TagResource(ctx, &guardduty.TagResourceInput{ResourceArn: aws.String(s.arn()), Tags: map[string]string{"k": "v"}})
			return err
		}),
		works("ListTagsForResource", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListTagsForResource(ctx, &guardduty.ListTagsForResourceInput{ResourceArn: aws.String(s.arn())})
			return err
		}),
		works("UntagResource", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UntagResource(ctx, &guardduty.UntagResourceInput{ResourceArn: aws.String(s.arn()), TagKeys: []string{"k"}})
			return err
		}),

		// Coverage and usage.
		works("ListCoverage", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListCoverage(ctx, &guardduty.ListCoverageInput{DetectorId: &s.det})
			return err
		}),
		works("GetCoverageStatistics", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetCoverageStatistics(ctx, &guardduty.GetCoverageStatisticsInput{DetectorId: &s.det,
				StatisticsType: []gd.CoverageStatisticsType{gd.CoverageStatisticsTypeCountByCoverageStatus}})
			return err
		}),
		works("GetUsageStatistics", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetUsageStatistics(ctx, &guardduty.GetUsageStatisticsInput{DetectorId: &s.det,
				UsageStatisticType: gd.UsageStatisticTypeSumByAccount, UsageCriteria: &gd.UsageCriteria{Features: []gd.UsageFeature{gd.UsageFeatureFlowLogs}}})
			return err
		}),
		off("GetRemainingFreeTrialDays", featureFreeTrial, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetRemainingFreeTrialDays(ctx, &guardduty.GetRemainingFreeTrialDaysInput{DetectorId: &s.det, AccountIds: ids})
			return err
		}),

		// Malware protection.
		off("GetMalwareScanSettings", featureMalware, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetMalwareScanSettings(ctx, &guardduty.GetMalwareScanSettingsInput{DetectorId: &s.det})
			return err
		}),
		off("UpdateMalwareScanSettings", featureMalware, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UpdateMalwareScanSettings(ctx, &guardduty.UpdateMalwareScanSettingsInput{DetectorId: &s.det})
			return err
		}),
		off("DescribeMalwareScans", featureMalware, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DescribeMalwareScans(ctx, &guardduty.DescribeMalwareScansInput{DetectorId: &s.det})
			return err
		}),
		off("CreateMalwareProtectionPlan", featureMalware, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.CreateMalwareProtectionPlan(ctx, &guardduty.CreateMalwareProtectionPlanInput{Role: aws.String("arn:aws:iam::123456789012:role/scan"),
				ProtectedResource: &gd.CreateProtectedResource{S3Bucket: &gd.CreateS3BucketResource{BucketName: aws.String("b")}}})
			return err
		}),
		off("ListMalwareProtectionPlans", featureMalware, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListMalwareProtectionPlans(ctx, &guardduty.ListMalwareProtectionPlansInput{})
			return err
		}),
		off("GetMalwareProtectionPlan", featureMalware, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetMalwareProtectionPlan(ctx, &guardduty.GetMalwareProtectionPlanInput{MalwareProtectionPlanId: aws.String(planID)})
			return err
		}),
		off("UpdateMalwareProtectionPlan", featureMalware, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UpdateMalwareProtectionPlan(ctx, &guardduty.UpdateMalwareProtectionPlanInput{MalwareProtectionPlanId: aws.String(planID)})
			return err
		}),
		off("DeleteMalwareProtectionPlan", featureMalware, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DeleteMalwareProtectionPlan(ctx, &guardduty.DeleteMalwareProtectionPlanInput{MalwareProtectionPlanId: aws.String(planID)})
			return err
		}),
		off("ListMalwareScans", featureMalware, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListMalwareScans(ctx, &guardduty.ListMalwareScansInput{})
			return err
		}),
		off("StartMalwareScan", featureMalware, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.StartMalwareScan(ctx, &guardduty.StartMalwareScanInput{ResourceArn: aws.String("arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0")})
			return err
		}),
		off("GetMalwareScan", featureMalware, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetMalwareScan(ctx, &guardduty.GetMalwareScanInput{ScanId: aws.String("scan-1")})
			return err
		}),
		off("SendObjectMalwareScan", featureMalware, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.SendObjectMalwareScan(ctx, &guardduty.SendObjectMalwareScanInput{})
			return err
		}),

		// Publishing destinations.
		works("CreatePublishingDestination", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			out, err := c.CreatePublishingDestination(ctx, &guardduty.CreatePublishingDestinationInput{DetectorId: &s.det, DestinationType: gd.DestinationTypeS3,
				DestinationProperties: &gd.DestinationProperties{DestinationArn: aws.String("arn:aws:s3:::findings"), KmsKeyArn: aws.String("arn:aws:kms:us-east-1:123456789012:key/k")}})
			if err == nil {
				s.dest = *out.DestinationId
			}
			return err
		}),
		works("ListPublishingDestinations", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			out, err := c.ListPublishingDestinations(ctx, &guardduty.ListPublishingDestinationsInput{DetectorId: &s.det})
			if err == nil && (len(out.Destinations) != 1 || *out.Destinations[0].DestinationId != s.dest) {
				return fmt.Errorf("destinations %+v, want %s", out.Destinations, s.dest)
			}
			return err
		}),
		works("DescribePublishingDestination", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			out, err := c.DescribePublishingDestination(ctx, &guardduty.DescribePublishingDestinationInput{DetectorId: &s.det, DestinationId: &s.dest})
			if err == nil && (out.Status != gd.PublishingStatusPendingVerification || *out.DestinationProperties.DestinationArn != "arn:aws:s3:::findings") {
				return fmt.Errorf("status %s, properties %+v", out.Status, out.DestinationProperties)
			}
			return err
		}),
		works("UpdatePublishingDestination", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UpdatePublishingDestination(ctx, &guardduty.UpdatePublishingDestinationInput{DetectorId: &s.det, DestinationId: &s.dest,
				DestinationProperties: &gd.DestinationProperties{DestinationArn: aws.String("arn:aws:s3:::findings/picket")}})
			return err
		}),
		works("DeletePublishingDestination", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DeletePublishingDestination(ctx, &guardduty.DeletePublishingDestinationInput{DetectorId: &s.det, DestinationId: &s.dest})
			return err
		}),

		// Members, administrator, invitations, organizations: the API's
		// account administers every account whose logs arrive (the
		// caller here is one of its members); what would change that is
		// not offered.
		works("CreateMembers", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.CreateMembers(ctx, &guardduty.CreateMembersInput{DetectorId: &s.det,
				AccountDetails: []gd.AccountDetail{{AccountId: aws.String(ids[0]), Email: aws.String("sec@example.com")}}})
			return err
		}),
		works("ListMembers", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListMembers(ctx, &guardduty.ListMembersInput{DetectorId: &s.det})
			return err
		}),
		works("GetMembers", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetMembers(ctx, &guardduty.GetMembersInput{DetectorId: &s.det, AccountIds: ids})
			return err
		}),
		works("GetMemberDetectors", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetMemberDetectors(ctx, &guardduty.GetMemberDetectorsInput{DetectorId: &s.det, AccountIds: ids})
			return err
		}),
		works("UpdateMemberDetectors", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UpdateMemberDetectors(ctx, &guardduty.UpdateMemberDetectorsInput{DetectorId: &s.det, AccountIds: ids})
			return err
		}),
		works("InviteMembers", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.InviteMembers(ctx, &guardduty.InviteMembersInput{DetectorId: &s.det, AccountIds: ids})
			return err
		}),
		works("StartMonitoringMembers", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.StartMonitoringMembers(ctx, &guardduty.StartMonitoringMembersInput{DetectorId: &s.det, AccountIds: ids})
			return err
		}),
		works("StopMonitoringMembers", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.StopMonitoringMembers(ctx, &guardduty.StopMonitoringMembersInput{DetectorId: &s.det, AccountIds: ids})
			return err
		}),
		works("DisassociateMembers", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DisassociateMembers(ctx, &guardduty.DisassociateMembersInput{DetectorId: &s.det, AccountIds: ids})
			return err
		}),
		works("DeleteMembers", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DeleteMembers(ctx, &guardduty.DeleteMembersInput{DetectorId: &s.det, AccountIds: ids})
			return err
		}),
		works("GetAdministratorAccount", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetAdministratorAccount(ctx, &guardduty.GetAdministratorAccountInput{DetectorId: &s.det})
			return err
		}),
		off("AcceptAdministratorInvitation", featureAccounts, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.AcceptAdministratorInvitation(ctx, &guardduty.AcceptAdministratorInvitationInput{DetectorId: &s.det,
				AdministratorId: aws.String(ids[0]), InvitationId: aws.String("inv")})
			return err
		}),
		off("DisassociateFromAdministratorAccount", featureAccounts, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DisassociateFromAdministratorAccount(ctx, &guardduty.DisassociateFromAdministratorAccountInput{DetectorId: &s.det})
			return err
		}),
		works("GetMasterAccount", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetMasterAccount(ctx, &guardduty.GetMasterAccountInput{DetectorId: &s.det}) //nolint:staticcheck // in the model
			return err
		}),
		off("AcceptInvitation", featureAccounts, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.AcceptInvitation(ctx, &guardduty.AcceptInvitationInput{DetectorId: &s.det, MasterId: aws.String(ids[0]), InvitationId: aws.String("inv")}) //nolint:staticcheck // in the model
			return err
		}),
		off("DisassociateFromMasterAccount", featureAccounts, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DisassociateFromMasterAccount(ctx, &guardduty.DisassociateFromMasterAccountInput{DetectorId: &s.det}) //nolint:staticcheck // in the model
			return err
		}),
		works("ListInvitations", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListInvitations(ctx, &guardduty.ListInvitationsInput{})
			return err
		}),
		works("GetInvitationsCount", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetInvitationsCount(ctx, &guardduty.GetInvitationsCountInput{})
			return err
		}),
		works("DeclineInvitations", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DeclineInvitations(ctx, &guardduty.DeclineInvitationsInput{AccountIds: ids})
			return err
		}),
		works("DeleteInvitations", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DeleteInvitations(ctx, &guardduty.DeleteInvitationsInput{AccountIds: ids})
			return err
		}),
		works("ListOrganizationAdminAccounts", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.ListOrganizationAdminAccounts(ctx, &guardduty.ListOrganizationAdminAccountsInput{})
			return err
		}),
		off("EnableOrganizationAdminAccount", featureAccounts, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.EnableOrganizationAdminAccount(ctx, &guardduty.EnableOrganizationAdminAccountInput{AdminAccountId: aws.String(ids[0])})
			return err
		}),
		off("DisableOrganizationAdminAccount", featureAccounts, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DisableOrganizationAdminAccount(ctx, &guardduty.DisableOrganizationAdminAccountInput{AdminAccountId: aws.String(ids[0])})
			return err
		}),
		works("DescribeOrganizationConfiguration", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DescribeOrganizationConfiguration(ctx, &guardduty.DescribeOrganizationConfigurationInput{DetectorId: &s.det})
			return err
		}),
		off("UpdateOrganizationConfiguration", featureAccounts, func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.UpdateOrganizationConfiguration(ctx, &guardduty.UpdateOrganizationConfigurationInput{DetectorId: &s.det})
			return err
		}),
		works("GetOrganizationStatistics", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.GetOrganizationStatistics(ctx, &guardduty.GetOrganizationStatisticsInput{})
			return err
		}),

		works("DeleteDetector", func(ctx context.Context, c *guardduty.Client, s *opState) error {
			_, err := c.DeleteDetector(ctx, &guardduty.DeleteDetectorInput{DetectorId: &s.det})
			return err
		}),
	}
}

func (s *opState) arn() string {
	return "arn:aws:guardduty:" + testRegion + ":" + testAccount + ":detector/" + s.det
}

// TestOperations calls every operation of GuardDuty's service model
// through the Go SDK with minimal valid input: each either succeeds or
// answers the not-offered error of its feature, as docs/api.md says.
func TestOperations(t *testing.T) {
	l := newLive(t, nil)
	gdc := l.client(testCreds, aws.NopRetryer{})
	cases := operationCases()

	t.Run("every SDK operation has a case", func(t *testing.T) {
		var want, got []string
		ctxType := reflect.TypeFor[context.Context]()
		ct := reflect.TypeFor[*guardduty.Client]()
		for i := range ct.NumMethod() {
			m := ct.Method(i)
			if m.Type.NumIn() == 4 && m.Type.In(1) == ctxType && m.Type.IsVariadic() {
				want = append(want, m.Name)
			}
		}
		for _, c := range cases {
			got = append(got, c.op)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) || len(got) != 87 {
			t.Fatalf("cases for %d operations, the SDK has %d:\nSDK: %v\ncases: %v", len(got), len(want), want, got)
		}
	})

	s := &opState{}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			err := c.call(t.Context(), gdc, s)
			if c.feature == "" {
				if err != nil {
					t.Fatalf("%s: %v", c.op, err)
				}
			} else {
				wantErr(t, c.op, err, "BadRequestException", notOffered(c.feature))
			}
		})
	}
}

// TestOffChecksDetector: an operation of a feature picket does not offer
// still answers for an unknown detector as every operation does.
func TestOffChecksDetector(t *testing.T) {
	l := newLive(t, nil)
	gdc := l.client(testCreds, aws.NopRetryer{})
	_, err := gdc.GetMalwareScanSettings(t.Context(), &guardduty.GetMalwareScanSettingsInput{DetectorId: aws.String("0123456789abcdef0123456789abcdef")})
	wantErr(t, "GetMalwareScanSettings of an unknown detector", err, "BadRequestException", msgNotOwned)
}

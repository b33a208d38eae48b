package cloudtrail_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// genEvent is a CloudTrail event in the field order CloudTrail writes.
type genEvent struct {
	EventVersion                 string         `json:"eventVersion"`
	UserIdentity                 map[string]any `json:"userIdentity"`
	EventTime                    string         `json:"eventTime"`
	EventSource                  string         `json:"eventSource"`
	EventName                    string         `json:"eventName"`
	AWSRegion                    string         `json:"awsRegion"`
	SourceIPAddress              string         `json:"sourceIPAddress"`
	UserAgent                    string         `json:"userAgent"`
	ErrorCode                    string         `json:"errorCode,omitempty"`
	ErrorMessage                 string         `json:"errorMessage,omitempty"`
	RequestParameters            any            `json:"requestParameters"`
	ResponseElements             any            `json:"responseElements"`
	AdditionalEventData          any            `json:"additionalEventData,omitempty"`
	RequestID                    string         `json:"requestID"`
	EventID                      string         `json:"eventID"`
	ReadOnly                     bool           `json:"readOnly"`
	Resources                    any            `json:"resources,omitempty"`
	EventType                    string         `json:"eventType"`
	ManagementEvent              bool           `json:"managementEvent"`
	RecipientAccountID           string         `json:"recipientAccountId"`
	SharedEventID                string         `json:"sharedEventID,omitempty"`
	VPCEndpointID                string         `json:"vpcEndpointId,omitempty"`
	EventCategory                string         `json:"eventCategory"`
	TLSDetails                   map[string]any `json:"tlsDetails,omitempty"`
	SessionCredentialFromConsole string         `json:"sessionCredentialFromConsole,omitempty"`
}

var genAPIs = []struct {
	source, name string
	readOnly     bool
}{
	{"ec2.amazonaws.com", "DescribeInstances", true},
	{"ec2.amazonaws.com", "DescribeSecurityGroups", true},
	{"ec2.amazonaws.com", "RunInstances", false},
	{"s3.amazonaws.com", "GetObject", true},
	{"s3.amazonaws.com", "PutObject", false},
	{"s3.amazonaws.com", "ListBuckets", true},
	{"iam.amazonaws.com", "ListRoles", true},
	{"iam.amazonaws.com", "GetUser", true},
	{"sts.amazonaws.com", "AssumeRole", false},
	{"sts.amazonaws.com", "GetCallerIdentity", true},
	{"kms.amazonaws.com", "Decrypt", true},
	{"lambda.amazonaws.com", "Invoke", false},
	{"logs.amazonaws.com", "CreateLogStream", false},
	{"ssm.amazonaws.com", "GetParameters", true},
	{"secretsmanager.amazonaws.com", "GetSecretValue", true},
}

var genAgents = []string{
	"aws-cli/2.13.25 Python/3.11.5 Linux/5.10.192-183.736.amzn2.x86_64 exe/x86_64.amzn.2 prompt/off command/ec2.describe-instances",
	"Boto3/1.28.57 md/Botocore#1.31.57 ua/2.0 os/linux#5.15.0 md/arch#x86_64 lang/python#3.10.12 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.31.57",
	"aws-sdk-go-v2/1.21.0 os/linux lang/go#1.21.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.40.0",
	"console.amazonaws.com",
	"AWS Internal",
	"APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/5.19.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.45.19 (go1.20.8; linux; amd64)",
}

// generateTrail returns a CloudTrail log file of n events as S3 delivers
// it ({"Records":[...]} on one line), or one event per line when lines is
// set. The mix follows a busy account: roles assumed by instances and
// Lambda functions, IAM users with access keys, AWS services, the
// console, and a few percent of failed calls.
func generateTrail(n int, lines bool, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	const account = "123456789012"
	base := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	users := []string{"alice", "bob", "deploy", "ci-runner", "backup"}
	roles := []string{"web-instance-role", "lambda-exec", "ecs-task-role", "Admin", "ReadOnly"}
	var buf bytes.Buffer
	if !lines {
		buf.WriteString(`{"Records":[`)
	}
	hexID := func(k int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, k)
		for i := range b {
			b[i] = digits[rng.IntN(16)]
		}
		return string(b)
	}
	uuid := func() string {
		return hexID(8) + "-" + hexID(4) + "-" + hexID(4) + "-" + hexID(4) + "-" + hexID(12)
	}
	// Role sessions last hours: a busy account has a few hundred at a
	// time, each with its own temporary key, used for many calls.
	sessions := make([]map[string]any, 300)
	for j := range sessions {
		role := roles[rng.IntN(len(roles))]
		session := "i-0" + hexID(16)
		sessions[j] = map[string]any{
			"type": "AssumedRole", "principalId": "AROAEXAMPLEROLEID" + fmt.Sprint(len(role)) + ":" + session,
			"arn":         "arn:aws:sts::" + account + ":assumed-role/" + role + "/" + session,
			"accountId":   account,
			"accessKeyId": "ASIA" + strings.ToUpper(hexID(16)),
			"sessionContext": map[string]any{
				"sessionIssuer": map[string]any{"type": "Role", "principalId": "AROAEXAMPLEROLEID" + fmt.Sprint(len(role)),
					"arn": "arn:aws:iam::" + account + ":role/" + role, "accountId": account, "userName": role},
				"webIdFederationData": map[string]any{},
				"attributes":          map[string]any{"creationDate": base.Format(time.RFC3339), "mfaAuthenticated": "false"},
				"ec2RoleDelivery":     "2.0",
			},
		}
	}
	for i := range n {
		api := genAPIs[rng.IntN(len(genAPIs))]
		ev := genEvent{
			EventVersion:       "1.09",
			EventTime:          base.Add(time.Duration(i) * 50 * time.Millisecond).Format(time.RFC3339),
			EventSource:        api.source,
			EventName:          api.name,
			AWSRegion:          []string{"us-east-1", "eu-west-1", "us-west-2"}[rng.IntN(3)],
			SourceIPAddress:    fmt.Sprintf("%d.%d.%d.%d", 10+rng.IntN(200), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254)),
			UserAgent:          genAgents[rng.IntN(len(genAgents))],
			RequestID:          uuid(),
			EventID:            uuid(),
			ReadOnly:           api.readOnly,
			EventType:          "AwsApiCall",
			ManagementEvent:    api.source != "s3.amazonaws.com",
			RecipientAccountID: account,
			EventCategory:      "Management",
			TLSDetails: map[string]any{"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
				"clientProvidedHostHeader": strings.TrimSuffix(api.source, ".amazonaws.com") + ".us-east-1.amazonaws.com"},
		}
		switch k := rng.IntN(10); {
		case k < 5:
			ev.UserIdentity = sessions[rng.IntN(len(sessions))]
		case k < 8:
			user := users[rng.IntN(len(users))]
			ev.UserIdentity = map[string]any{
				"type": "IAMUser", "principalId": "AIDAEXAMPLEUSER" + strings.ToUpper(user),
				"arn": "arn:aws:iam::" + account + ":user/" + user, "accountId": account,
				"accessKeyId": "AKIAEXAMPLE" + strings.ToUpper(user), "userName": user,
			}
		default:
			ev.UserIdentity = map[string]any{"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}
			ev.SourceIPAddress = "lambda.amazonaws.com"
			ev.UserAgent = "lambda.amazonaws.com"
			ev.TLSDetails = nil
		}
		switch api.name {
		case "DescribeInstances":
			ev.RequestParameters = map[string]any{"instancesSet": map[string]any{}, "filterSet": map[string]any{
				"items": []any{map[string]any{"name": "tag:Name", "valueSet": map[string]any{"items": []any{map[string]any{"value": "web-" + hexID(4)}}}}}}}
		case "GetObject", "PutObject":
			ev.RequestParameters = map[string]any{"bucketName": "data-" + hexID(6), "Host": "data.s3.us-east-1.amazonaws.com", "key": "logs/2024/03/01/" + hexID(24) + ".json.gz"}
			ev.AdditionalEventData = map[string]any{"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
				"bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "x-amz-id-2": hexID(60), "bytesTransferredOut": rng.IntN(1 << 20)}
			ev.Resources = []any{map[string]any{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::data/" + hexID(24)},
				map[string]any{"accountId": account, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::data"}}
			ev.EventCategory = "Data"
		case "AssumeRole":
			ev.RequestParameters = map[string]any{"roleArn": "arn:aws:iam::" + account + ":role/" + roles[rng.IntN(len(roles))], "roleSessionName": "session-" + hexID(8), "durationSeconds": 3600}
			ev.ResponseElements = map[string]any{"credentials": map[string]any{"accessKeyId": "ASIA" + strings.ToUpper(hexID(16)),
				"sessionToken": hexID(200), "expiration": "Mar 1, 2024, 1:00:00 AM"},
				"assumedRoleUser": map[string]any{"assumedRoleId": "AROAEXAMPLE:session", "arn": "arn:aws:sts::" + account + ":assumed-role/x/session"}}
			ev.SharedEventID = uuid()
		case "RunInstances":
			ev.RequestParameters = map[string]any{"instancesSet": map[string]any{"items": []any{map[string]any{"imageId": "ami-" + hexID(17), "minCount": 1, "maxCount": 1}}},
				"instanceType": "t3.micro", "blockDeviceMapping": map[string]any{}, "monitoring": map[string]any{"enabled": false}, "disableApiTermination": false}
			ev.ResponseElements = map[string]any{"requestId": uuid(), "reservationId": "r-" + hexID(17), "ownerId": account,
				"instancesSet": map[string]any{"items": []any{map[string]any{"instanceId": "i-" + hexID(17), "imageId": "ami-" + hexID(17),
					"instanceState": map[string]any{"code": 0, "name": "pending"}, "privateIpAddress": "10.0.1.23", "launchTime": 1709251200000}}}}
		default:
			if rng.IntN(3) == 0 {
				ev.RequestParameters = map[string]any{"maxResults": 100, "nextToken": hexID(40)}
			}
		}
		if rng.IntN(25) == 0 {
			ev.ErrorCode = "AccessDenied"
			ev.ErrorMessage = "User: " + fmt.Sprint(ev.UserIdentity["arn"]) + " is not authorized to perform: " +
				strings.TrimSuffix(api.source, ".amazonaws.com") + ":" + api.name + " because no identity-based policy allows the \"" + api.name + "\" action"
			ev.ResponseElements = nil
		}
		if rng.IntN(10) == 0 {
			ev.VPCEndpointID = []string{"vpce-0a1b2c3d4e5f60718", "vpce-0f9e8d7c6b5a40312"}[rng.IntN(2)]
		}
		b, err := json.Marshal(ev)
		if err != nil {
			panic(err)
		}
		if !lines && i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
		if lines {
			buf.WriteByte('\n')
		}
	}
	if !lines {
		buf.WriteString("]}\n")
	}
	return buf.Bytes()
}

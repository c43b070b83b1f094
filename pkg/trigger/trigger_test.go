package trigger_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/trigger"
)

const (
	policyParameter = "/privatelink-approver/policy"
	sampleService   = "vpce-svc-0123456789abcdef0"
)

// sample reads a payload from events/, the same files `sam local invoke -e`
// uses.
func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	require.NoError(t, err)
	return b
}

func TestDecodeSamples(t *testing.T) {
	tests := []struct {
		file string
		want trigger.Trigger
	}{
		{"eventbridge-scheduled-event.json", trigger.Trigger{Kind: trigger.Schedule, Source: trigger.FromEventBridge,
			Sweep: true, Targets: []trigger.Target{{All: true}}}},
		{"cloudtrail-create-vpc-endpoint.json", trigger.Trigger{Kind: trigger.CloudTrail, Source: trigger.FromEventBridge,
			Targets: []trigger.Target{{Services: []string{sampleService}}}}},
		{"cloudtrail-create-vpc-endpoint-s3.json", trigger.Trigger{Kind: trigger.CloudTrail, Source: trigger.FromEventBridge,
			Ignored: "CreateVpcEndpoint names no endpoint service ID"}},
		{"ssm-parameter-store-change.json", trigger.Trigger{Kind: trigger.PolicyChange, Source: trigger.FromEventBridge,
			ReloadPolicy: true, ForgetMemberships: true, Sweep: true, Targets: []trigger.Target{{All: true}}}},
		{"cloudtrail-organizations-move-account.json", trigger.Trigger{Kind: trigger.OrganizationChange, Source: trigger.FromEventBridge,
			ForgetMemberships: true, Sweep: true, Targets: []trigger.Target{{All: true}}}},
		{"cloudtrail-organizations-create-account-result.json", trigger.Trigger{Kind: trigger.OrganizationChange, Source: trigger.FromEventBridge,
			ForgetMemberships: true, Sweep: true, Targets: []trigger.Target{{All: true}}}},
		{"cloudtrail-organizations-accept-handshake.json", trigger.Trigger{Kind: trigger.OrganizationChange, Source: trigger.FromEventBridge,
			ForgetMemberships: true, Sweep: true, Targets: []trigger.Target{{All: true}}}},
		{"ssm-parameter-store-change-other.json", trigger.Trigger{Kind: trigger.PolicyChange, Source: trigger.FromEventBridge,
			Ignored: `parameter "/some-other-app/setting" changed; the policy is "/privatelink-approver/policy"`}},
		{"sqs-sns-connection-notification.json", trigger.Trigger{Kind: trigger.Notification, Source: trigger.FromSQS,
			Targets: []trigger.Target{{ID: "059f36b4-87a3-44ab-83d2-661975830a7d", Services: []string{sampleService}}}}},
		{"sqs-raw-connection-notification.json", trigger.Trigger{Kind: trigger.Notification, Source: trigger.FromSQS,
			Targets: []trigger.Target{{ID: "2e1424d4-f796-459a-8184-9c92662be6da", Services: []string{sampleService}}}}},
		{"sns-connection-notification.json", trigger.Trigger{Kind: trigger.Notification, Source: trigger.FromSNS,
			Targets: []trigger.Target{{Services: []string{sampleService}}}}},
		{"cloudformation-custom-resource-delete.json", trigger.Trigger{Kind: trigger.CustomResource, Source: trigger.FromCloudFormation}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := trigger.Decode(sample(t, tt.file), policyParameter)
			if tt.want.Kind == trigger.CustomResource {
				require.NoError(t, err)
				require.NotNil(t, got.Resource)
				assert.Equal(t, "ConnectionNotificationCleanup", got.Resource.LogicalResourceID)
				assert.Equal(t, cfn.RequestDelete, got.Resource.RequestType)
				got.Resource = nil
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestSamplesMatchTheirTypes fails when a sample no longer matches the
// aws-lambda-go type it stands for, as aws-lambda-go's own tests do.
func TestSamplesMatchTheirTypes(t *testing.T) {
	tests := []struct {
		file  string
		typed any
	}{
		{"eventbridge-scheduled-event.json", &events.EventBridgeEvent{}},
		{"cloudtrail-create-vpc-endpoint.json", &events.EventBridgeEvent{}},
		{"cloudtrail-create-vpc-endpoint-s3.json", &events.EventBridgeEvent{}},
		{"ssm-parameter-store-change.json", &events.EventBridgeEvent{}},
		{"ssm-parameter-store-change-other.json", &events.EventBridgeEvent{}},
		{"cloudtrail-organizations-move-account.json", &events.EventBridgeEvent{}},
		{"cloudtrail-organizations-create-account-result.json", &events.EventBridgeEvent{}},
		{"cloudtrail-organizations-accept-handshake.json", &events.EventBridgeEvent{}},
		{"sqs-sns-connection-notification.json", &events.SQSEvent{}},
		{"sqs-raw-connection-notification.json", &events.SQSEvent{}},
		{"sns-connection-notification.json", &events.SNSEvent{}},
		// CloudFormation sends ServiceToken at the top level too; cfn.Event
		// keeps it in ResourceProperties only.
		{"cloudformation-custom-resource-delete.json", &struct {
			cfn.Event
			ServiceToken string `json:"ServiceToken"`
		}{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in := sample(t, tt.file)
			require.NoError(t, json.Unmarshal(in, tt.typed))
			out, err := json.Marshal(tt.typed)
			require.NoError(t, err)
			assert.JSONEq(t, string(in), string(out))
		})
	}
}

func TestDecodeNotifications(t *testing.T) {
	sqs := func(bodies ...string) []byte { return sqsRecords(t, bodies...) }
	envelope := func(message string) string {
		out, err := json.Marshal(map[string]string{"Type": "Notification", "Message": message})
		require.NoError(t, err)
		return string(out)
	}
	tests := []struct {
		name    string
		payload []byte
		want    []trigger.Target
	}{
		{"SNS envelope naming one service", sqs(envelope(`{"ServiceId":"vpce-svc-0aaaaaaaaaaaaaaaa"}`)),
			[]trigger.Target{{ID: "a", Services: []string{"vpce-svc-0aaaaaaaaaaaaaaaa"}}}},
		{"raw message naming two services, once each", sqs(`svc vpce-svc-0bbbbbbbbbbbbbbbb and vpce-svc-0aaaaaaaaaaaaaaaa, vpce-svc-0bbbbbbbbbbbbbbbb`),
			[]trigger.Target{{ID: "a", Services: []string{"vpce-svc-0aaaaaaaaaaaaaaaa", "vpce-svc-0bbbbbbbbbbbbbbbb"}}}},
		{"a message naming no service sweeps all", sqs(envelope(`{"NotificationType":"Connect"}`)),
			[]trigger.Target{{ID: "a", All: true}}},
		{"a body that is not JSON is a raw message", sqs(`Connect vpce-svc-0aaaaaaaaaaaaaaaa`),
			[]trigger.Target{{ID: "a", Services: []string{"vpce-svc-0aaaaaaaaaaaaaaaa"}}}},
		{"an ID inside a longer token is not an ID", sqs(`vpce-svc-0aaaaaaaaaaaaaaaaaaaaaa`),
			[]trigger.Target{{ID: "a", All: true}}},
		{"one target per record", sqs(`vpce-svc-0aaaaaaaaaaaaaaaa`, envelope(`vpce-svc-0bbbbbbbbbbbbbbbb`)),
			[]trigger.Target{{ID: "a", Services: []string{"vpce-svc-0aaaaaaaaaaaaaaaa"}}, {ID: "b", Services: []string{"vpce-svc-0bbbbbbbbbbbbbbbb"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := trigger.Decode(tt.payload, policyParameter)
			require.NoError(t, err)
			assert.Equal(t, trigger.Notification, got.Kind)
			assert.Equal(t, tt.want, got.Targets)
		})
	}
}

func TestDecodeRejectsWhatItDoesNotHandle(t *testing.T) {
	tests := []struct {
		name     string
		payload  string
		wantText string
	}{
		{"not JSON", `hello`, "not a JSON object"},
		{"a JSON string", `"hello"`, "not a JSON object"},
		{"empty object", `{}`, "keys (none)"},
		{"unknown object", `{"foo": 1, "bar": 2}`, "keys bar, foo"},
		{"empty records", `{"Records": []}`, "Records is empty"},
		{"S3 records", `{"Records": [{"eventSource": "aws:s3"}]}`, `"aws:s3"`},
		{"mixed records", `{"Records": [{"eventSource": "aws:sqs", "messageId": "a"}, {"eventSource": "aws:s3"}]}`, "Records[1]"},
		{"SQS record without messageId", `{"Records": [{"eventSource": "aws:sqs", "body": "x"}]}`, "no messageId"},
		{"other EventBridge event", `{"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}}`,
			`"EC2 Instance State-change Notification" from source "aws.ec2"`},
		{"other CloudTrail call", `{"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": {"eventName": "DeleteVpcEndpoints"}}`,
			`"DeleteVpcEndpoints"`},
		{"other Organizations call", `{"detail-type": "AWS API Call via CloudTrail", "source": "aws.organizations", "detail": {"eventName": "CreateAccount"}}`,
			`AWS Organizations CloudTrail event "CreateAccount" (only MoveAccount, RemoveAccountFromOrganization, LeaveOrganization, AcceptHandshake are handled)`},
		{"other Organizations service event", `{"detail-type": "AWS Service Event via CloudTrail", "source": "aws.organizations", "detail": {"eventName": "CreateGovCloudAccountResult"}}`,
			`AWS Organizations service event "CreateGovCloudAccountResult" (only CreateAccountResult are handled)`},
		{"malformed Organizations service event", `{"detail-type": "AWS Service Event via CloudTrail", "source": "aws.organizations", "detail": []}`,
			"malformed CloudTrail service event detail"},
		{"malformed Organizations detail", `{"detail-type": "AWS API Call via CloudTrail", "source": "aws.organizations", "detail": "MoveAccount"}`,
			"malformed CloudTrail detail"},
		{"schedule from another source", `{"detail-type": "Scheduled Event", "source": "custom.app", "detail": {}}`, `"custom.app"`},
		{"malformed detail", `{"detail-type": "Parameter Store Change", "source": "aws.ssm", "detail": []}`, "malformed Parameter Store Change"},
		{"custom resource of an unknown request type", `{"RequestType": "Rollback", "ResponseURL": "https://example.com/r", "StackId": "s", "RequestId": "r", "LogicalResourceId": "l"}`,
			`RequestType "Rollback"`},
		{"custom resource answered over plain HTTP", `{"RequestType": "Delete", "ResponseURL": "http://127.0.0.1:9001/2018-06-01/runtime", "StackId": "s", "RequestId": "r", "LogicalResourceId": "l"}`,
			"want an https URL"},
		{"custom resource without a ResponseURL", `{"RequestType": "Delete", "StackId": "s", "RequestId": "r", "LogicalResourceId": "l"}`,
			"want an https URL"},
		{"custom resource without a StackId", `{"RequestType": "Delete", "ResponseURL": "https://example.com/r", "RequestId": "r", "LogicalResourceId": "l"}`,
			"without StackId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := trigger.Decode([]byte(tt.payload), policyParameter)
			require.ErrorIs(t, err, trigger.ErrUnsupported)
			assert.Contains(t, err.Error(), tt.wantText)
		})
	}
}

func TestAFailedAccountCreationIsIgnored(t *testing.T) {
	got, err := trigger.Decode([]byte(`{"detail-type": "AWS Service Event via CloudTrail", "source": "aws.organizations",
		"detail": {"eventName": "CreateAccountResult", "serviceEventDetails": {"createAccountStatus": {"state": "FAILED"}}}}`), policyParameter)
	require.NoError(t, err)
	assert.Equal(t, trigger.Trigger{Kind: trigger.OrganizationChange, Source: trigger.FromEventBridge,
		Ignored: `CreateAccountResult in state "FAILED": no account joined`}, got)
}

func TestAChangeOfASharedPolicyComesFromItsOwnAccount(t *testing.T) {
	const shared = "arn:aws:ssm:eu-west-1:999988887777:parameter/privatelink/policy"
	tests := []struct {
		name, param, account, region, policy string
		want                                 bool
	}{
		{"the shared parameter, in its account and Region", "/privatelink/policy", "999988887777", "eu-west-1", shared, true},
		{"the same name in the member's own account", "/privatelink/policy", "111122223333", "eu-west-1", shared, false},
		{"the same name in another Region", "/privatelink/policy", "999988887777", "us-east-1", shared, false},
		{"another parameter there", "/privatelink/other", "999988887777", "eu-west-1", shared, false},
		{"a local parameter, from any event", "/privatelink/policy", "111122223333", "eu-west-1", "/privatelink/policy", true},
		{"a part under a local path", "/privatelink/policies/team", "111122223333", "eu-west-1", "/privatelink/policies/", true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, trigger.IsPolicyParameter(tt.param, tt.account, tt.region, tt.policy), tt.name)
	}
}

func TestAMessageFromThePolicyChangeTopicReloadsAndSweeps(t *testing.T) {
	const topic = "arn:aws:sns:eu-west-1:999988887777:privatelink-policy-changes"
	change := `{"detail-type": "Parameter Store Change", "source": "aws.ssm", "account": "999988887777", "region": "eu-west-1",
		"detail": {"name": "/privatelink/policy", "operation": "Update"}}`
	envelope := func(topicArn, message string) string {
		out, err := json.Marshal(map[string]string{"Type": "Notification", "TopicArn": topicArn, "Message": message})
		require.NoError(t, err)
		return string(out)
	}
	sqs := func(bodies ...string) []byte { return sqsRecords(t, bodies...) }
	cfg := trigger.Config{PolicyParameter: "arn:aws:ssm:eu-west-1:999988887777:parameter/privatelink/policy", PolicyChangeTopicARN: topic}
	tests := []struct {
		name    string
		cfg     trigger.Config
		payload []byte
		want    trigger.Trigger
	}{
		{"from the topic: reload and sweep", cfg, sqs(envelope(topic, change)),
			trigger.Trigger{Kind: trigger.PolicyChange, Source: trigger.FromSQS, ReloadPolicy: true, ForgetMemberships: true, Sweep: true,
				Targets: []trigger.Target{{ID: "a", All: true}}}},
		{"with a connection notification in the same batch", cfg, sqs(`{"ServiceId":"vpce-svc-0aaaaaaaaaaaaaaaa"}`, envelope(topic, change)),
			trigger.Trigger{Kind: trigger.PolicyChange, Source: trigger.FromSQS, ReloadPolicy: true, ForgetMemberships: true, Sweep: true,
				Targets: []trigger.Target{{ID: "a", Services: []string{"vpce-svc-0aaaaaaaaaaaaaaaa"}}, {ID: "b", All: true}}}},
		{"from the topic, about another parameter: a wake-up", cfg, sqs(envelope(topic, strings.Replace(change, "/privatelink/policy", "/other", 1))),
			trigger.Trigger{Kind: trigger.Notification, Source: trigger.FromSQS, Targets: []trigger.Target{{ID: "a", All: true}}}},
		{"from the topic, not a Parameter Store Change: a wake-up", cfg, sqs(envelope(topic, `{"ServiceId": "vpce-svc-0aaaaaaaaaaaaaaaa"}`)),
			trigger.Trigger{Kind: trigger.Notification, Source: trigger.FromSQS, Targets: []trigger.Target{{ID: "a", Services: []string{"vpce-svc-0aaaaaaaaaaaaaaaa"}}}}},
		{"from another topic: a wake-up, no reload", cfg, sqs(envelope("arn:aws:sns:eu-west-1:111122223333:other", change)),
			trigger.Trigger{Kind: trigger.Notification, Source: trigger.FromSQS, Targets: []trigger.Target{{ID: "a", All: true}}}},
		{"no topic configured: a wake-up", trigger.Config{PolicyParameter: cfg.PolicyParameter}, sqs(envelope(topic, change)),
			trigger.Trigger{Kind: trigger.Notification, Source: trigger.FromSQS, Targets: []trigger.Target{{ID: "a", All: true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.Decode(tt.payload)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// sqsRecords is an SQS event of bodies, with message IDs a, b, ...
func sqsRecords(t *testing.T, bodies ...string) []byte {
	t.Helper()
	ev := events.SQSEvent{}
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: string(rune('a' + i)), Body: b, EventSource: "aws:sqs"})
	}
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	return out
}

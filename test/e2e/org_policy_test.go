//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// member is one provider account's stack in one Region: its service, its
// function (running as that account) and its notification queue.
type member struct {
	account string
	svc     localaws.Service
	f       *localaws.Function
	queue   string
	events  *localaws.EventCapture
}

func TestOnePolicyForAnOrganization(t *testing.T) {
	const (
		securityAccount = "329900000000"
		policyName      = "/privatelink/organization-policy"
		partner         = "111122223333"
		newPartner      = "444455556666"
	)
	regions := []string{"us-west-2", "eu-central-1"}
	accounts := []string{"320000000001", "320000000002", "320000000003"}

	// The security account: one Advanced-tier policy per Region, shared,
	// and a topic announcing its changes.
	topics := map[string]string{}
	share := func(region, value string) {
		t.Helper()
		_, err := ssm.NewFromConfig(moto.Config(securityAccount, region)).PutParameter(ctx(t), &ssm.PutParameterInput{
			Name: aws.String(policyName), Value: aws.String(value), Type: ssmtypes.ParameterTypeString,
			Tier: ssmtypes.ParameterTierAdvanced, Overwrite: aws.Bool(true)})
		require.NoError(t, err)
	}
	for _, region := range regions {
		share(region, partner)
		topic, err := sns.NewFromConfig(moto.Config(securityAccount, region)).CreateTopic(ctx(t), &sns.CreateTopicInput{Name: aws.String("privatelink-policy-changes")})
		require.NoError(t, err)
		topics[region] = aws.ToString(topic.TopicArn)
	}

	// Every provider account, in every Region: a stack reading the shared
	// policy by its ARN, its queue subscribed to the central topic.
	var members []member
	for _, account := range accounts {
		for _, region := range regions {
			cfg := moto.Config(account, region)
			svc, err := moto.CreateServiceIn(ctx(t), account, region)
			require.NoError(t, err)
			q, err := sqs.NewFromConfig(cfg).CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("notifications")})
			require.NoError(t, err)
			attrs, err := sqs.NewFromConfig(cfg).GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
				AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
			require.NoError(t, err)
			_, err = sns.NewFromConfig(moto.Config(securityAccount, region)).Subscribe(ctx(t), &sns.SubscribeInput{
				TopicArn: aws.String(topics[region]), Protocol: aws.String("sqs"),
				Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])})
			require.NoError(t, err)
			// The function runs as the account: moto tells accounts apart by
			// the credentials of an assumed role.
			creds, err := sts.NewFromConfig(cfg).AssumeRole(ctx(t), &sts.AssumeRoleInput{
				RoleArn: aws.String(fmt.Sprintf("arn:aws:iam::%s:role/privatelink-approver", account)), RoleSessionName: aws.String("approver")})
			require.NoError(t, err)
			env := []string{
				"AWS_ENDPOINT_URL=" + moto.URL, "AWS_REGION=" + region, "AWS_DEFAULT_REGION=" + region,
				"AWS_ACCESS_KEY_ID=" + aws.ToString(creds.Credentials.AccessKeyId),
				"AWS_SECRET_ACCESS_KEY=" + aws.ToString(creds.Credentials.SecretAccessKey),
				"AWS_SESSION_TOKEN=" + aws.ToString(creds.Credentials.SessionToken),
				fmt.Sprintf("POLICY_PARAMETER=arn:aws:ssm:%s:%s:parameter%s", region, securityAccount, policyName),
				"POLICY_CHANGE_TOPIC_ARN=" + topics[region],
				"SERVICE_IDS=" + svc.ID, "POLICY_CACHE_SECONDS=300",
			}
			f, err := localaws.StartFunction(rie, bootstrap, env, nil)
			require.NoError(t, err)
			// Its decisions, as events on its own default bus.
			events, err := moto.CaptureEvents(ctx(t), account, region, "decisions", `{"source": ["privatelink-approver"]}`)
			require.NoError(t, err)
			m := member{account: account, svc: svc, f: f, queue: aws.ToString(q.QueueUrl), events: events}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("function of %s in %s:\n%s", m.account, m.svc.Region, m.f.Output())
				}
				m.f.Stop()
			})
			members = append(members, m)
		}
	}
	request := func(m member, consumer string) string {
		t.Helper()
		id, err := moto.CreateEndpoint(ctx(t), m.svc, localaws.Endpoint{Account: consumer})
		require.NoError(t, err)
		return id
	}
	state := func(m member, id string) string {
		t.Helper()
		states, err := moto.StatesIn(ctx(t), m.account, m.svc)
		require.NoError(t, err)
		return states[id]
	}
	sweep, err := localaws.SampleEvent("eventbridge-scheduled-event.json")
	require.NoError(t, err)

	// One policy decides everywhere.
	for _, m := range members {
		id := request(m, partner)
		invoke(t, m.f, sweep, &summary{})
		assert.Equal(t, "available", state(m, id), "%s in %s: accepted by the shared policy", m.account, m.svc.Region)
	}

	// The security account changes it; its rule announces the change on
	// the central topic (published here as the rule would), and every
	// member's function, woken from its own queue, decides with it.
	waiting := map[int]string{}
	for i, m := range members {
		waiting[i] = request(m, newPartner)
	}
	for _, region := range regions {
		share(region, partner+","+newPartner)
		event := fmt.Sprintf(`{"version": "0", "detail-type": "Parameter Store Change", "source": "aws.ssm", "account": %q, "region": %q,
			"detail": {"name": %q, "type": "String", "operation": "Update"}}`, securityAccount, region, policyName)
		_, err := sns.NewFromConfig(moto.Config(securityAccount, region)).Publish(ctx(t), &sns.PublishInput{
			TopicArn: aws.String(topics[region]), Message: aws.String(event)})
		require.NoError(t, err)
	}
	for i, m := range members {
		out, err := sqs.NewFromConfig(moto.Config(m.account, m.svc.Region)).ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(m.queue), MaxNumberOfMessages: 10})
		require.NoError(t, err)
		require.Len(t, out.Messages, 1, "%s in %s: the change reached its queue", m.account, m.svc.Region)
		var bodies []string
		for _, msg := range out.Messages {
			bodies = append(bodies, aws.ToString(msg.Body))
		}
		var resp batchResponse
		invoke(t, m.f, sqsEvent(t, bodies...), &resp)
		assert.Empty(t, resp.ids())
		lines := m.f.Logs("summary")
		require.NotEmpty(t, lines)
		assert.Equal(t, "policy-change", lines[len(lines)-1]["trigger"], "%s in %s: read again and swept", m.account, m.svc.Region)
		assert.Equal(t, "available", state(m, waiting[i]), "%s in %s: decided by the new version", m.account, m.svc.Region)
		// Both accepts are events on the account's bus, the second
		// naming the new policy version.
		evs, err := m.events.Events(ctx(t))
		require.NoError(t, err)
		var accepted []string
		for _, ev := range evs {
			var d struct {
				EndpointID, Result, PolicyVersion string
			}
			require.NoError(t, json.Unmarshal(ev.Detail, &d))
			assert.Equal(t, "PrivateLink Connection Decision", ev.DetailType)
			if d.Result == "accepted" {
				accepted = append(accepted, d.EndpointID+"@"+d.PolicyVersion)
			}
		}
		assert.Contains(t, accepted, waiting[i]+"@2", "%s in %s: the decision is an event", m.account, m.svc.Region)
	}
}

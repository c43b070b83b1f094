//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// central is the security account that owns the organization's policy.
const central = "999900002222"

func TestOneSharedPolicyReadByItsARNAndItsChangesAnnounced(t *testing.T) {
	s := newScenarioIn(t, 1, "us-east-1")
	owner := ssm.NewFromConfig(moto.Config(central, s.region))
	name := "/privatelink/shared-policy-" + s.svc().ID
	arn := fmt.Sprintf("arn:aws:ssm:%s:%s:parameter%s", s.region, central, name)
	const topic = "arn:aws:sns:us-east-1:999900002222:privatelink-policy-changes"
	share := func(value string, tier ssmtypes.ParameterTier) {
		t.Helper()
		_, err := owner.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value),
			Type: ssmtypes.ParameterTypeString, Tier: tier, Overwrite: aws.Bool(true)})
		require.NoError(t, err)
	}
	// The central account's change event, as its topic delivers it to the
	// member's queue (not raw: the envelope names the topic).
	changeFrom := func(topicArn string) []byte {
		t.Helper()
		event := fmt.Sprintf(`{"detail-type": "Parameter Store Change", "source": "aws.ssm", "account": %q, "region": %q,
			"detail": {"name": %q, "operation": "Update"}}`, central, s.region, name)
		body, err := json.Marshal(map[string]string{"Type": "Notification", "TopicArn": topicArn, "Message": event})
		require.NoError(t, err)
		return sqsEvent(t, string(body))
	}
	lastSummary := func(f interface{ Logs(string) []map[string]any }) map[string]any {
		t.Helper()
		lines := f.Logs("summary")
		require.NotEmpty(t, lines)
		return lines[len(lines)-1]
	}

	share(`111122223333`, ssmtypes.ParameterTierAdvanced)
	f := s.function("POLICY_PARAMETER="+arn, "POLICY_CHANGE_TOPIC_ARN="+topic, "POLICY_CACHE_SECONDS=300")

	first := s.endpoint(s.svc(), "111122223333")
	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, "available", s.states(s.svc())[first], "decided by the shared policy, read by its ARN")
	decisions := f.Logs("decision")
	require.NotEmpty(t, decisions)
	assert.Equal(t, arn, decisions[len(decisions)-1]["policyParameter"])

	// The owner changes it; the change is announced on the central topic.
	share(`111122223333,444455556666`, ssmtypes.ParameterTierAdvanced)
	second := s.endpoint(s.svc(), "444455556666")
	var resp batchResponse
	invoke(t, f, changeFrom(topic), &resp)
	assert.Empty(t, resp.ids())
	assert.Equal(t, "policy-change", lastSummary(f)["trigger"], "a message from the central topic is a policy change: reload and sweep")
	assert.Equal(t, "available", s.states(s.svc())[second], "decided with the new version")

	// The same message from another topic is only a wake-up.
	invoke(t, f, changeFrom("arn:aws:sns:us-east-1:999900002222:other"), &resp)
	assert.Equal(t, "notification", lastSummary(f)["trigger"])

	// A Standard-tier parameter cannot be shared: nothing is decided.
	_, err := owner.DeleteParameter(ctx(t), &ssm.DeleteParameterInput{Name: aws.String(name)})
	require.NoError(t, err)
	share(`111122223333,444455556666,777788889999`, ssmtypes.ParameterTierStandard)
	third := s.endpoint(s.svc(), "777788889999")
	msg := invokeErr(t, f, s.sample("eventbridge-scheduled-event.json"))
	assert.Contains(t, msg, "nothing decided")
	assert.Equal(t, "pendingAcceptance", s.states(s.svc())[third])
}

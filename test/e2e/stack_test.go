//go:build e2e

package e2e

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// cloudFormation stands in for the pre-signed S3 URL CloudFormation waits
// on for a custom resource's answer, over TLS as S3 is.
type cloudFormation struct {
	server  *httptest.Server
	caFile  string
	mu      sync.Mutex
	answers []map[string]any
}

func newCloudFormation(t *testing.T) *cloudFormation {
	t.Helper()
	cf := &cloudFormation{}
	cf.server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var answer map[string]any
		_ = json.Unmarshal(body, &answer)
		cf.mu.Lock()
		cf.answers = append(cf.answers, answer)
		cf.mu.Unlock()
	}))
	cf.server.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	cf.server.StartTLS()
	t.Cleanup(cf.server.Close)
	// The function trusts it through SSL_CERT_FILE, as it would trust S3
	// through the system's roots.
	cf.caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cf.server.Certificate().Raw})
	require.NoError(t, os.WriteFile(cf.caFile, pemBytes, 0o600))
	return cf
}

// request is events/cloudformation-custom-resource-delete.json as
// requestType, answered here, naming topic.
func (cf *cloudFormation) request(t *testing.T, requestType, topic string) []byte {
	t.Helper()
	b, err := localaws.SampleEvent("cloudformation-custom-resource-delete.json")
	require.NoError(t, err)
	var ev map[string]any
	require.NoError(t, json.Unmarshal(b, &ev))
	ev["RequestType"] = requestType
	ev["ResponseURL"] = cf.server.URL + "/answer"
	ev["ResourceProperties"].(map[string]any)["TopicArn"] = topic
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	return out
}

func (cf *cloudFormation) last(t *testing.T) map[string]any {
	t.Helper()
	cf.mu.Lock()
	defer cf.mu.Unlock()
	require.NotEmpty(t, cf.answers, "CloudFormation got an answer")
	return cf.answers[len(cf.answers)-1]
}

func TestListedServicesRegisterNotificationsAndDeletingTheStackRemovesThem(t *testing.T) {
	const region = "us-east-1" // the inbox's topic is in the usual Region
	s := newScenarioIn(t, 2, region)
	inbox, err := moto.CreateInbox(ctx(t), "stack-notifications")
	require.NoError(t, err)
	other, err := moto.CreateInbox(ctx(t), "someone-elses-notifications")
	require.NoError(t, err)
	s.policy(allowed)
	cf := newCloudFormation(t)
	f := s.function("CONNECTION_TOPIC_ARN="+inbox.TopicARN, "SSL_CERT_FILE="+cf.caFile)
	client := ec2.NewFromConfig(moto.Config(localaws.ProviderAccount, region))
	onTopic := func(topic string) []string {
		t.Helper()
		out, err := client.DescribeVpcEndpointConnectionNotifications(ctx(t), &ec2.DescribeVpcEndpointConnectionNotificationsInput{})
		require.NoError(t, err)
		var services []string
		for _, n := range out.ConnectionNotificationSet {
			if aws.ToString(n.ConnectionNotificationArn) == topic {
				services = append(services, aws.ToString(n.ServiceId))
			}
		}
		return services
	}
	// Someone else's notification on one of the services: never touched.
	_, err = client.CreateVpcEndpointConnectionNotification(ctx(t), &ec2.CreateVpcEndpointConnectionNotificationInput{
		ServiceId: aws.String(s.services[0].ID), ConnectionNotificationArn: aws.String(other.TopicARN), ConnectionEvents: []string{"Connect"}})
	require.NoError(t, err)

	// A sweep registers a notification for each listed service (SERVICE_IDS).
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
	assert.ElementsMatch(t, []string{s.services[0].ID, s.services[1].ID}, onTopic(inbox.TopicARN))

	t.Run("creating the cleanup resource checks its topic and deletes nothing", func(t *testing.T) {
		invoke(t, f, cf.request(t, "Create", inbox.TopicARN), &map[string]any{})
		assert.Equal(t, "SUCCESS", cf.last(t)["Status"])
		invoke(t, f, cf.request(t, "Create", other.TopicARN), &map[string]any{})
		assert.Equal(t, "FAILED", cf.last(t)["Status"], "a resource naming another topic is refused")
		assert.Contains(t, cf.last(t)["Reason"], "CONNECTION_TOPIC_ARN")
		assert.Len(t, onTopic(inbox.TopicARN), 2)
	})

	t.Run("deleting it removes the stack's notifications only", func(t *testing.T) {
		invoke(t, f, cf.request(t, "Delete", inbox.TopicARN), &map[string]any{})
		answer := cf.last(t)
		assert.Equal(t, "SUCCESS", answer["Status"])
		assert.Equal(t, map[string]any{"Deleted": float64(2)}, answer["Data"])
		assert.Empty(t, onTopic(inbox.TopicARN))
		assert.Equal(t, []string{s.services[0].ID}, onTopic(other.TopicARN), "another topic's notification is kept")
	})
}

func TestATenSecondFunctionDecidesEveryServiceWithinAFewSweeps(t *testing.T) {
	s := newScenario(t, 3)
	s.policy(allowed)
	// The shortest timeout the template allows (7 s once the handler keeps
	// its answer margin), and an Accept call that takes 2 s: the function
	// starts the first service in turn, and the next only with as long
	// left as the last took and the stamp reserve.
	f := s.function("AWS_LAMBDA_FUNCTION_TIMEOUT=10")
	faults(t, map[string]any{"delays": map[string]float64{"ec2:AcceptVpcEndpointConnections": 2}})
	var ids []string
	for _, svc := range s.services {
		ids = append(ids, s.endpoint(svc, allowed))
	}
	accepted := func() int {
		n := 0
		states := s.allStates()
		for _, id := range ids {
			if states[id] == "available" {
				n++
			}
		}
		return n
	}
	for sweep := 1; accepted() < len(ids); sweep++ {
		require.LessOrEqual(t, sweep, 4, "every service decided within 4 sweeps; %d of %d", accepted(), len(ids))
		before := accepted()
		// A sweep may end with a call cut by the deadline (it then fails);
		// what matters is that each one makes progress.
		_, _ = f.Invoke(ctx(t), s.sample("eventbridge-scheduled-event.json"))
		assert.Greater(t, accepted(), before, "sweep %d decided at least one service", sweep)
	}
	for i, svc := range s.services {
		assert.NotEmpty(t, s.tags(svc, ids[i])["privatelink-approver:decided-at"], "%s: every decision applied is stamped, none cut by the deadline", ids[i])
	}
}

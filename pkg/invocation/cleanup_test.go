package invocation_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/invocation"
)

var _ invocation.Unregisterer = (*approver.Approver)(nil)

const topic = "arn:aws:sns:us-east-1:123456789012:privatelink-approver-ConnectionNotificationTopic-EXAMPLE"

// unregisterer is a fake that records the topics it was asked to clean.
type unregisterer struct {
	own   string
	err   error
	asked []string
}

func (u *unregisterer) ConnectionTopic() string { return u.own }

func (u *unregisterer) Unregister(_ context.Context, topic string) (int, error) {
	u.asked = append(u.asked, topic)
	if u.err != nil {
		return 0, u.err
	}
	return 3, nil
}

// cloudFormation is a stand-in for the pre-signed S3 URL CloudFormation
// waits on: it keeps the answers PUT to it.
type cloudFormation struct {
	mu      sync.Mutex
	answers []map[string]any
}

func (c *cloudFormation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var answer map[string]any
	_ = json.Unmarshal(body, &answer)
	c.mu.Lock()
	c.answers = append(c.answers, answer)
	c.mu.Unlock()
}

func TestTheCleanupResourceAnswersCloudFormation(t *testing.T) {
	cf := &cloudFormation{}
	server := httptest.NewTLSServer(cf)
	defer server.Close()
	// aws-lambda-go's cfn package answers with http.DefaultClient: have it
	// trust the test server. (No test of this package runs in parallel.)
	saved := http.DefaultClient.Transport
	http.DefaultClient.Transport = server.Client().Transport
	defer func() { http.DefaultClient.Transport = saved }()

	request := func(requestType, resourceType, topicArn string) json.RawMessage {
		b, err := json.Marshal(map[string]any{
			"RequestType": requestType, "ResponseURL": server.URL + "/answer",
			"StackId":   "arn:aws:cloudformation:us-east-1:123456789012:stack/privatelink-approver/1",
			"RequestId": "req-1", "LogicalResourceId": "ConnectionNotificationCleanup",
			"PhysicalResourceId": "connection-notifications", "ResourceType": resourceType,
			"ResourceProperties": map[string]any{"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f", "TopicArn": topicArn},
		})
		require.NoError(t, err)
		return b
	}
	tests := []struct {
		name        string
		payload     json.RawMessage
		fake        *unregisterer
		wantStatus  string
		wantReason  string
		wantAsked   []string
		wantDeleted any
	}{
		{name: "delete removes the notifications on the topic, and looks again", payload: request("Delete", invocation.CleanupResourceType, topic),
			fake: &unregisterer{own: topic}, wantStatus: "SUCCESS", wantAsked: []string{topic, topic}, wantDeleted: float64(6)},
		{name: "create checks the topic and deletes nothing", payload: request("Create", invocation.CleanupResourceType, topic),
			fake: &unregisterer{own: topic}, wantStatus: "SUCCESS"},
		{name: "update too", payload: request("Update", invocation.CleanupResourceType, topic),
			fake: &unregisterer{own: topic}, wantStatus: "SUCCESS"},
		{name: "create naming another topic fails", payload: request("Create", invocation.CleanupResourceType, "arn:aws:sns:us-east-1:123456789012:other"),
			fake: &unregisterer{own: topic}, wantStatus: "FAILED", wantReason: "is not the function's CONNECTION_TOPIC_ARN"},
		{name: "delete naming another topic deletes nothing, and never blocks the deletion", payload: request("Delete", invocation.CleanupResourceType, "arn:aws:sns:us-east-1:123456789012:other"),
			fake: &unregisterer{own: topic}, wantStatus: "SUCCESS", wantDeleted: float64(0)},
		{name: "a failed delete fails, naming why", payload: request("Delete", invocation.CleanupResourceType, topic),
			fake: &unregisterer{own: topic, err: errors.New("delete the 3 connection notifications: UnauthorizedOperation")}, wantStatus: "FAILED",
			wantReason: "UnauthorizedOperation", wantAsked: []string{topic}},
		{name: "another resource type is refused", payload: request("Delete", "Custom::Other", topic),
			fake: &unregisterer{own: topic}, wantStatus: "FAILED", wantReason: `"Custom::Other" is not served`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf.mu.Lock()
			cf.answers = nil
			cf.mu.Unlock()
			called := false
			h := invocation.New(reconcilerFunc(func(context.Context, approver.Request) (*approver.Report, error) {
				called = true
				return nil, errors.New("no reconcile")
			}), parameter, invocation.Options{Notifications: tt.fake, CleanupRecheck: time.Millisecond})
			_, err := h.Handle(context.Background(), tt.payload)
			require.NoError(t, err, "the answer reached CloudFormation")
			assert.False(t, called, "a custom resource request reconciles nothing")
			assert.Equal(t, tt.wantAsked, tt.fake.asked)
			cf.mu.Lock()
			defer cf.mu.Unlock()
			require.Len(t, cf.answers, 1, "exactly one answer")
			answer := cf.answers[0]
			assert.Equal(t, tt.wantStatus, answer["Status"])
			assert.Equal(t, "connection-notifications", answer["PhysicalResourceId"])
			assert.Equal(t, "req-1", answer["RequestId"])
			if tt.wantReason != "" {
				assert.Contains(t, answer["Reason"], tt.wantReason)
			}
			if tt.wantDeleted != nil {
				assert.Equal(t, map[string]any{"Deleted": tt.wantDeleted}, answer["Data"])
			}
		})
	}
}

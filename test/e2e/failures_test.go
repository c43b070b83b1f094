//go:build e2e

package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

func TestUnsuccessfulItems(t *testing.T) {
	s := newScenario(t, 2)
	broken, fine := s.services[0], s.services[1]
	s.policy(allowed)
	failing := s.endpoint(broken, allowed, tagged(localaws.TagUnsuccessful, "InternalError"))
	ok := s.endpoint(broken, allowed)
	rejected := s.endpoint(broken, stranger)
	acceptedByPerson := s.endpoint(broken, allowed, tagged(localaws.TagDecidedByPerson, "accept"))
	rejectedByPerson := s.endpoint(broken, stranger, tagged(localaws.TagDecidedByPerson, "reject"))
	other := s.endpoint(fine, allowed)
	f := s.function()

	t.Run("SQS returns only the records that named the failed service", func(t *testing.T) {
		var resp batchResponse
		invoke(t, f, sqsEvent(t, broken.ID, fine.ID, broken.ID+" "+fine.ID), &resp)
		assert.Equal(t, []string{"m0", "m2"}, resp.ids())
		assert.Equal(t, map[string]string{
			failing:          "pendingAcceptance",
			ok:               "available",
			rejected:         "rejected",
			acceptedByPerson: "available",
			rejectedByPerson: "rejected",
		}, s.states(broken), "one failure does not stop the other decisions")
		assert.Equal(t, map[string]string{other: "available"}, s.states(fine))

		var failedLines int
		for _, l := range f.Logs("decision") {
			switch l["endpointId"] {
			case failing:
				failedLines++
				assert.Equal(t, "InternalError", l["errorCode"])
				assert.Contains(t, l["detail"], "InternalError")
				assert.Equal(t, "failed", l["result"])
				assert.Equal(t, "ERROR", l["level"])
			case acceptedByPerson, rejectedByPerson:
				assert.NotContains(t, l, "errorCode", "a request already decided the same way is no error")
				assert.Contains(t, []any{"already-accepted", "already-rejected"}, l["result"])
			}
		}
		assert.Equal(t, 1, failedLines)
	})

	t.Run("EventBridge fails after applying the rest", func(t *testing.T) {
		late := s.endpoint(fine, allowed)
		msg := invokeErr(t, f, s.sample("eventbridge-scheduled-event.json"))
		assert.Contains(t, msg, broken.ID)
		assert.Contains(t, msg, "1 of 1 decisions could not be applied")
		assert.Equal(t, "available", s.states(fine)[late])
		assert.Equal(t, "pendingAcceptance", s.states(broken)[failing])
	})
}

func TestConnectionDeletedBeforeTheSweep(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(allowed)
	a := s.endpoint(s.svc(), allowed)
	b := s.endpoint(s.svc(), allowed)
	require.NoError(t, moto.DeleteEndpoint(ctx(t), allowed, localaws.Region, b))
	f := s.function()
	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, map[string]string{a: "available", b: "deleted"}, s.states(s.svc()))
	assert.Equal(t, 0, sum.Failed)
	require.Len(t, sum.Decisions, 1, "a deleted endpoint is not pending")
}

func TestBadEventsChangeNothing(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(allowed)
	a := s.endpoint(s.svc(), allowed)
	f := s.function()
	tests := []struct {
		name    string
		payload string
		wantIn  string
	}{
		{"a JSON string", `"hello"`, "not a JSON object"},
		{"empty object", `{}`, "no Records, detail-type, source or RequestType"},
		{"an S3 notification", `{"Records": [{"eventSource": "aws:s3", "s3": {}}]}`, `eventSource "aws:s3"`},
		{"another EventBridge event", `{"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}}`,
			`detail-type "EC2 Instance State-change Notification"`},
		{"another CloudTrail call", `{"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": {"eventName": "DeleteVpcEndpoints", "requestParameters": {"x": "` + s.svc().ID + `"}}}`,
			`"DeleteVpcEndpoints"`},
		{"an API Gateway request", `{"httpMethod": "GET", "path": "/"}`, "keys httpMethod, path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := invokeErr(t, f, []byte(tt.payload))
			assert.Contains(t, msg, "unsupported event")
			assert.Contains(t, msg, tt.wantIn)
			assert.Equal(t, map[string]string{a: "pendingAcceptance"}, s.states(s.svc()))
		})
	}
	assert.Empty(t, f.Logs("decision"))
}

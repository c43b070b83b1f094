//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// captureDecisions creates a rule on the provider's default bus that sends
// the decision events of the scenario's first service to a queue of the
// test's own.
func captureDecisions(t *testing.T, s *scenario) *localaws.EventCapture {
	t.Helper()
	pattern := fmt.Sprintf(`{"source": ["privatelink-approver"], "detail": {"serviceId": [%q]}}`, s.svc().ID)
	c, err := moto.CaptureEvents(ctx(t), localaws.ProviderAccount, s.region, "decisions-"+s.svc().ID, pattern)
	require.NoError(t, err)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, c.Close(cctx))
	})
	return c
}

// decisionDetail is the part of an event's detail the tests read.
type decisionDetail struct {
	ServiceID     string `json:"serviceId"`
	EndpointID    string `json:"endpointId"`
	Owner         string `json:"owner"`
	Action        string `json:"action"`
	Result        string `json:"result"`
	Rule          string `json:"rule"`
	Trigger       string `json:"trigger"`
	PolicyVersion string `json:"policyVersion"`
}

func TestDecisionEventsOnTheDefaultBus(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(allowed)
	in := s.endpoint(s.svc(), allowed)
	out := s.endpoint(s.svc(), stranger)
	capture := captureDecisions(t, s)
	f := s.function()

	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	require.Equal(t, map[string]string{in: "available", out: "rejected"}, s.states(s.svc()))

	events, err := capture.Events(ctx(t))
	require.NoError(t, err)
	require.Len(t, events, 2, "one event for each applied decision")
	got := map[string]decisionDetail{}
	for _, e := range events {
		assert.Equal(t, "privatelink-approver", e.Source)
		assert.Equal(t, "PrivateLink Connection Decision", e.DetailType)
		// The rule is on the provider's default bus: the event was put
		// there. (moto leaves the account out of what it delivers.)
		// The service's ARN, built from the function's (the emulator's
		// names a made-up account).
		require.Len(t, e.Resources, 1)
		assert.Regexp(t, `^arn:aws:ec2:`+s.region+`:\d{12}:vpc-endpoint-service/`+s.svc().ID+`$`, e.Resources[0])
		var d decisionDetail
		require.NoError(t, json.Unmarshal(e.Detail, &d), "%s", e.Detail)
		got[d.EndpointID] = d
	}
	want := map[string]decisionDetail{
		in: {ServiceID: s.svc().ID, EndpointID: in, Owner: allowed, Action: "accept", Result: "accepted", Rule: "allowlist",
			Trigger: "schedule", PolicyVersion: sum.Version},
		out: {ServiceID: s.svc().ID, EndpointID: out, Owner: stranger, Action: "reject", Result: "rejected", Rule: "default",
			Trigger: "schedule", PolicyVersion: sum.Version},
	}
	assert.Equal(t, want, got)
	assert.NotEmpty(t, sum.Version)
	assert.Equal(t, []float64{0}, metric(f, "DecisionEventFailures"))

	// The detail is the decision line, field for field.
	for _, l := range f.Logs("decision") {
		for _, e := range events {
			var detail map[string]any
			require.NoError(t, json.Unmarshal(e.Detail, &detail))
			if detail["endpointId"] != l["endpointId"] {
				continue
			}
			for _, k := range []string{"serviceId", "endpointId", "connectionId", "owner", "region", "action", "rule", "reason", "trigger", "policyParameter", "policyVersion", "result"} {
				assert.Equal(t, l[k], detail[k], "%s of %s", k, detail["endpointId"])
			}
		}
	}

	t.Run("nothing decided: no event", func(t *testing.T) {
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
		events, err := capture.Events(ctx(t))
		require.NoError(t, err)
		assert.Empty(t, events)
	})
}

func TestDecisionEventsOff(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(allowed)
	in := s.endpoint(s.svc(), allowed)
	capture := captureDecisions(t, s)
	f := s.function("DECISION_EVENTS=False")

	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, map[string]string{in: "available"}, s.states(s.svc()))
	events, err := capture.Events(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, events)
	assert.Empty(t, metric(f, "DecisionEventFailures"), "no metric when events are off")
}

func TestDecisionEventsFailedChangeNoDecision(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(allowed)
	in := s.endpoint(s.svc(), allowed)
	out := s.endpoint(s.svc(), stranger)
	capture := captureDecisions(t, s)
	f := s.function()
	require.NoError(t, moto.Control(map[string]any{"faults": []map[string]any{
		{"action": "events:PutEvents", "code": "InternalException", "status": 500, "every": 1},
	}}))
	t.Cleanup(func() { _ = moto.Control(map[string]any{}) })

	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)

	assert.Equal(t, map[string]string{in: "available", out: "rejected"}, s.states(s.svc()), "the decisions stand")
	assert.Equal(t, 1, sum.Accepted)
	assert.Equal(t, 1, sum.Rejected)
	assert.Zero(t, sum.Failed)
	assert.Equal(t, []float64{2}, metric(f, "DecisionEventFailures"))
	assert.NotEmpty(t, f.Logs("decision events not put"))
	events, err := capture.Events(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, events)
}

func TestDecisionEventsSettingIsChecked(t *testing.T) {
	s := newScenario(t, 1)
	f := s.function("DECISION_EVENTS=maybe")
	msg := invokeErr(t, f, s.sample("eventbridge-scheduled-event.json"))
	assert.Contains(t, f.Output(), "DECISION_EVENTS", "the start fails, naming the variable: %s", msg)
}

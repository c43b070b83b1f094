package invocation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/decisionevents"
	"github.com/privatelink-approver/privatelink-approver/pkg/invocation"
)

var _ invocation.Publisher = (*decisionevents.Publisher)(nil)

// publisherFunc adapts a function to invocation.Publisher.
type publisherFunc func(ctx context.Context, decisions []approver.Outcome) int

func (f publisherFunc) Publish(ctx context.Context, decisions []approver.Outcome) int {
	return f(ctx, decisions)
}

// decided returns a reconciler whose report holds an acceptance and a
// rejection of svcA's requests.
func decided() reconcilerFunc {
	return func(_ context.Context, req approver.Request) (*approver.Report, error) {
		r := report(req.Trigger)
		r.Decisions = []approver.Outcome{
			{ServiceID: svcA, EndpointID: "vpce-0aaaaaaaaaaaaaaa1", Action: "accept", Result: approver.ResultAccepted},
			{ServiceID: svcA, EndpointID: "vpce-0aaaaaaaaaaaaaaa2", Action: "reject", Result: approver.ResultRejected},
		}
		r.Counts = approver.Count(r.Decisions)
		return r, nil
	}
}

// totals returns the metrics line without dimension.
func totals(t *testing.T, out string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		if _, ok := m["ServiceId"]; !ok {
			return m
		}
	}
	t.Fatal("no totals line")
	return nil
}

func TestHandlePutsDecisionEventsWithoutChangingTheAnswer(t *testing.T) {
	tests := []struct {
		name     string
		payload  json.RawMessage
		failures int
	}{
		{"a sweep, every event put", sample(t, "eventbridge-scheduled-event.json"), 0},
		{"a sweep, every event failed", sample(t, "eventbridge-scheduled-event.json"), 2},
		{"SQS, every event failed", sqsPayload(t, svcA), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var published []approver.Outcome
			var metrics bytes.Buffer
			h := invocation.New(decided(), parameter, invocation.Options{
				Metrics: &metrics,
				DecisionEvents: publisherFunc(func(_ context.Context, d []approver.Outcome) int {
					published = d
					return tt.failures
				}),
			})
			without := invocation.New(decided(), parameter, invocation.Options{})

			resp, err := h.Handle(context.Background(), tt.payload)
			want, wantErr := without.Handle(context.Background(), tt.payload)

			require.NoError(t, err)
			require.NoError(t, wantErr)
			assert.Equal(t, want, resp, "the answer is the same with or without events, failed or not")
			assert.Len(t, published, 2, "the report's decisions are handed over")
			assert.EqualValues(t, tt.failures, totals(t, metrics.String())["DecisionEventFailures"])
			if batch, ok := resp.(events.SQSEventResponse); ok {
				assert.Empty(t, batch.BatchItemFailures, "no record is redelivered for an event")
			}
		})
	}
}

func TestHandleWithoutDecisionEventsWritesNoMetric(t *testing.T) {
	var metrics bytes.Buffer
	_, err := invocation.New(decided(), parameter, invocation.Options{Metrics: &metrics}).
		Handle(context.Background(), sample(t, "eventbridge-scheduled-event.json"))
	require.NoError(t, err)
	assert.NotContains(t, totals(t, metrics.String()), "DecisionEventFailures")
}

func TestHandlePutsNoEventWhenNothingWasDecided(t *testing.T) {
	h := invocation.New(reconcilerFunc(func(context.Context, approver.Request) (*approver.Report, error) {
		return nil, assert.AnError
	}), parameter, invocation.Options{DecisionEvents: publisherFunc(func(context.Context, []approver.Outcome) int {
		t.Fatal("no event for a reconcile that failed")
		return 0
	})})
	_, err := h.Handle(context.Background(), sample(t, "eventbridge-scheduled-event.json"))
	require.Error(t, err)
}

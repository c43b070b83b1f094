package invocation_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/invocation"
)

const (
	parameter = "/privatelink-approver/policy"
	svcA      = "vpce-svc-0aaaaaaaaaaaaaaaa"
	svcB      = "vpce-svc-0bbbbbbbbbbbbbbbb"
)

var _ invocation.Reconciler = (*approver.Approver)(nil)

// reconcilerFunc adapts a function to invocation.Reconciler.
type reconcilerFunc func(ctx context.Context, req approver.Request) (*approver.Report, error)

func (f reconcilerFunc) Reconcile(ctx context.Context, req approver.Request) (*approver.Report, error) {
	return f(ctx, req)
}

func sample(t *testing.T, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	require.NoError(t, err)
	return b
}

func sqsPayload(t *testing.T, bodies ...string) json.RawMessage {
	t.Helper()
	ev := events.SQSEvent{}
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: string(rune('a' + i)), Body: b, EventSource: "aws:sqs"})
	}
	out, err := json.Marshal(ev)
	require.NoError(t, err)
	return out
}

// report is a summary in which the services failed are failed.
func report(trigger string, failed ...string) *approver.Report {
	r := &approver.Report{Trigger: trigger, Services: []string{svcA, svcB}}
	for _, svc := range failed {
		r.Errors = append(r.Errors, approver.ServiceError{ServiceID: svc, Error: "Accept failed"})
	}
	return r
}

// failing returns a reconciler whose report marks the given services failed
// and records the request it received.
func failing(got *approver.Request, failed ...string) reconcilerFunc {
	return func(_ context.Context, req approver.Request) (*approver.Report, error) {
		*got = req
		return report(req.Trigger, failed...), nil
	}
}

func TestHandleBuildsOneRequestPerInvocation(t *testing.T) {
	tests := []struct {
		name    string
		payload json.RawMessage
		want    approver.Request
	}{
		{"schedule", sample(t, "eventbridge-scheduled-event.json"), approver.Request{Trigger: "schedule", All: true, Sweep: true}},
		{"policy change reloads", sample(t, "ssm-parameter-store-change.json"), approver.Request{Trigger: "policy-change", All: true, ReloadPolicy: true, ForgetMemberships: true, Sweep: true}},
		{"an account moved in the organization", sample(t, "cloudtrail-organizations-move-account.json"),
			approver.Request{Trigger: "organization-change", All: true, ForgetMemberships: true, Sweep: true}},
		{"cloudtrail", sample(t, "cloudtrail-create-vpc-endpoint.json"), approver.Request{Trigger: "cloudtrail", Services: []string{"vpce-svc-0123456789abcdef0"}}},
		{"SQS records naming the same services reconcile each once, in the order named", sqsPayload(t, svcB, svcA, svcA+" "+svcB, svcA),
			approver.Request{Trigger: "notification", Services: []string{svcB, svcA}}},
		{"the messages' IDs are taken in turn: the first of each, then the second of each",
			sqsPayload(t, "vpce-svc-0000000000000000a vpce-svc-0000000000000000b vpce-svc-0000000000000000c", svcA, "vpce-svc-0000000000000000d vpce-svc-0000000000000000e"),
			approver.Request{Trigger: "notification", Services: []string{"vpce-svc-0000000000000000a", svcA, "vpce-svc-0000000000000000d",
				"vpce-svc-0000000000000000b", "vpce-svc-0000000000000000e", "vpce-svc-0000000000000000c"}}},
		{"one record naming none sweeps all", sqsPayload(t, svcA, "Connect"), approver.Request{Trigger: "notification", All: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got approver.Request
			calls := 0
			h := invocation.New(reconcilerFunc(func(_ context.Context, req approver.Request) (*approver.Report, error) {
				calls++
				got = req
				return report(req.Trigger), nil
			}), parameter, invocation.Options{})
			_, err := h.Handle(context.Background(), tt.payload)
			require.NoError(t, err)
			assert.Equal(t, 1, calls)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestHandleSQSReturnsTheRecordsOfFailedServices(t *testing.T) {
	tests := []struct {
		name    string
		payload json.RawMessage
		failed  []string
		want    []string
	}{
		{"nothing failed", sqsPayload(t, svcA, svcB), nil, []string{}},
		{"one service failed", sqsPayload(t, svcA, svcB, svcB+" "+svcA), []string{svcA}, []string{"a", "c"}},
		{"a sweep record fails with any service", sqsPayload(t, "Connect", svcB), []string{svcA}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got approver.Request
			h := invocation.New(failing(&got, tt.failed...), parameter, invocation.Options{})
			resp, err := h.Handle(context.Background(), tt.payload)
			require.NoError(t, err)
			batch, ok := resp.(events.SQSEventResponse)
			require.True(t, ok)
			ids := []string{}
			for _, f := range batch.BatchItemFailures {
				ids = append(ids, f.ItemIdentifier)
			}
			assert.Equal(t, tt.want, ids)
		})
	}
}

func TestHandleErrors(t *testing.T) {
	policyErr := errors.New("policy parameter /privatelink-approver/policy: not found")
	tests := []struct {
		name       string
		payload    json.RawMessage
		reconciler reconcilerFunc
		wantText   string
	}{
		{"unsupported event", json.RawMessage(`{"foo": 1}`), nil, "unsupported event"},
		{"policy unusable on SQS fails the whole batch", sqsPayload(t, svcA),
			func(context.Context, approver.Request) (*approver.Report, error) { return nil, policyErr }, "nothing decided: policy parameter"},
		{"policy unusable on a schedule", sample(t, "eventbridge-scheduled-event.json"),
			func(context.Context, approver.Request) (*approver.Report, error) { return nil, policyErr }, "schedule: nothing decided"},
		{"a failed service fails an EventBridge invocation", sample(t, "eventbridge-scheduled-event.json"),
			failing(new(approver.Request), svcA), "1 of 2 services failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.reconciler
			if r == nil {
				r = func(context.Context, approver.Request) (*approver.Report, error) {
					t.Fatal("nothing may be reconciled")
					return nil, nil
				}
			}
			resp, err := invocation.New(r, parameter, invocation.Options{}).Handle(context.Background(), tt.payload)
			require.Error(t, err)
			assert.Nil(t, resp)
			assert.Contains(t, err.Error(), tt.wantText)
		})
	}
}

func TestHandleIgnoresWhatIsNotOurs(t *testing.T) {
	for _, file := range []string{"ssm-parameter-store-change-other.json", "cloudtrail-create-vpc-endpoint-s3.json"} {
		t.Run(file, func(t *testing.T) {
			h := invocation.New(reconcilerFunc(func(context.Context, approver.Request) (*approver.Report, error) {
				t.Fatal("nothing may be reconciled")
				return nil, nil
			}), parameter, invocation.Options{})
			resp, err := h.Handle(context.Background(), sample(t, file))
			require.NoError(t, err)
			ign, ok := resp.(invocation.Ignored)
			require.True(t, ok)
			assert.NotEmpty(t, ign.Ignored)
		})
	}
}

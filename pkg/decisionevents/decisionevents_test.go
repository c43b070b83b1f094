package decisionevents_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/decisionevents"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

var _ decisionevents.EventBridgeAPI = (*eventbridge.Client)(nil)

const (
	svc         = "vpce-svc-0123456789abcdef0"
	functionARN = "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:privatelink-approver"
)

// putFunc fakes EventBridge with a function.
type putFunc func(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)

func (f putFunc) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return f(ctx, in, optFns...)
}

// recorder is a fake EventBridge that records every call's entries and
// answers with answer (nil: every entry put).
type recorder struct {
	calls  [][]types.PutEventsRequestEntry
	answer func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error)
}

func (r *recorder) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	r.calls = append(r.calls, in.Entries)
	if r.answer != nil {
		return r.answer(len(r.calls)-1, in)
	}
	return putAll(in), nil
}

func putAll(in *eventbridge.PutEventsInput) *eventbridge.PutEventsOutput {
	out := &eventbridge.PutEventsOutput{}
	for i := range in.Entries {
		out.Entries = append(out.Entries, types.PutEventsResultEntry{EventId: aws.String(fmt.Sprintf("event-%d", i))})
	}
	return out
}

func (r *recorder) sizes() []int {
	out := []int{}
	for _, c := range r.calls {
		out = append(out, len(c))
	}
	return out
}

// endpoints returns the endpointId of each event put, in order.
func (r *recorder) endpoints(t *testing.T) []string {
	t.Helper()
	out := []string{}
	for _, c := range r.calls {
		for _, e := range c {
			var d approver.Outcome
			require.NoError(t, json.Unmarshal([]byte(aws.ToString(e.Detail)), &d))
			out = append(out, d.EndpointID)
		}
	}
	return out
}

// decision is an outcome with result, to endpoint n.
func decision(n int, result string) approver.Outcome {
	d := approver.Outcome{
		ServiceID: svc, EndpointID: fmt.Sprintf("vpce-%017x", n), ConnectionID: fmt.Sprintf("vpce-conn-%017x", n),
		Owner: "111122223333", Region: "us-gov-west-1", Created: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		State: "pendingAcceptance", Action: policy.Accept, Rule: "partners", Reason: "account 111122223333 is in the partners list",
		Trigger: "schedule", PolicyParameter: "/privatelink-approver/policy", PolicyVersion: "7", Result: result,
	}
	if result == approver.ResultRejected || result == approver.ResultRevoked {
		d.Action = policy.Reject
	}
	if result == approver.ResultRevoked {
		d.Revoked, d.State = true, "available"
	}
	return d
}

func accepted(n int) []approver.Outcome {
	out := make([]approver.Outcome, n)
	for i := range out {
		out[i] = decision(i, approver.ResultAccepted)
	}
	return out
}

// logged returns a logger and the JSON lines it wrote.
func logged() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func TestPublishBatchesTenToACall(t *testing.T) {
	tests := []struct {
		name      string
		decisions int
		want      []int
	}{
		{"none", 0, []int{}},
		{"one", 1, []int{1}},
		{"ten: one full call", 10, []int{10}},
		{"eleven", 11, []int{10, 1}},
		{"twenty-five", 25, []int{10, 10, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var eb recorder
			decisions := accepted(tt.decisions)
			failures := decisionevents.New(&eb, nil).Publish(context.Background(), decisions)
			assert.Zero(t, failures)
			assert.Equal(t, tt.want, eb.sizes())
			want := []string{}
			for _, d := range decisions {
				want = append(want, d.EndpointID)
			}
			assert.Equal(t, want, eb.endpoints(t), "every decision once, in order")
		})
	}
}

func TestPublishSendsOnlyAppliedDecisions(t *testing.T) {
	results := []string{
		approver.ResultAccepted, approver.ResultLeftPending, approver.ResultRejected, approver.ResultDryRun,
		approver.ResultHeld, approver.ResultRevoked, approver.ResultAlreadyAccepted, approver.ResultAlreadyRejected,
		approver.ResultGone, approver.ResultFailed,
	}
	var decisions []approver.Outcome
	var want []string
	for i, r := range results {
		d := decision(i, r)
		decisions = append(decisions, d)
		if d.Applied() {
			want = append(want, d.EndpointID)
		}
	}
	require.Len(t, want, 3, "accepted, rejected, revoked")

	var eb recorder
	assert.Zero(t, decisionevents.New(&eb, nil).Publish(context.Background(), decisions))
	assert.Equal(t, []int{3}, eb.sizes())
	assert.Equal(t, want, eb.endpoints(t))
}

func TestPublishCountsFailuresAndChangesNoDecision(t *testing.T) {
	failEntries := func(idx ...int) func(int, *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
		return func(_ int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
			out := putAll(in)
			for _, i := range idx {
				out.Entries[i] = types.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again")}
				out.FailedEntryCount++
			}
			return out, nil
		}
	}
	tests := []struct {
		name      string
		decisions int
		answer    func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error)
		want      int
		wantLog   string
	}{
		{"every call fails", 12, func(int, *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
			return nil, errors.New("AccessDeniedException: not authorized to perform events:PutEvents")
		}, 12, "AccessDeniedException"},
		{"the second call fails", 25, func(call int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
			if call == 1 {
				return nil, errors.New("ThrottlingException")
			}
			return putAll(in), nil
		}, 10, "ThrottlingException"},
		{"failed entries", 10, failEntries(0, 7), 2, "InternalFailure"},
		{"failed entries counted but not named", 3, func(_ int, in *eventbridge.PutEventsInput) (*eventbridge.PutEventsOutput, error) {
			out := putAll(in)
			out.FailedEntryCount = 1
			return out, nil
		}, 1, "did not name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eb := recorder{answer: tt.answer}
			log, lines := logged()
			decisions := accepted(tt.decisions)
			before := slices.Clone(decisions)

			got := decisionevents.New(&eb, log).Publish(context.Background(), decisions)

			assert.Equal(t, tt.want, got)
			assert.Equal(t, before, decisions, "publishing changes no decision")
			assert.Contains(t, lines.String(), tt.wantLog)
			assert.Contains(t, lines.String(), `"level":"ERROR"`)
		})
	}
}

func TestPublishDetailIsTheDecisionLine(t *testing.T) {
	d := decision(1, approver.ResultRejected)
	d.Detail, d.StampError, d.OrgPath, d.By = "the consumer's account is not listed", "AccessDenied", "o-abcdefghij/r-abcd", "arn:aws:iam::123456789012:role/ops"
	want, err := json.Marshal(d)
	require.NoError(t, err)

	tests := []struct {
		name          string
		ctx           context.Context
		wantResources []string
	}{
		{"in an invocation: the service's ARN, from the function's", lambdacontext.NewContext(context.Background(),
			&lambdacontext.LambdaContext{InvokedFunctionArn: functionARN}),
			[]string{"arn:aws-us-gov:ec2:us-gov-west-1:123456789012:vpc-endpoint-service/" + svc}},
		{"an alias's ARN names the same account", lambdacontext.NewContext(context.Background(),
			&lambdacontext.LambdaContext{InvokedFunctionArn: functionARN + ":live"}),
			[]string{"arn:aws-us-gov:ec2:us-gov-west-1:123456789012:vpc-endpoint-service/" + svc}},
		{"no function ARN: no resources", context.Background(), nil},
		{"an ARN that is not a function's: no resources", lambdacontext.NewContext(context.Background(),
			&lambdacontext.LambdaContext{InvokedFunctionArn: "not-an-arn"}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var eb recorder
			require.Zero(t, decisionevents.New(&eb, nil).Publish(tt.ctx, []approver.Outcome{d}))
			require.Equal(t, []int{1}, eb.sizes())
			e := eb.calls[0][0]
			assert.Equal(t, "privatelink-approver", aws.ToString(e.Source))
			assert.Equal(t, "PrivateLink Connection Decision", aws.ToString(e.DetailType))
			assert.Nil(t, e.EventBusName, "the default bus")
			assert.Nil(t, e.Time, "EventBridge stamps the time it received the event")
			assert.JSONEq(t, string(want), aws.ToString(e.Detail))
			assert.Equal(t, tt.wantResources, e.Resources)

			// The fields an audit rule filters on are those of the log line.
			var detail map[string]any
			require.NoError(t, json.Unmarshal([]byte(aws.ToString(e.Detail)), &detail))
			for _, k := range []string{"serviceId", "endpointId", "owner", "action", "rule", "reason", "result", "policyVersion", "trigger", "stampError"} {
				assert.Contains(t, detail, k)
			}
		})
	}
}

func TestPublishGuardsTheEntrySize(t *testing.T) {
	big := decision(1, approver.ResultAccepted)
	big.Reason = strings.Repeat("x", decisionevents.MaxEntryBytes)
	// Two entries of 100 KB each fit a call; a third would not.
	wide := func(n int) approver.Outcome {
		d := decision(n, approver.ResultAccepted)
		d.Reason = strings.Repeat("y", 100*1024)
		return d
	}
	var eb recorder
	log, lines := logged()
	decisions := []approver.Outcome{decision(0, approver.ResultAccepted), big, wide(2), wide(3), wide(4)}

	got := decisionevents.New(&eb, log).Publish(context.Background(), decisions)

	assert.Equal(t, 1, got, "the entry too large is counted, not sent")
	assert.Equal(t, []string{decisions[0].EndpointID, decisions[2].EndpointID, decisions[3].EndpointID, decisions[4].EndpointID}, eb.endpoints(t))
	assert.Equal(t, []int{3, 1}, eb.sizes(), "a call's entries stay within 256 KB together: two of 100 KB, not three")
	assert.Contains(t, lines.String(), big.EndpointID)
}

func TestPublishAfterTheDeadlineCountsEverything(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var eb recorder
	log, lines := logged()
	assert.Equal(t, 25, decisionevents.New(&eb, log).Publish(ctx, accepted(25)))
	assert.Empty(t, eb.calls, "no call once the deadline has come")
	assert.Equal(t, 1, strings.Count(lines.String(), "decision events not put"), "one line, not one a batch")
}

// TestPublishThroughTheSDK points the real client at a local server, so the
// SDK's serializer and error handling are exercised, not a mock of them.
func TestPublishThroughTheSDK(t *testing.T) {
	var got struct {
		Entries []struct {
			Source, DetailType, Detail string
			Resources                  []string
			EventBusName               *string
		}
	}
	var target string
	var denied atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if denied.Load() {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type": "AccessDeniedException", "message": "not authorized"}`)
			return
		}
		target = r.Header.Get("X-Amz-Target")
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, `{"FailedEntryCount": 1, "Entries": [{"EventId": "a"}, {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]}`)
	}))
	defer srv.Close()
	client := eventbridge.NewFromConfig(aws.Config{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(srv.URL),
	})

	decisions := []approver.Outcome{decision(1, approver.ResultAccepted), decision(2, approver.ResultRevoked)}
	failures := decisionevents.New(client, nil).Publish(context.Background(), decisions)

	assert.Equal(t, 1, failures)
	assert.Equal(t, "AWSEvents.PutEvents", target)
	require.Len(t, got.Entries, 2)
	for i, e := range got.Entries {
		assert.Equal(t, "privatelink-approver", e.Source)
		assert.Equal(t, "PrivateLink Connection Decision", e.DetailType)
		assert.Nil(t, e.EventBusName)
		want, _ := json.Marshal(decisions[i])
		assert.JSONEq(t, string(want), e.Detail)
	}

	t.Run("a failed call is counted", func(t *testing.T) {
		denied.Store(true)
		assert.Equal(t, 2, decisionevents.New(client, nil).Publish(context.Background(), decisions))
	})
}

func ExamplePublisher_Publish() {
	eb := putFunc(func(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
		fmt.Println(len(in.Entries), "events:", aws.ToString(in.Entries[0].DetailType))
		return putAll(in), nil
	})
	failures := decisionevents.New(eb, nil).Publish(context.Background(), []approver.Outcome{
		{ServiceID: svc, EndpointID: "vpce-0123456789abcdef0", Result: approver.ResultAccepted},
		{ServiceID: svc, EndpointID: "vpce-0123456789abcdef1", Result: approver.ResultLeftPending},
	})
	fmt.Println("failures:", failures)
	// Output:
	// 1 events: PrivateLink Connection Decision
	// failures: 0
}

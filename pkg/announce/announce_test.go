package announce_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/announce"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

var _ announce.SNSAPI = (*sns.Client)(nil)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// publishFunc adapts a function to announce.SNSAPI.
type publishFunc func(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)

func (f publishFunc) Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return f(ctx, in, optFns...)
}

func decision(id string, action policy.Action, result string, age time.Duration) approver.Decision {
	return approver.Decision{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", EndpointID: id, Owner: "111122223333", Region: "eu-west-1",
		Action: action, Rule: "default", Reason: "no rule matched; defaultAction is manual", Result: result,
		Created: now.Add(-age), PolicyParameter: "/privatelink/policy", PolicyVersion: "3"}
}

func TestSelect(t *testing.T) {
	manualNew := decision("vpce-00000000000000001", "manual", approver.ResultLeftPending, time.Minute)
	manualOld := decision("vpce-00000000000000002", "manual", approver.ResultLeftPending, time.Hour)
	accepted := decision("vpce-00000000000000003", "accept", approver.ResultAccepted, time.Minute)
	revoked := decision("vpce-00000000000000004", "reject", approver.ResultRevoked, time.Minute)
	revoked.Revoked = true
	report := &approver.Report{Decisions: []approver.Decision{manualNew, manualOld, accepted, revoked}}
	dry := &approver.Report{DryRun: true, Decisions: report.Decisions}
	cfg := announce.Config{TopicARN: "arn:aws:sns:us-east-1:123456789012:decisions", SweepPeriod: 5 * time.Minute, Region: "us-east-1"}
	all := cfg
	all.All = true
	off := cfg
	off.TopicARN = ""

	tests := []struct {
		name   string
		cfg    announce.Config
		report *approver.Report
		ev     announce.Event
		want   []string
	}{
		{"a sweep announces manual requests created within the period", cfg, report, announce.Event{Sweep: true}, []string{"vpce-00000000000000001"}},
		{"an event announces the requests it names", cfg, report, announce.Event{Endpoints: []string{"vpce-00000000000000002"}}, []string{"vpce-00000000000000002"}},
		{"an event that names none announces none", cfg, report, announce.Event{}, nil},
		{"every decision when asked, never a revocation", all, report, announce.Event{Sweep: true}, []string{"vpce-00000000000000001", "vpce-00000000000000003"}},
		{"nothing in dry run", cfg, dry, announce.Event{Sweep: true}, nil},
		{"nothing without a topic", off, report, announce.Event{Sweep: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range announce.New(nil, tt.cfg, nil).Select(tt.report, tt.ev, now) {
				got = append(got, d.EndpointID)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestMessage(t *testing.T) {
	subject, body := announce.Message(decision("vpce-0a1b2c3d4e5f67890", "manual", approver.ResultLeftPending, time.Minute), "us-east-1")
	assert.LessOrEqual(t, len(subject), 100)
	assert.Contains(t, subject, "111122223333")
	for _, want := range []string{
		"Consumer account: 111122223333",
		"Endpoint:         vpce-0a1b2c3d4e5f67890 (in eu-west-1)",
		"Service:          vpce-svc-0aaaaaaaaaaaaaaaa",
		"Rule:             default",
		"aws ec2 accept-vpc-endpoint-connections --region us-east-1 --service-id vpce-svc-0aaaaaaaaaaaaaaaa --vpc-endpoint-ids vpce-0a1b2c3d4e5f67890",
		"aws ec2 reject-vpc-endpoint-connections --region us-east-1 --service-id vpce-svc-0aaaaaaaaaaaaaaaa --vpc-endpoint-ids vpce-0a1b2c3d4e5f67890",
	} {
		assert.Contains(t, body, want)
	}
}

func TestAnnouncePublishesAndSurvivesFailures(t *testing.T) {
	var subjects []string
	calls := 0
	client := publishFunc(func(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
		calls++
		assert.Equal(t, "arn:aws:sns:us-east-1:123456789012:decisions", aws.ToString(in.TopicArn))
		if calls == 1 {
			return nil, errors.New("throttled")
		}
		subjects = append(subjects, aws.ToString(in.Subject))
		return &sns.PublishOutput{}, nil
	})
	a := announce.New(client, announce.Config{TopicARN: "arn:aws:sns:us-east-1:123456789012:decisions", SweepPeriod: time.Hour, Region: "us-east-1"}, nil)
	report := &approver.Report{Decisions: []approver.Decision{
		decision("vpce-00000000000000001", "manual", approver.ResultLeftPending, time.Minute),
		decision("vpce-00000000000000002", "manual", approver.ResultLeftPending, time.Minute),
	}}
	a.Announce(context.Background(), report, announce.Event{Sweep: true}, now)
	require.Equal(t, 2, calls, "a failed publish does not stop the others")
	assert.Len(t, subjects, 1)
}

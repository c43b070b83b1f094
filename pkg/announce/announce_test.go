package announce_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/announce"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

var (
	_ announce.SNSAPI = (*sns.Client)(nil)
	_ announce.Marker = (*approver.Approver)(nil)
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// publishFunc adapts a function to announce.SNSAPI.
type publishFunc func(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)

func (f publishFunc) Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return f(ctx, in, optFns...)
}

func decision(id string, action policy.Action, result string, age time.Duration) approver.Outcome {
	return approver.Outcome{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", EndpointID: id, ConnectionID: "vpce-conn-" + id[len("vpce-"):],
		Owner: "111122223333", Region: "eu-west-1", Action: action, Rule: "default", Reason: "no rule matched; defaultAction is manual",
		Result: result, Created: now.Add(-age), PolicyParameter: "/privatelink/policy", PolicyVersion: "3"}
}

// markFunc adapts a function to announce.Marker.
type markFunc func(ctx context.Context, ids []string, t time.Time) error

func (f markFunc) MarkAnnounced(ctx context.Context, ids []string, t time.Time) error {
	return f(ctx, ids, t)
}

const topic = "arn:aws:sns:us-east-1:123456789012:decisions"

func TestSelect(t *testing.T) {
	manualNew := decision("vpce-00000000000000001", "manual", approver.ResultLeftPending, time.Minute)
	manualOld := decision("vpce-00000000000000002", "manual", approver.ResultLeftPending, time.Hour)
	announced := decision("vpce-00000000000000005", "manual", approver.ResultLeftPending, time.Minute)
	announced.AnnouncedAt = "2026-11-29T11:59:00Z"
	accepted := decision("vpce-00000000000000003", "accept", approver.ResultAccepted, time.Minute)
	revoked := decision("vpce-00000000000000004", "reject", approver.ResultRevoked, time.Hour)
	revoked.Revoked = true
	failed := decision("vpce-00000000000000006", "accept", approver.ResultFailed, time.Hour)
	already := decision("vpce-00000000000000007", "accept", approver.ResultAlreadyAccepted, time.Minute)
	held := decision("vpce-00000000000000008", "reject", approver.ResultHeld, time.Minute)
	held.Revoked = true
	rejectionHeld := decision("vpce-00000000000000009", "reject", approver.ResultHeld, time.Minute)
	// Its part is refused or missing: undecided, never announced as a
	// rejection nor marked announced before it is decided.
	heldByPart := decision("vpce-0000000000000000a", "", approver.ResultLeftPending, time.Minute)
	report := &approver.Report{Decisions: []approver.Outcome{manualNew, manualOld, announced, accepted, revoked, failed, already, held, rejectionHeld, heldByPart}}
	dry := &approver.Report{DryRun: true, Decisions: report.Decisions}
	cfg := announce.Config{TopicARN: topic, SweepPeriod: 5 * time.Minute, Region: "us-east-1"}
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
		{"a sweep announces every manual request not announced yet, however old", cfg, report, announce.Event{Sweep: true},
			[]string{"vpce-00000000000000001", "vpce-00000000000000002"}},
		{"so does a notification", cfg, report, announce.Event{}, []string{"vpce-00000000000000001", "vpce-00000000000000002"}},
		{"every applied decision and failures when asked, never held or already decided", all, report, announce.Event{Sweep: true},
			[]string{"vpce-00000000000000001", "vpce-00000000000000002", "vpce-00000000000000003", "vpce-00000000000000004", "vpce-00000000000000006"}},
		{"nothing in dry run", cfg, dry, announce.Event{Sweep: true}, nil},
		{"nothing without a topic", off, report, announce.Event{Sweep: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := announce.New(nil, nil, tt.cfg, nil)
			var got []string
			for _, i := range a.Select(tt.report, tt.ev, now) {
				got = append(got, tt.report.Decisions[i].EndpointID)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// refused is the error EC2 answers when it will not tag a resource.
func refused() error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 400}},
		Err:      &smithy.GenericAPIError{Code: "UnsupportedOperation", Message: "cannot tag a pending connection"},
	}}
}

func TestAnnounceMarksAnnouncedRequests(t *testing.T) {
	published := map[string]int{}
	client := publishFunc(func(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
		published[aws.ToString(in.Message)]++
		return &sns.PublishOutput{}, nil
	})
	var markErr error
	var marked [][]string
	marker := markFunc(func(_ context.Context, ids []string, at time.Time) error {
		assert.Equal(t, now, at)
		marked = append(marked, ids)
		return markErr
	})
	a := announce.New(client, marker, announce.Config{TopicARN: topic, All: true, SweepPeriod: 5 * time.Minute, Region: "us-east-1"}, nil)
	report := func() *approver.Report {
		return &approver.Report{Decisions: []approver.Outcome{
			decision("vpce-00000000000000001", "manual", approver.ResultLeftPending, time.Hour),
			decision("vpce-00000000000000002", "accept", approver.ResultAccepted, time.Minute),
			decision("vpce-00000000000000003", "manual", approver.ResultLeftPending, time.Minute),
		}}
	}

	r := report()
	a.Announce(context.Background(), r, announce.Event{}, now)
	assert.Len(t, published, 3)
	assert.Equal(t, [][]string{{"vpce-conn-00000000000000001", "vpce-conn-00000000000000003"}}, marked,
		"one call tags the pending requests announced; an applied decision has its stamp")
	assert.Equal(t, "2026-11-29T12:00:00Z", r.Decisions[0].AnnouncedAt)
	assert.Empty(t, r.Decisions[1].AnnouncedAt)

	// EC2 refuses to tag pending connections: the failure is on the
	// decision, and from then on only a sweep announces, and only requests
	// created within the last sweep period.
	markErr, marked = refused(), nil
	r = report()
	a.Announce(context.Background(), r, announce.Event{}, now)
	assert.Contains(t, r.Decisions[0].StampError, "UnsupportedOperation")
	var picked []string
	for _, i := range a.Select(report(), announce.Event{}, now) {
		picked = append(picked, report().Decisions[i].EndpointID)
	}
	assert.Equal(t, []string{"vpce-00000000000000002"}, picked, "no pending request is announced outside a sweep")
	picked = nil
	for _, i := range a.Select(report(), announce.Event{Sweep: true}, now) {
		picked = append(picked, report().Decisions[i].EndpointID)
	}
	assert.Equal(t, []string{"vpce-00000000000000002", "vpce-00000000000000003"}, picked, "a sweep announces the recent one only")
	marked = nil
	a.Announce(context.Background(), report(), announce.Event{Sweep: true}, now)
	assert.Empty(t, marked, "no more tagging once refused")
}

func TestAnnounceMarkFailureThatIsNoRefusal(t *testing.T) {
	client := publishFunc(func(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error) {
		return &sns.PublishOutput{}, nil
	})
	marker := markFunc(func(context.Context, []string, time.Time) error { return errors.New("RequestLimitExceeded") })
	a := announce.New(client, marker, announce.Config{TopicARN: topic, SweepPeriod: 5 * time.Minute, Region: "us-east-1"}, nil)
	r := &approver.Report{Decisions: []approver.Outcome{decision("vpce-00000000000000001", "manual", approver.ResultLeftPending, time.Hour)}}
	a.Announce(context.Background(), r, announce.Event{}, now)
	assert.NotEmpty(t, r.Decisions[0].StampError)
	assert.Equal(t, []int{0}, a.Select(r, announce.Event{}, now), "throttled: it stays unmarked and is announced again")
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
		`approverctl accept --region us-east-1 --service vpce-svc-0aaaaaaaaaaaaaaaa --reason "..." vpce-0a1b2c3d4e5f67890`,
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
	a := announce.New(client, markFunc(func(context.Context, []string, time.Time) error { return nil }),
		announce.Config{TopicARN: topic, SweepPeriod: time.Hour, Region: "us-east-1"}, nil)
	report := &approver.Report{Decisions: []approver.Outcome{
		decision("vpce-00000000000000001", "manual", approver.ResultLeftPending, time.Minute),
		decision("vpce-00000000000000002", "manual", approver.ResultLeftPending, time.Minute),
	}}
	a.Announce(context.Background(), report, announce.Event{Sweep: true}, now)
	require.Equal(t, 2, calls, "a failed publish does not stop the others")
	assert.Len(t, subjects, 1)
}

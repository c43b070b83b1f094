package approver_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

const (
	svcOpen   = "vpce-svc-0cccccccccccccccc" // no acceptance required
	svcTagged = "vpce-svc-0dddddddddddddddd" // tagged, open
)

func fleet() *approvertest.EC2 {
	f := approvertest.NewEC2(svcA, svcB, svcOpen, svcTagged)
	f.Open[svcOpen], f.Open[svcTagged] = true, true
	f.ServiceTags[svcB] = map[string]string{"approver": "yes"}
	f.ServiceTags[svcTagged] = map[string]string{"approver": "no"}
	for i, svc := range []string{svcA, svcB, svcOpen, svcTagged} {
		// An accepted connection each: revoking with an empty policy
		// rejects every managed one, and only those.
		f.Add(svc, "vpce-0000000000000000"+string(rune('a'+i)), "111111111111", "available", "")
	}
	return f
}

func TestWhichServicesAreManaged(t *testing.T) {
	tests := []struct {
		name string
		cfg  approver.Config
		want []string
	}{
		{"neither: those that require acceptance", approver.Config{}, []string{svcA, svcB}},
		{"a tag and value: the owner opted in, whatever the acceptance setting", approver.Config{ServiceTag: &awsid.TagFilter{Key: "approver", Value: "yes"}}, []string{svcB}},
		{"a tag with any value", approver.Config{ServiceTag: &awsid.TagFilter{Key: "approver", AnyValue: true}}, []string{svcB, svcTagged}},
		{"SERVICE_IDS first", approver.Config{ServiceIDs: []string{svcOpen}, ServiceTag: &awsid.TagFilter{Key: "approver", AnyValue: true}}, []string{svcOpen}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fleet()
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, `{"version": 1, "revoke": true, "rules": []}`), tt.cfg)
			report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
			require.NoError(t, err)
			assert.Equal(t, tt.want, report.Services)
			for i, svc := range []string{svcA, svcB, svcOpen, svcTagged} {
				want := "available"
				if slices.Contains(tt.want, svc) {
					want = "rejected"
				}
				assert.Equal(t, want, f.State("vpce-0000000000000000"+string(rune('a'+i))), "%s: only managed services are touched", svc)
			}
		})
	}
}

func TestTheListOfManagedServicesIsKeptBetweenSweeps(t *testing.T) {
	f := fleet()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{SweepPeriod: 5 * time.Minute, Now: func() time.Time { return now }})
	run := func(req approver.Request) []string {
		t.Helper()
		f.Mu.Lock()
		f.Calls = nil
		f.Mu.Unlock()
		report, err := a.Reconcile(context.Background(), req)
		require.NoError(t, err)
		f.Mu.Lock()
		defer f.Mu.Unlock()
		var listings []string
		for _, c := range f.Calls {
			if c == "DescribeServices" {
				listings = append(listings, c)
			}
		}
		assert.NotNil(t, report)
		return listings
	}
	assert.Len(t, run(approver.Request{Trigger: "notification", Services: []string{svcA}}), 1, "cold: it reads the configuration of the service named, never the list")
	assert.Len(t, run(approver.Request{Trigger: "schedule", All: true, Sweep: true}), 1, "a sweep reads the list")
	assert.Empty(t, run(approver.Request{Trigger: "notification", Services: []string{svcB}}), "a notification uses the sweep's list")
	assert.Empty(t, run(approver.Request{Trigger: "notification", All: true}), "even one that names no service")
	assert.Len(t, run(approver.Request{Trigger: "notification", Services: []string{svcOpen}}), 1, "a service the list lacks: its own configuration")
	assert.Len(t, run(approver.Request{Trigger: "cloudtrail", Services: []string{"vpce-svc-0eeeeeeeeeeeeeeee"}}), 1, "another provider's service: looked up, left alone")
	now = now.Add(5 * time.Minute)
	assert.Len(t, run(approver.Request{Trigger: "notification", All: true}), 1, "after a sweep period the list is read again")
	assert.Len(t, run(approver.Request{Trigger: "schedule", All: true, Sweep: true}), 1)
}

func TestAServiceNamedIsDescribedWithTheOthers(t *testing.T) {
	f := fleet()
	var asked [][]string
	a := approver.New(vpcendpoints.New(recordServices{f, &asked}), staticPolicy(t, "111111111111"), approver.Config{})
	_, err := a.Reconcile(context.Background(), approver.Request{Trigger: "notification",
		Services: []string{svcA, "vpce-svc-0eeeeeeeeeeeeeeee", svcOpen}})
	require.NoError(t, err)
	assert.Equal(t, [][]string{
		{svcA, svcOpen, "vpce-svc-0eeeeeeeeeeeeeeee"}, // one call for the services named...
		{svcA}, {svcOpen}, {"vpce-svc-0eeeeeeeeeeeeeeee"}, // ...one at a time when one is not the account's
	}, asked)
}

// recordServices records the ServiceIds of each service listing.
type recordServices struct {
	*approvertest.EC2
	asked *[][]string
}

func (r recordServices) DescribeVpcEndpointServiceConfigurations(ctx context.Context, in *ec2.DescribeVpcEndpointServiceConfigurationsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServiceConfigurationsOutput, error) {
	*r.asked = append(*r.asked, in.ServiceIds)
	return r.EC2.DescribeVpcEndpointServiceConfigurations(ctx, in, optFns...)
}

func TestSweepsRegisterConnectionNotifications(t *testing.T) {
	const topic = "arn:aws:sns:us-east-1:123456789012:connections"
	tests := []struct {
		name        string
		cfg         approver.Config
		req         approver.Request
		fail        string
		wantCreated []string
		want        *approver.NotificationCounts
	}{
		{"a sweep creates the missing ones", approver.Config{ConnectionTopicARN: topic},
			approver.Request{Trigger: "schedule", All: true, Sweep: true}, "", []string{svcB}, &approver.NotificationCounts{Created: 1}},
		{"not without a topic", approver.Config{}, approver.Request{Trigger: "schedule", All: true, Sweep: true}, "", nil, nil},
		{"listed services too", approver.Config{ConnectionTopicARN: topic, ServiceIDs: []string{svcA, svcB}},
			approver.Request{Trigger: "schedule", All: true, Sweep: true}, "", []string{svcB}, &approver.NotificationCounts{Created: 1}},
		{"not on a notification", approver.Config{ConnectionTopicARN: topic}, approver.Request{Trigger: "notification", All: true}, "", nil, nil},
		{"a failed create is counted, the decisions stand", approver.Config{ConnectionTopicARN: topic},
			approver.Request{Trigger: "schedule", All: true, Sweep: true}, "CreateNotification", nil, &approver.NotificationCounts{Failed: 1}},
		{"a failed listing is counted once", approver.Config{ConnectionTopicARN: topic},
			approver.Request{Trigger: "schedule", All: true, Sweep: true}, "DescribeNotifications", nil, &approver.NotificationCounts{Failed: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fleet()
			f.Notifications[svcA] = []string{topic}                                     // has one
			f.Notifications[svcOpen] = []string{"arn:aws:sns:us-east-1:123456789012:x"} // not managed
			f.Add(svcA, "vpce-0000000000000000f", "111111111111", "pendingAcceptance", "")
			if tt.fail != "" {
				f.FailCall[tt.fail] = &smithy.GenericAPIError{Code: "UnauthorizedOperation"}
			}
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), tt.cfg)
			report, err := a.Reconcile(context.Background(), tt.req)
			require.NoError(t, err)
			require.NoError(t, report.Err(), "registration never fails the decisions")
			assert.Equal(t, "available", f.State("vpce-0000000000000000f"))
			assert.Equal(t, tt.want, report.Notifications)
			var created []string
			for svc, topics := range f.Notifications {
				if slices.Contains(topics, topic) && svc != svcA {
					created = append(created, svc)
				}
			}
			assert.ElementsMatch(t, tt.wantCreated, created)
			assert.Equal(t, []string{topic}, f.Notifications[svcA], "an existing notification is kept, never a second one")
			assert.Equal(t, []string{"arn:aws:sns:us-east-1:123456789012:x"}, f.Notifications[svcOpen], "never one for a service not managed, never a deletion")
		})
	}
}

func TestTheDeadlineNeverStarvesAService(t *testing.T) {
	services := []string{svcA, svcB, svcOpen}
	f := approvertest.NewEC2(services...)
	request := func(svc string) string {
		t.Helper()
		f.Mu.Lock()
		n := len(f.Conns)
		f.Mu.Unlock()
		id := fmt.Sprintf("vpce-%017x", 0x1000+n)
		f.Add(svc, id, "111111111111", "pendingAcceptance", "")
		return id
	}
	first := map[string]string{}
	for _, svc := range services {
		first[svc] = request(svc)
	}
	// Each Accept call takes 2 s of the fake clock; a service is started
	// only with 5 s left.
	clock := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f.BeforeApply = func(*approvertest.EC2) { clock = clock.Add(2 * time.Second) }
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: services, ServiceTime: 5 * time.Second,
		Now: func() time.Time { return clock }})
	reconcile := func(req approver.Request) *approver.Report {
		t.Helper()
		ctx, cancel := context.WithDeadline(context.Background(), clock.Add(8*time.Second))
		defer cancel()
		report, err := a.Reconcile(ctx, req)
		require.NoError(t, err)
		require.NoError(t, report.Err(), "a service not reached does not fail the sweep")
		return report
	}
	sweep := approver.Request{Trigger: "schedule", All: true, Sweep: true}

	one := reconcile(sweep)
	require.Len(t, one.NotReached, 1, "8 s: two services of 2 s each, then less than 5 s left")
	left := one.NotReached[0]
	for _, d := range one.Decisions {
		assert.NotEqual(t, left, d.ServiceID, "a service not reached has no decision lines")
	}
	assert.Equal(t, "pendingAcceptance", f.State(first[left]), "nothing half-applied")
	assert.False(t, one.ServiceDone(left))

	// A notification in between does not move where the next sweep starts.
	reconcile(approver.Request{Trigger: "notification", Services: []string{svcA}})
	// New requests everywhere: the next sweep can decide two services, and
	// starts with the one left.
	for _, svc := range services {
		request(svc)
	}
	two := reconcile(sweep)
	assert.Equal(t, left, two.Decisions[0].ServiceID, "the next sweep starts where this one stopped")
	assert.Equal(t, "available", f.State(first[left]))
	assert.Len(t, two.NotReached, 1)
	reconcile(sweep)
	three := reconcile(sweep)
	assert.Empty(t, three.NotReached)
	f.Mu.Lock()
	defer f.Mu.Unlock()
	for id, c := range f.Conns {
		assert.Equal(t, "available", string(c.VpcEndpointState), "%s: every service decided within a few sweeps", id)
	}
}

func TestUnregisterDeletesTheNotificationsOnTheStacksTopicOnly(t *testing.T) {
	const topic = "arn:aws:sns:us-east-1:123456789012:connections"
	const other = "arn:aws:sns:us-east-1:123456789012:someone-elses"
	tests := []struct {
		name      string
		own       string
		asked     string
		fail      string
		want      int
		wantErr   string
		wantLeft  map[string][]string
		wantCalls []string
	}{
		{name: "every notification on the topic", own: topic, asked: topic, want: 2,
			wantLeft:  map[string][]string{svcA: {other}, svcB: nil},
			wantCalls: []string{"DescribeNotifications", "DeleteNotifications"}},
		{name: "a request naming another topic deletes nothing", own: topic, asked: other,
			wantErr: "no notification deleted", wantLeft: map[string][]string{svcA: {topic, other}, svcB: {topic}}},
		{name: "no topic configured: nothing registered, nothing to delete", asked: topic,
			wantLeft: map[string][]string{svcA: {topic, other}, svcB: {topic}}},
		{name: "a failed delete says so", own: topic, asked: topic, fail: "DeleteNotifications",
			wantErr: "delete the 2 connection notifications", wantLeft: map[string][]string{svcA: {topic, other}, svcB: {topic}},
			wantCalls: []string{"DescribeNotifications", "DeleteNotifications"}},
		{name: "a failed listing deletes nothing", own: topic, asked: topic, fail: "DescribeNotifications",
			wantErr: "list the connection notifications", wantLeft: map[string][]string{svcA: {topic, other}, svcB: {topic}},
			wantCalls: []string{"DescribeNotifications"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fleet()
			f.Notifications[svcA] = []string{topic, other}
			f.Notifications[svcB] = []string{topic}
			if tt.fail != "" {
				f.FailCall[tt.fail] = &smithy.GenericAPIError{Code: "UnauthorizedOperation"}
			}
			f.Calls = nil
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{ConnectionTopicARN: tt.own})
			n, err := a.Unregister(context.Background(), tt.asked)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, n)
			for svc, left := range tt.wantLeft {
				assert.Equal(t, left, f.Notifications[svc], svc)
			}
			assert.Equal(t, tt.wantCalls, f.Calls)
		})
	}
}

func TestTheTimeKeptPerServiceScalesWithTheTimeout(t *testing.T) {
	// Four services with a request each; every Accept takes `call` of the
	// fake clock (EC2 slow or throttled). The handler leaves `total` between
	// the start of the invocation and its deadline: a 10 s function keeps
	// 7 s, a 60 s one 57 s, a 900 s one 897 s.
	tests := []struct {
		name      string
		total     time.Duration
		call      time.Duration
		maxSweeps int
	}{
		{"10 s function, quick EC2", 7 * time.Second, 500 * time.Millisecond, 1},
		{"10 s function, throttled", 7 * time.Second, 6 * time.Second, 4},
		{"20 s function, throttled", 17 * time.Second, 6 * time.Second, 2},
		{"60 s function, throttled", 57 * time.Second, 6 * time.Second, 1},
		{"900 s function, throttled", 897 * time.Second, 6 * time.Second, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			services := []string{svcA, svcB, svcOpen, svcTagged}
			f := approvertest.NewEC2(services...)
			for i, svc := range services {
				f.Add(svc, fmt.Sprintf("vpce-%017x", 0x2000+i), "111111111111", "pendingAcceptance", "")
			}
			clock := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			var deadline time.Time
			inSweep := 0
			f.BeforeApply = func(*approvertest.EC2) {
				assert.False(t, clock.After(deadline.Add(-approver.MinServiceTime)), "a service started with less than MinServiceTime left")
				if inSweep > 0 {
					// Past the first, a service starts only when a call as
					// long as the last one ends before the stamp reserve.
					assert.False(t, clock.Add(tt.call).After(deadline.Add(-approver.StampReserve)), "a later service's calls would be cut")
				}
				inSweep++
				clock = clock.Add(tt.call)
			}
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: services,
				Now: func() time.Time { return clock }})
			sweeps := 0
			for pending := len(services); pending > 0; {
				require.Less(t, sweeps, tt.maxSweeps, "every service decided within %d sweeps", tt.maxSweeps)
				deadline = clock.Add(tt.total)
				inSweep = 0
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				report, err := a.Reconcile(ctx, approver.Request{Trigger: "schedule", All: true, Sweep: true})
				cancel()
				require.NoError(t, err)
				sweeps++
				require.Positive(t, report.Accepted, "every sweep decides at least one service")
				pending -= report.Accepted
				// The next sweep comes later.
				clock = clock.Add(5 * time.Minute)
			}
		})
	}
}

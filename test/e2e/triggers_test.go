//go:build e2e

package e2e

import (
	"fmt"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

const (
	allowed   = "111111111111"
	allowed2  = "222222222222"
	stranger  = "333333333333"
	euPartner = "444444444444"
)

func TestScheduleSweepsAllManagedServices(t *testing.T) {
	s := newScenario(t, 2)
	s.policy(allowed + "," + allowed2)
	a := s.endpoint(s.services[0], allowed)
	b := s.endpoint(s.services[0], stranger)
	c := s.endpoint(s.services[1], allowed2)
	unmanaged := newScenario(t, 1).svc()
	other := s.endpoint(unmanaged, allowed)
	f := s.function()

	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)

	assert.Equal(t, map[string]string{a: "available", b: "rejected"}, s.states(s.services[0]))
	assert.Equal(t, map[string]string{c: "available"}, s.states(s.services[1]))
	assert.Equal(t, map[string]string{other: "pendingAcceptance"}, s.states(unmanaged), "a service not managed is never touched")
	assert.Equal(t, "schedule", sum.Trigger)
	assert.Equal(t, 2, sum.Accepted)
	assert.Equal(t, 1, sum.Rejected)
	assert.Equal(t, 0, sum.Failed)
	assert.ElementsMatch(t, []string{s.services[0].ID, s.services[1].ID}, sum.Services)

	// One JSON line per decision, with the fields operators search on.
	lines := f.Logs("decision")
	require.Len(t, lines, 3)
	for _, l := range lines {
		for _, field := range []string{"serviceId", "endpointId", "owner", "action", "rule", "dryRun", "trigger"} {
			assert.Contains(t, l, field)
		}
		assert.Equal(t, "schedule", l["trigger"])
		assert.Equal(t, false, l["dryRun"])
		if l["endpointId"] == b {
			assert.Equal(t, "reject", l["action"])
			assert.Equal(t, "default", l["rule"])
			assert.Equal(t, stranger, l["owner"])
		}
	}

	// A second sweep finds nothing pending and changes nothing.
	var again summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &again)
	assert.Empty(t, again.Decisions)
}

func TestCloudTrailReconcilesTheServiceItNames(t *testing.T) {
	s := newScenario(t, 2)
	s.policy(allowed)
	named := s.endpoint(s.services[0], allowed)
	notNamed := s.endpoint(s.services[1], allowed)
	f := s.function()

	var sum summary
	invoke(t, f, s.sample("cloudtrail-create-vpc-endpoint.json"), &sum)
	assert.Equal(t, "cloudtrail", sum.Trigger)
	assert.Equal(t, []string{s.services[0].ID}, sum.Services)
	assert.Equal(t, map[string]string{named: "available"}, s.states(s.services[0]))
	assert.Equal(t, map[string]string{notNamed: "pendingAcceptance"}, s.states(s.services[1]), "only the named service is reconciled")

	t.Run("an endpoint to an AWS service is none of ours", func(t *testing.T) {
		var ign struct{ Trigger, Ignored string }
		invoke(t, f, s.sample("cloudtrail-create-vpc-endpoint-s3.json"), &ign)
		assert.Equal(t, "cloudtrail", ign.Trigger)
		assert.NotEmpty(t, ign.Ignored)
		assert.Equal(t, map[string]string{notNamed: "pendingAcceptance"}, s.states(s.services[1]))
	})
	t.Run("an endpoint to another provider's service is none of ours", func(t *testing.T) {
		foreign := newScenario(t, 1).svc()
		id := s.endpoint(foreign, allowed)
		payload, err := localaws.SampleEvent("cloudtrail-create-vpc-endpoint.json", localaws.SampleServiceID, foreign.ID)
		require.NoError(t, err)
		var sum summary
		invoke(t, f, payload, &sum)
		assert.Empty(t, sum.Services)
		assert.Equal(t, map[string]string{id: "pendingAcceptance"}, s.states(foreign))
	})
}

func TestPolicyChangeReloadsThePolicy(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(`{"version": 1, "defaultAction": "manual", "rules": []}`)
	id := s.endpoint(s.svc(), allowed)
	// A long cache: only the policy-change event may bypass it.
	f := s.function("POLICY_CACHE_SECONDS=3600")

	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, 1, sum.Manual)
	assert.Equal(t, map[string]string{id: "pendingAcceptance"}, s.states(s.svc()))

	s.policy(allowed)
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, map[string]string{id: "pendingAcceptance"}, s.states(s.svc()), "a sweep within the cache period uses the cached policy")

	var ign struct{ Trigger, Ignored string }
	invoke(t, f, s.sample("ssm-parameter-store-change-other.json"), &ign)
	assert.Equal(t, "policy-change", ign.Trigger)
	assert.Contains(t, ign.Ignored, "/some-other-app/setting")
	assert.Equal(t, map[string]string{id: "pendingAcceptance"}, s.states(s.svc()), "a change of another parameter does nothing")

	invoke(t, f, s.sample("ssm-parameter-store-change.json"), &sum)
	assert.Equal(t, "policy-change", sum.Trigger)
	assert.Equal(t, 1, sum.Accepted)
	assert.Equal(t, map[string]string{id: "available"}, s.states(s.svc()))
}

func TestNotificationsThroughSQSAndSNS(t *testing.T) {
	s := newScenario(t, 3)
	s.policy(allowed)
	a := s.endpoint(s.services[0], allowed)
	b := s.endpoint(s.services[1], stranger)
	c := s.endpoint(s.services[2], allowed)
	foreign := newScenario(t, 1).svc()
	d := s.endpoint(foreign, allowed)
	f := s.function()

	notification := func(svc string) string {
		return fmt.Sprintf(`{"ServiceId":%q,"NotificationType":"Connect"}`, svc)
	}
	var resp batchResponse
	invoke(t, f, sqsEvent(t,
		snsEnvelope(t, notification(s.services[0].ID)), // SNS envelope
		notification(s.services[1].ID),                 // raw message delivery
		notification(s.services[1].ID),                 // the same again
		notification(foreign.ID),                       // another provider's service
	), &resp)
	assert.Empty(t, resp.ids())
	assert.Equal(t, map[string]string{a: "available"}, s.states(s.services[0]))
	assert.Equal(t, map[string]string{b: "rejected"}, s.states(s.services[1]))
	assert.Equal(t, map[string]string{c: "pendingAcceptance"}, s.states(s.services[2]), "a service no record names is left for later")
	assert.Equal(t, map[string]string{d: "pendingAcceptance"}, s.states(foreign))
	for _, l := range f.Logs("decision") {
		assert.Equal(t, "notification", l["trigger"])
	}

	t.Run("a notification that names no service sweeps every managed one", func(t *testing.T) {
		var resp batchResponse
		invoke(t, f, sqsEvent(t, `{"NotificationType":"Connect"}`), &resp)
		assert.Empty(t, resp.ids())
		assert.Equal(t, map[string]string{c: "available"}, s.states(s.services[2]))
		assert.Equal(t, map[string]string{d: "pendingAcceptance"}, s.states(foreign))
	})

	t.Run("a plain SNS event", func(t *testing.T) {
		e := s.endpoint(s.services[0], stranger)
		var sum summary
		invoke(t, f, s.sample("sns-connection-notification.json"), &sum)
		assert.Equal(t, "notification", sum.Trigger)
		assert.Equal(t, "rejected", s.states(s.services[0])[e])
	})

	t.Run("the sample SQS events", func(t *testing.T) {
		for _, file := range []string{"sqs-sns-connection-notification.json", "sqs-raw-connection-notification.json"} {
			e := s.endpoint(s.services[0], allowed)
			var resp batchResponse
			invoke(t, f, s.sample(file), &resp)
			assert.Empty(t, resp.ids(), file)
			assert.Equal(t, "available", s.states(s.services[0])[e], file)
		}
	})
}

func TestAllOwnedServicesWhenNoneConfigured(t *testing.T) {
	s := newScenarioIn(t, 2, "ap-southeast-2")
	s.policy(allowed)
	a := s.endpoint(s.services[0], allowed)
	b := s.endpoint(s.services[1], stranger)
	f := s.function("SERVICE_IDS=")

	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	assert.ElementsMatch(t, []string{s.services[0].ID, s.services[1].ID}, sum.Services)
	assert.Equal(t, map[string]string{a: "available"}, s.states(s.services[0]))
	assert.Equal(t, map[string]string{b: "rejected"}, s.states(s.services[1]))
}

func TestDryRunChangesNothing(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(allowed)
	a := s.endpoint(s.svc(), allowed)
	b := s.endpoint(s.svc(), stranger)
	f := s.function("DRY_RUN=true")

	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	assert.True(t, sum.DryRun)
	assert.Equal(t, map[string]string{a: "pendingAcceptance", b: "pendingAcceptance"}, s.states(s.svc()))
	actions := map[string]string{}
	for _, d := range sum.Decisions {
		actions[d.EndpointID] = d.Action
		assert.True(t, d.DryRun)
	}
	assert.Equal(t, map[string]string{a: "accept", b: "reject"}, actions, "dry run still decides")
	for _, l := range f.Logs("decision") {
		assert.Equal(t, true, l["dryRun"])
	}

	stats, err := moto.Stats()
	require.NoError(t, err)
	before := stats["ec2:AcceptVpcEndpointConnections"] + stats["ec2:RejectVpcEndpointConnections"]
	invoke(t, f, sqsEvent(t, s.svc().ID), &batchResponse{})
	stats, err = moto.Stats()
	require.NoError(t, err)
	assert.Equal(t, before, stats["ec2:AcceptVpcEndpointConnections"]+stats["ec2:RejectVpcEndpointConnections"], "no Accept or Reject call in dry run")
}

func TestPaginationOverSeveralPages(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(allowed)
	want := map[string]string{}
	for i := range 12 {
		if i%3 == 0 {
			want[s.endpoint(s.svc(), stranger)] = "rejected"
		} else {
			want[s.endpoint(s.svc(), allowed)] = "available"
		}
	}
	require.NoError(t, moto.Control(map[string]any{"maxPageSize": 5}))
	t.Cleanup(func() { _ = moto.Control(map[string]any{}) })
	f := s.function()

	before, err := moto.Stats()
	require.NoError(t, err)
	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	after, err := moto.Stats()
	require.NoError(t, err)

	assert.Len(t, sum.Decisions, 12)
	assert.Equal(t, want, s.states(s.svc()))
	assert.Equal(t, 3, after["ec2:DescribeVpcEndpointConnections"]-before["ec2:DescribeVpcEndpointConnections"], "12 pending at 5 a page is 3 pages")
	assert.Equal(t, 1, after["ec2:AcceptVpcEndpointConnections"]-before["ec2:AcceptVpcEndpointConnections"], "one Accept call for the service")
	assert.Equal(t, 1, after["ec2:RejectVpcEndpointConnections"]-before["ec2:RejectVpcEndpointConnections"], "one Reject call for the service")
}

func TestBadSettingsFailAtStart(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		wants []string
	}{
		{"missing POLICY_PARAMETER", nil, []string{"POLICY_PARAMETER is required"}},
		{"malformed DRY_RUN and SERVICE_IDS", []string{"POLICY_PARAMETER=/p", "DRY_RUN=yes", "SERVICE_IDS=vpce-svc-0aaaaaaaaaaaaaaaa,svc-1"},
			[]string{"DRY_RUN", `"yes"`, "SERVICE_IDS", `"svc-1"`}},
		{"malformed POLICY_CACHE_SECONDS", []string{"POLICY_PARAMETER=/p", "POLICY_CACHE_SECONDS=soon"}, []string{"POLICY_CACHE_SECONDS", `"soon"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The process itself exits during init, before it asks the
			// runtime API for an event.
			cmd := exec.Command(bootstrap)
			cmd.Env = append(append(moto.FunctionEnv(localaws.Region), "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9"), tt.env...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "output: %s", out)
			assert.Equal(t, 1, exit.ExitCode())
			for _, w := range tt.wants {
				assert.Contains(t, string(out), w)
			}

			// Under the emulator, the invocation fails and nothing runs.
			f, err := localaws.StartFunction(rie, bootstrap, append(moto.FunctionEnv(localaws.Region), tt.env...), nil)
			require.NoError(t, err)
			defer f.Stop()
			_, err = f.Invoke(ctx(t), []byte(`{"detail-type":"Scheduled Event","source":"aws.events","detail":{}}`))
			require.Error(t, err)
			assert.Contains(t, f.Output(), tt.wants[0])
		})
	}
}

//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// Tests at fleet scale: one read for every service, services chosen by tag
// or by their acceptance setting. Each test that manages every service of
// the account has a Region of its own.

func TestAHundredServicesInOneRead(t *testing.T) {
	s := newScenario(t, 100)
	want := map[string]string{}
	for i, svc := range s.services {
		account := allowed
		if i%2 == 1 {
			account = stranger
		}
		ids, err := moto.CreateEndpoints(ctx(t), svc, localaws.Endpoint{Account: account}, 3)
		require.NoError(t, err)
		for _, id := range ids {
			want[id] = map[string]string{allowed: "available", stranger: "rejected"}[account]
		}
	}
	s.policy(allowlist(300, allowed))
	f := s.function()
	before, err := moto.Stats()
	require.NoError(t, err)
	var sm summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sm)
	calls := statsDelta(t, before)
	assert.Equal(t, 300, sm.Accepted+sm.Rejected)
	assert.Equal(t, want, s.allStates())
	assert.Equal(t, 1, calls["ec2:DescribeVpcEndpointConnections"], "one read for 100 listed services and 300 connections")
	assert.Equal(t, 1, calls["ec2:DescribeVpcEndpointServiceConfigurations"],
		"the listed services' configurations read once, to count those that do not require acceptance (not listed again)")
	assert.Equal(t, 50, calls["ec2:AcceptVpcEndpointConnections"], "Accept stays one call per service with accepts")
	assert.Equal(t, 50, calls["ec2:RejectVpcEndpointConnections"])
}

func TestServicesChosenByTag(t *testing.T) {
	const region = "sa-east-1"
	s := newScenarioIn(t, 0, region)
	tagged, err := moto.CreateServicesWith(ctx(t), region, 1, localaws.ServiceOptions{Tags: map[string]string{"team": "network"}})
	require.NoError(t, err)
	openTagged, err := moto.CreateServicesWith(ctx(t), region, 1, localaws.ServiceOptions{Open: true, Tags: map[string]string{"team": "network"}})
	require.NoError(t, err)
	otherTeam, err := moto.CreateServicesWith(ctx(t), region, 1, localaws.ServiceOptions{Tags: map[string]string{"team": "data"}})
	require.NoError(t, err)
	untagged, err := moto.CreateServices(ctx(t), region, 1)
	require.NoError(t, err)
	s.services = []localaws.Service{tagged[0], openTagged[0], otherTeam[0], untagged[0]}

	pending := s.endpoint(tagged[0], stranger)
	open := s.endpoint(openTagged[0], stranger) // available at once: no acceptance required
	notOurs := s.endpoint(otherTeam[0], stranger)
	untouched := s.endpoint(untagged[0], stranger)
	s.policy(`{"version": 1, "revoke": true, "rules": []}`)

	t.Run("key=value", func(t *testing.T) {
		f := s.function("SERVICE_IDS=", "SERVICE_TAG=team=network")
		var sm summary
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sm)
		assert.ElementsMatch(t, []string{tagged[0].ID, openTagged[0].ID}, sm.Services)
		assert.Equal(t, "rejected", s.states(tagged[0])[pending])
		assert.Equal(t, "rejected", s.states(openTagged[0])[open], "the owner opted in: managed although it needs no acceptance")
		assert.Equal(t, "pendingAcceptance", s.states(otherTeam[0])[notOurs], "another value: not managed")
		assert.Equal(t, "pendingAcceptance", s.states(untagged[0])[untouched], "an untagged service is never touched")

		// A notification naming a service not chosen leaves it alone.
		var resp batchResponse
		invoke(t, f, sqsEvent(t, untagged[0].ID), &resp)
		assert.Empty(t, resp.ids())
		assert.Equal(t, "pendingAcceptance", s.states(untagged[0])[untouched])
	})
	t.Run("a key alone: any value", func(t *testing.T) {
		f := s.function("SERVICE_IDS=", "SERVICE_TAG=team")
		var sm summary
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sm)
		assert.ElementsMatch(t, []string{tagged[0].ID, openTagged[0].ID, otherTeam[0].ID}, sm.Services)
		assert.Equal(t, "rejected", s.states(otherTeam[0])[notOurs])
		assert.Equal(t, "pendingAcceptance", s.states(untagged[0])[untouched])
	})
}

func TestWithoutServiceIDsOrTagOnlyServicesThatRequireAcceptance(t *testing.T) {
	const region = "ca-central-1"
	s := newScenarioIn(t, 1, region)
	open, err := moto.CreateServicesWith(ctx(t), region, 1, localaws.ServiceOptions{Open: true})
	require.NoError(t, err)
	openConn := s.endpoint(open[0], stranger)
	pending := s.endpoint(s.svc(), stranger)
	accepted := s.endpoint(s.svc(), allowed)
	s.policy(allowed)
	f := s.function("SERVICE_IDS=")
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
	assert.Equal(t, map[string]string{pending: "rejected", accepted: "available"}, s.states(s.svc()))

	// With revoke, a connection to another team's open service is never
	// rejected.
	s.policy(`{"version": 1, "revoke": true, "rules": []}`)
	var sm summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sm)
	assert.Equal(t, []string{s.svc().ID}, sm.Services)
	assert.Equal(t, "available", s.states(open[0])[openConn])
	assert.Equal(t, "rejected", s.states(s.svc())[accepted])
}

func TestTheListOfServicesIsReadBySweepsOnly(t *testing.T) {
	const region = "eu-north-1"
	s := newScenarioIn(t, 3, region)
	s.policy(allowed)
	f := s.function("SERVICE_IDS=", "SWEEP_PERIOD_SECONDS=300")
	count := func(invocation func()) map[string]int {
		t.Helper()
		before, err := moto.Stats()
		require.NoError(t, err)
		invocation()
		return statsDelta(t, before)
	}
	cold := count(func() {
		var resp batchResponse
		invoke(t, f, sqsEvent(t, s.services[0].ID), &resp)
	})
	assert.Equal(t, 1, cold["ec2:DescribeVpcEndpointServiceConfigurations"], "a cold notification reads the named service's configuration only")
	sweep := count(func() { invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{}) })
	assert.Equal(t, 1, sweep["ec2:DescribeVpcEndpointServiceConfigurations"], "a sweep lists the services")
	assert.Equal(t, 1, sweep["ec2:DescribeVpcEndpointConnections"], "and reads every service's connections in one call")
	for _, svc := range s.services {
		id := s.endpoint(svc, allowed)
		warm := count(func() {
			var resp batchResponse
			invoke(t, f, sqsEvent(t, snsEnvelope(t, fmt.Sprintf(`{"ServiceId":%q,"VpcEndpointId":%q}`, svc.ID, id))), &resp)
		})
		assert.Zero(t, warm["ec2:DescribeVpcEndpointServiceConfigurations"], "between sweeps the list is kept")
		assert.Equal(t, "available", s.states(svc)[id])
	}
}

func TestNotificationsRegisterThemselves(t *testing.T) {
	const region = "us-east-1" // the inbox's topic is in the usual Region
	tag := map[string]string{"privatelink-approver": "managed"}
	first, err := moto.CreateServicesWith(ctx(t), region, 2, localaws.ServiceOptions{Tags: tag})
	require.NoError(t, err)
	s := newScenarioIn(t, 0, region)
	s.services = first
	inbox, err := moto.CreateInbox(ctx(t), "connection-notifications")
	require.NoError(t, err)
	s.policy(allowed)
	f := s.function("SERVICE_IDS=", "SERVICE_TAG=privatelink-approver=managed", "CONNECTION_TOPIC_ARN="+inbox.TopicARN)
	sweep := func() map[string]int {
		t.Helper()
		before, err := moto.Stats()
		require.NoError(t, err)
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
		return statsDelta(t, before)
	}
	calls := sweep()
	assert.Equal(t, 2, calls["ec2:CreateVpcEndpointConnectionNotification"], "one per managed service")
	assert.Equal(t, 1, calls["ec2:DescribeVpcEndpointConnectionNotifications"])
	assert.Zero(t, sweep()["ec2:CreateVpcEndpointConnectionNotification"], "created once, not again on the next sweep")

	// A new service, tagged: the next sweep registers its notification, and
	// its first request is then decided from the notification alone.
	added, err := moto.CreateServicesWith(ctx(t), region, 1, localaws.ServiceOptions{Tags: tag})
	require.NoError(t, err)
	assert.Equal(t, 1, sweep()["ec2:CreateVpcEndpointConnectionNotification"])
	id := s.endpoint(added[0], allowed)
	msgs, err := inbox.Receive(ctx(t))
	require.NoError(t, err)
	require.Len(t, msgs, 1, "EC2 published the Connect notification on the stack's topic")
	assert.Contains(t, msgs[0].Message, id)
	envelope, err := localaws.SNSEnvelope(msgs[0].Message)
	require.NoError(t, err)
	var resp batchResponse
	invoke(t, f, sqsEvent(t, envelope), &resp)
	assert.Empty(t, resp.ids())
	assert.Equal(t, "available", s.states(added[0])[id], "decided within seconds, without a sweep")
}

func TestADeadlineMidSweepNeverStarvesAService(t *testing.T) {
	s := newScenario(t, 5)
	s.policy(allowed)
	// A 21 s function (18 s once the handler keeps its margin, so 6 s kept
	// per service), and an Accept call that takes 5 s: three services fit.
	f := s.function("AWS_LAMBDA_FUNCTION_TIMEOUT=21")
	faults(t, map[string]any{"delays": map[string]float64{"ec2:AcceptVpcEndpointConnections": 5}})
	requests := func() map[string]string {
		t.Helper()
		byService := map[string]string{}
		for _, svc := range s.services {
			byService[svc.ID] = s.endpoint(svc, allowed)
		}
		return byService
	}
	decided := func(byService map[string]string) int {
		t.Helper()
		states := s.allStates()
		n := 0
		for _, id := range byService {
			if states[id] == "available" {
				n++
			}
		}
		return n
	}

	t.Run("SQS records that named a service not reached return to the queue", func(t *testing.T) {
		reqs := requests()
		var ids []string
		for _, svc := range s.services {
			ids = append(ids, svc.ID)
		}
		var resp batchResponse
		invoke(t, f, sqsEvent(t, ids...), &resp)
		assert.Len(t, resp.ids(), 2, "one record per service not reached")
		assert.Equal(t, 3, decided(reqs), "the others were decided whole")
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
		assert.Equal(t, 5, decided(reqs))
	})

	t.Run("the next sweep starts where this one stopped", func(t *testing.T) {
		reqs := requests()
		var first summary
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &first)
		require.Len(t, first.NotReached, 2, "the deadline came mid-sweep")
		for _, d := range first.Decisions {
			assert.NotContains(t, first.NotReached, d.ServiceID, "a service not reached has no decision lines")
		}
		assert.Equal(t, 3, decided(reqs))

		// A notification in between, and new requests everywhere: the next
		// sweep still starts with the services left, so they are decided.
		var resp batchResponse
		invoke(t, f, sqsEvent(t, first.Decisions[0].ServiceID), &resp)
		requests()
		var next summary
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &next)
		assert.Equal(t, 5, decided(reqs), "every service decided within two sweeps")
		assert.Len(t, next.NotReached, 2)
	})
}

func TestASweepOfFiveThousandDecisionsAnswersSmall(t *testing.T) {
	s := newScenario(t, 1)
	var accounts []string
	for i := range 50 {
		account := fmt.Sprintf("%012d", 320000000000+i)
		accounts = append(accounts, account)
		_, err := moto.CreateEndpoints(ctx(t), s.svc(), localaws.Endpoint{Account: account}, 100)
		require.NoError(t, err)
	}
	s.policy(allowlist(5000, accounts[:25]...))
	f := s.function()
	answer, err := f.Invoke(ctx(t), s.sample("eventbridge-scheduled-event.json"))
	require.NoError(t, err)
	var sm struct {
		summary
		DecisionsLeftOut int `json:"decisionsLeftOut"`
	}
	require.NoError(t, json.Unmarshal(answer, &sm))
	assert.Equal(t, 2500, sm.Accepted)
	assert.Equal(t, 2500, sm.Rejected)
	assert.Len(t, sm.Decisions, 1000, "the answer lists at most 1,000 decisions")
	assert.Equal(t, 4000, sm.DecisionsLeftOut)
	assert.Less(t, len(answer), 1<<20, "far below Lambda's 6 MB")
	assert.Len(t, f.Logs("decision"), 5000, "every decision still has its log line")
}

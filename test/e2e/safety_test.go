//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// These tests try to break the approver's invariants: no connection is
// accepted that the policy stored at that moment rejects; the guard never
// lets more than maxRevocations through, whatever fails; each manual
// request is announced once; every applied decision is stamped.

// faults sets the moto extension's control file for the rest of the test.
func faults(t *testing.T, control map[string]any) {
	t.Helper()
	require.NoError(t, moto.Control(control))
	t.Cleanup(func() { _ = moto.Control(map[string]any{}) })
}

// metric returns the values of one metric in the function's EMF lines, in
// order, from the lines that have it.
func metric(f *localaws.Function, name string) []float64 {
	var out []float64
	for _, l := range f.Logs("metrics") {
		if v, ok := l[name].(float64); ok {
			out = append(out, v)
		}
	}
	return out
}

func sum(values []float64) float64 {
	var total float64
	for _, v := range values {
		total += v
	}
	return total
}

func TestTwoWarmEnvironmentsAndAChangeHeardByOne(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(allowed + "," + allowed2)
	heard, missed := s.function("POLICY_CACHE_SECONDS=3600"), s.function("POLICY_CACHE_SECONDS=3600")
	for _, f := range []*localaws.Function{heard, missed} {
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{}) // warm: the policy is cached
	}

	s.policy(allowed) // allowed2 is removed
	invoke(t, heard, s.sample("ssm-parameter-store-change.json"), &summary{})

	// A new request from the removed account reaches the environment that
	// did not hear the change, whose cache still allows it.
	removed := s.endpoint(s.svc(), allowed2)
	kept := s.endpoint(s.svc(), allowed)
	before, err := moto.Stats()
	require.NoError(t, err)
	var resp batchResponse
	invoke(t, missed, sqsEvent(t, snsEnvelope(t, fmt.Sprintf(`{"ServiceId":%q,"VpcEndpointId":%q}`, s.svc().ID, removed))), &resp)
	assert.Empty(t, resp.ids())
	assert.Equal(t, map[string]string{removed: "rejected", kept: "available"}, s.states(s.svc()),
		"decided with the policy stored at that moment, not the cached one")
	assert.Equal(t, 1, statsDelta(t, before)["ssm:GetParameter"], "one read, before acting")
	var line map[string]any
	for _, l := range missed.Logs("decision") {
		if l["endpointId"] == removed {
			line = l
		}
	}
	require.NotNil(t, line, "a decision line for the removed account's request")
	assert.Equal(t, "2", line["policyVersion"])
	assert.Equal(t, "default", line["rule"])
	require.NotEmpty(t, missed.Logs("policy changed since it was cached: deciding again"))

	// Nothing to act on: the cache serves, no read.
	before, err = moto.Stats()
	require.NoError(t, err)
	invoke(t, missed, sqsEvent(t, snsEnvelope(t, s.svc().ID)), &resp)
	assert.Zero(t, statsDelta(t, before)["ssm:GetParameter"])
}

func TestTheGuardHoldsWhenAServiceCannotBeRead(t *testing.T) {
	const leaving = "555500001111"
	// 201 listed services: one read covers 200 of them, a second the last.
	s := newScenario(t, 201)
	sorted := slices.SortedFunc(slices.Values(s.services), func(x, y localaws.Service) int { return strings.Compare(x.ID, y.ID) })
	first, last := sorted[0], sorted[200]
	var toRevoke []string
	for _, svc := range []localaws.Service{first, last} {
		ids, err := moto.CreateEndpoints(ctx(t), svc, localaws.Endpoint{Account: leaving}, 8)
		require.NoError(t, err)
		toRevoke = append(toRevoke, ids...)
	}
	s.policy(leaving + "," + allowed)
	f := s.function()
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
	newcomer := s.endpoint(first, allowed)
	stranger1 := s.endpoint(first, stranger)
	s.policy(fmt.Sprintf(`{"version": 1, "revoke": true, "maxRevocations": 10, "rules": [
	  {"name": "partner", "action": "accept", "accounts": [%q]}]}`, allowed))
	states := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, svc := range []localaws.Service{first, last} {
			for id, st := range s.states(svc) {
				out[id] = st
			}
		}
		return out
	}
	allAvailable := func(when string) {
		t.Helper()
		st := states()
		for _, id := range toRevoke {
			require.Equal(t, "available", st[id], "%s: %s revoked", when, id)
		}
	}

	// The read of the last service fails past the retries. The first
	// service's 8 revocations are within maxRevocations on their own, but
	// not with the last's 8: nothing may be revoked.
	faults(t, map[string]any{"failDescribe": []map[string]any{{"serviceId": last.ID, "code": "RequestLimitExceeded", "status": 503}}})
	msg := invokeErr(t, f, s.sample("eventbridge-scheduled-event.json"))
	require.NoError(t, moto.Control(map[string]any{})) // the test's own reads
	assert.Contains(t, msg, "8 revocations held: the connections of "+last.ID+" could not be read")
	allAvailable("a sweep with an unreadable service")
	assert.Equal(t, "available", states()[newcomer], "pending requests of services read in full are decided")
	assert.Equal(t, "rejected", states()[stranger1])
	assert.Equal(t, []float64{0, 8}, metric(f, "RevocationsHeld"), "held revocations are counted (the first sweep held none)")
	assert.Zero(t, sum(metric(f, "Revoked")), "Revoked counts only what EC2 applied")
	require.NotEmpty(t, f.Logs("revocations held"))

	// Now the read of the first 200 fails on its second page, after its
	// first page was read: the last service's 8 are held.
	faults(t, map[string]any{"maxPageSize": 5, "failDescribe": []map[string]any{
		{"serviceId": first.ID, "code": "RequestLimitExceeded", "status": 503, "fromPage": 2}}})
	msg = invokeErr(t, f, s.sample("eventbridge-scheduled-event.json"))
	require.NoError(t, moto.Control(map[string]any{}))
	assert.Contains(t, msg, "8 revocations held: the connections of "+first.ID)
	assert.Contains(t, msg, "and 197 more services could not be read")
	allAvailable("a sweep whose read failed halfway")

	// Read in full, the 16 revocations exceed the guard: still none.
	msg = invokeErr(t, f, s.sample("eventbridge-scheduled-event.json"))
	assert.Contains(t, msg, "16 revocations exceed maxRevocations 10")
	allAvailable("a clean sweep over the guard")

	// Within the guard, they go: the guard counts across services.
	s.policy(fmt.Sprintf(`{"version": 1, "revoke": true, "maxRevocations": 16, "rules": [
	  {"name": "partner", "action": "accept", "accounts": [%q]}]}`, allowed))
	var sm summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sm)
	assert.Equal(t, 16, sm.Revoked)
	st := states()
	for _, id := range toRevoke {
		assert.Equal(t, "rejected", st[id])
	}
}

func TestEachManualRequestIsAnnouncedOnce(t *testing.T) {
	s := newScenario(t, 1)
	inbox, err := moto.CreateInbox(ctx(t), "announced-once")
	require.NoError(t, err)
	manualPolicy := `{"version": 1, "defaultAction": "manual", "rules": [{"name": "partner", "action": "accept", "accounts": ["` + allowed + `"]}]}`
	s.policy(manualPolicy)
	f := s.function("DECISION_TOPIC_ARN="+inbox.TopicARN, "SWEEP_PERIOD_SECONDS=300")
	received := func() []localaws.Message {
		t.Helper()
		msgs, err := inbox.Receive(ctx(t))
		require.NoError(t, err)
		return msgs
	}

	t.Run("a notification, its redelivery and a sweep", func(t *testing.T) {
		manual := s.endpoint(s.svc(), stranger)
		event := sqsEvent(t, snsEnvelope(t, fmt.Sprintf(`{"ServiceId":%q,"VpcEndpointId":%q}`, s.svc().ID, manual)))
		var resp batchResponse
		invoke(t, f, event, &resp)
		msgs := received()
		require.Len(t, msgs, 1)
		assert.Contains(t, msgs[0].Message, manual)
		assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, s.tags(s.svc(), manual)["privatelink-approver:announced-at"])

		invoke(t, f, event, &resp) // SQS delivers at least once
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
		other := s.function("DECISION_TOPIC_ARN="+inbox.TopicARN, "SWEEP_PERIOD_SECONDS=300")
		invoke(t, other, s.sample("eventbridge-scheduled-event.json"), &summary{}) // another environment
		assert.Empty(t, received(), "announced once, by whoever found it first")
		assert.Equal(t, "pendingAcceptance", s.states(s.svc())[manual])
	})

	t.Run("requests made while the policy was broken, once it is fixed", func(t *testing.T) {
		s.policy(`{"version": 2}`)
		invokeErr(t, f, s.sample("eventbridge-scheduled-event.json"))
		during := s.endpoint(s.svc(), "777700001111")
		assert.Contains(t, invokeErr(t, f, sqsEvent(t, snsEnvelope(t, s.svc().ID))), "nothing decided", "the batch returns to the queue")
		assert.Empty(t, received())
		var resp batchResponse

		// Fixed: a notification about another request finds this one too,
		// and announces it, whenever it was made.
		s.policy(manualPolicy)
		another := s.endpoint(s.svc(), "777700002222")
		invoke(t, f, sqsEvent(t, snsEnvelope(t, fmt.Sprintf(`{"ServiceId":%q,"VpcEndpointId":%q}`, s.svc().ID, another))), &resp)
		assert.Empty(t, resp.ids())
		msgs := received()
		assert.Len(t, msgs, 2, "the two new requests, and not the one announced before")
		var announced []string
		for _, m := range msgs {
			for _, id := range []string{during, another} {
				if strings.Contains(m.Message, id) {
					announced = append(announced, id)
				}
			}
		}
		assert.ElementsMatch(t, []string{during, another}, announced)
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
		assert.Empty(t, received())
	})

	t.Run("where pending connections cannot be tagged, a sweep window", func(t *testing.T) {
		faults(t, map[string]any{"untaggableStates": []string{"pendingAcceptance"}})
		g := s.function("DECISION_TOPIC_ARN="+inbox.TopicARN, "SWEEP_PERIOD_SECONDS=300")
		late := s.endpoint(s.svc(), "777700003333")
		accepted := s.endpoint(s.svc(), allowed)
		invoke(t, g, s.sample("eventbridge-scheduled-event.json"), &summary{})
		msgs := received()
		require.Len(t, msgs, 1, "announced, but it cannot be marked")
		assert.Contains(t, msgs[0].Message, late)
		assert.Equal(t, "available", s.states(s.svc())[accepted], "the decisions stand")
		assert.Equal(t, "accepted", s.tags(s.svc(), accepted)["privatelink-approver:decision"], "applied decisions are stamped still")
		assert.Equal(t, float64(1), sum(metric(g, "StampFailures")))
		require.NotEmpty(t, g.Logs("EC2 refuses to tag pending connections: from now on a sweep announces only the requests created within the last sweep period"))

		var resp batchResponse
		invoke(t, g, sqsEvent(t, snsEnvelope(t, fmt.Sprintf(`{"ServiceId":%q,"VpcEndpointId":%q}`, s.svc().ID, late))), &resp)
		assert.Empty(t, received(), "without tags, notifications announce nothing: the sweep window does")
	})
}

func TestDecisionsAreStampedOnTheConnection(t *testing.T) {
	s := newScenario(t, 1)
	accepted := s.endpoint(s.svc(), allowed)
	revoked := s.endpoint(s.svc(), allowed2)
	s.policy(allowed + "," + allowed2)
	f := s.function()
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})

	rejected := s.endpoint(s.svc(), stranger)
	s.policy(fmt.Sprintf(`{"version": 1, "revoke": true, "rules": [
	  {"name": "partner", "action": "accept", "accounts": [%q]},
	  {"name": "left", "action": "reject", "accounts": [%q]}]}`, allowed, allowed2))
	var sm summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sm)
	require.Equal(t, "2", sm.Version)

	stampTime := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	check := func(id, decision, rule, version string) {
		t.Helper()
		tags := s.tags(s.svc(), id)
		assert.Regexp(t, stampTime, tags["privatelink-approver:decided-at"])
		delete(tags, "privatelink-approver:decided-at")
		assert.Equal(t, map[string]string{"privatelink-approver:decision": decision, "privatelink-approver:rule": rule,
			"privatelink-approver:policy-version": version}, tags, id)
	}
	check(accepted, "accepted", "allowlist", "1")
	check(revoked, "revoked", "left", "2")
	check(rejected, "rejected", "default", "2")
	for _, d := range sm.Decisions {
		assert.NotEmpty(t, d.ConnectionID)
		assert.Empty(t, d.StampError)
	}
	stamps := s.tags(s.svc(), revoked)["privatelink-approver:decided-at"]
	assert.Equal(t, stamps, s.tags(s.svc(), rejected)["privatelink-approver:decided-at"], "one time per invocation")
}

func TestALostAnswerIsStillTheFunctionsOwnAccept(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(`{"version": 1, "rules": [{"name": "partner", "action": "accept", "accounts": ["` + allowed + `"]}]}`)
	id := s.endpoint(s.svc(), allowed)
	f := s.function()
	// Accept is applied, then its answer is lost (500); the SDK retries,
	// and EC2 answers the retry with InvalidState: already available.
	faults(t, map[string]any{"faults": []map[string]any{
		{"action": "ec2:AcceptVpcEndpointConnections", "code": "InternalError", "status": 500, "times": 1, "after": true}}})
	var sm summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sm)
	require.Len(t, sm.Decisions, 1)
	d := sm.Decisions[0]
	assert.Equal(t, "accepted", d.Result, "reported as applied, not as someone else's")
	assert.Contains(t, d.Detail, "answer was lost")
	assert.Equal(t, 1, sm.Accepted)
	assert.Equal(t, "available", s.states(s.svc())[id])
	tags := s.tags(s.svc(), id)
	assert.Equal(t, "accepted", tags["privatelink-approver:decision"])
	assert.Equal(t, "partner", tags["privatelink-approver:rule"])
}

func TestAPersonsAcceptSurvivesARevokingSweep(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(`{"version": 1, "revoke": true, "rules": [{"name": "partner", "action": "accept", "accounts": ["` + allowed + `"]}]}`)
	byPerson := s.endpoint(s.svc(), stranger)
	unstamped := s.endpoint(s.svc(), "888800001111")

	out, stderr, code := runCtl(t, nil, "accept", "--service", s.svc().ID, "--reason", "NET-4711: trial for two weeks", byPerson, "--yes")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "1 accepted")
	tags := s.tags(s.svc(), byPerson)
	assert.Equal(t, "accepted", tags["privatelink-approver:decision"])
	assert.Equal(t, "person", tags["privatelink-approver:rule"])
	assert.Equal(t, "NET-4711: trial for two weeks", tags["privatelink-approver:reason"])
	assert.Regexp(t, `^arn:aws:(iam|sts)::123456789012:`, tags["privatelink-approver:by"], "the caller's ARN from STS")
	assert.NotContains(t, tags, "privatelink-approver:policy-version")
	// A person accepting with the AWS CLI leaves no stamp.
	require.NoError(t, moto.Accept(ctx(t), s.svc(), unstamped))
	assert.Empty(t, s.tags(s.svc(), unstamped))

	f := s.function()
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
	assert.Equal(t, "available", s.states(s.svc())[byPerson], "the default action never revokes a person's accept")
	assert.Equal(t, "rejected", s.states(s.svc())[unstamped], "a connection not stamped as a person's accept is revoked")

	// A reject rule that names the account does.
	s.policy(`{"version": 1, "revoke": true, "rules": [{"name": "ended", "action": "reject", "accounts": ["` + stranger + `"]}]}`)
	var sm summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sm)
	assert.Equal(t, "rejected", s.states(s.svc())[byPerson])
	tags = s.tags(s.svc(), byPerson)
	assert.Equal(t, "revoked", tags["privatelink-approver:decision"])
	assert.Equal(t, "ended", tags["privatelink-approver:rule"])
	assert.NotContains(t, tags, "privatelink-approver:by", "the person's by and reason go with their decision")
	assert.NotContains(t, tags, "privatelink-approver:reason")

	// approverctl reject on it now: already rejected, nothing called (and,
	// with nothing to do, nothing asked: no --yes needed).
	out, _, code = runCtl(t, nil, "reject", "--service", s.svc().ID, "--reason", "again", byPerson)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "already-rejected")
	assert.Contains(t, out, "Nothing to do")
}

func TestPolicyPlanAndPush(t *testing.T) {
	s := newScenario(t, 1)
	stored := `{"version": 1, "rules": [{"name": "partners", "action": "accept", "accounts": ["` + allowed + `", "` + allowed2 + `"]}]}`
	s.policy(stored)
	a := s.endpoint(s.svc(), allowed)
	b := s.endpoint(s.svc(), allowed2)
	env := []string{"SERVICE_IDS=" + s.svc().ID, "POLICY_PARAMETER=" + s.parameter}

	_, stderr, code := runCtl(t, env, "policy", "plan", writeFile(t, "same.json", stored))
	assert.Equal(t, 0, code, "nothing would change: %s", stderr)

	narrower := writeFile(t, "narrower.json", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["`+allowed+`"]}]}`)
	out, _, code := runCtl(t, env, "policy", "plan", narrower, "--output", "json")
	assert.Equal(t, 2, code, "something would change")
	var plan struct {
		Changed bool `json:"changed"`
		Changes []struct {
			EndpointID string `json:"endpointId"`
			Current    struct{ Action, Rule string }
			Proposed   struct{ Action, Rule string }
		} `json:"changes"`
		Summary struct{ Accept, Reject, Manual, Revoke int } `json:"summary"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &plan), out)
	assert.True(t, plan.Changed)
	require.Len(t, plan.Changes, 1)
	assert.Equal(t, b, plan.Changes[0].EndpointID)
	assert.Equal(t, "accept", plan.Changes[0].Current.Action)
	assert.Equal(t, "partners", plan.Changes[0].Current.Rule)
	assert.Equal(t, "reject", plan.Changes[0].Proposed.Action)
	assert.Equal(t, 1, plan.Summary.Reject)

	_, stderr, code = runCtl(t, env, "policy", "plan", writeFile(t, "bad.json", `{"version": 1, "rules": [{"name": "x"}]}`))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "is invalid")
	assert.Equal(t, map[string]string{a: "pendingAcceptance", b: "pendingAcceptance"}, s.states(s.svc()), "plans change nothing")

	// push shows the plan, then writes.
	out, stderr, code = runCtl(t, env, "policy", "push", narrower, "--parameter", s.parameter, "--yes")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "Plan: 0 to accept, 1 to reject")
	assert.Contains(t, out, s.parameter+": version 2 written")

	// Under a path, a part that sets what only its root may is refused.
	path := s.parameter + "-parts/"
	require.NoError(t, moto.PutPolicy(ctx(t), s.region, path+"root", fmt.Sprintf(`{"version": 1, "defaultAction": "manual", "delegate": [
	  {"part": "a", "services": [%q]}, {"part": "b", "services": [%q]}], "rules": []}`, s.svc().ID, s.svc().ID), ""))
	require.NoError(t, moto.PutPolicy(ctx(t), s.region, path+"a", `{"version": 1, "rules": []}`, ""))
	require.NoError(t, moto.PutPolicy(ctx(t), s.region, path+"b", `{"version": 1, "rules": []}`, ""))
	pathEnv := []string{"SERVICE_IDS=" + s.svc().ID, "POLICY_PARAMETER=" + path}
	_, stderr, code = runCtl(t, pathEnv, "policy", "push", writeFile(t, "clash.json", `{"version": 1, "defaultAction": "reject", "rules": []}`),
		"--parameter", path+"b", "--yes")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "would be refused by the root part "+path+"root; nothing was written")
	f := s.function("POLICY_PARAMETER=" + path)
	var sm summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sm)
	assert.Equal(t, 2, sm.Manual, "the function still runs on the valid parts: the clash was never written")
}

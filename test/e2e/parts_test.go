//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// pathScenario is a provider whose policy is a path: a root part owned by a
// security team, and parts owned by service teams.
type pathScenario struct {
	*scenario
	path string
}

func newPathScenario(t *testing.T, n int) *pathScenario {
	t.Helper()
	s := newScenario(t, n)
	return &pathScenario{scenario: s, path: s.parameter + "/"}
}

// put writes the part name (relative to the path) as its writer would.
func (p *pathScenario) put(name, value string) {
	p.t.Helper()
	require.NoError(p.t, moto.PutPolicy(ctx(p.t), p.region, p.path+name, value, ""))
}

func (p *pathScenario) remove(name string) {
	p.t.Helper()
	require.NoError(p.t, moto.DeletePolicy(ctx(p.t), p.region, p.path+name))
}

func (p *pathScenario) function(env ...string) *localaws.Function {
	return p.scenario.function(append([]string{"POLICY_PARAMETER=" + p.path}, env...)...)
}

// TestAPartWriterCannotTakeOver writes, as the team that owns one part
// (search), everything that could reach beyond it: the part is refused, its
// own service is held, and the other team's service and partners are
// untouched.
func TestAPartWriterCannotTakeOver(t *testing.T) {
	tests := []struct {
		name   string
		part   func(payments, search string) string
		wantIn string
	}{
		{"the issue's takeover: revoke, maxRevocations, accept everyone, cut a partner", func(string, string) string {
			return fmt.Sprintf(`{"version": 1, "revoke": true, "maxRevocations": 100000, "rules": [
			  {"name": "x-all", "action": "accept", "accounts": ["*"]},
			  {"name": "x-cut", "action": "reject", "accounts": [%q]}]}`, allowed)
		}, "revoke: only the root part may set it"},
		{"accept a stranger on another team's service", func(payments, _ string) string {
			return fmt.Sprintf(`{"version": 1, "rules": [{"name": "x", "action": "accept", "accounts": [%q], "services": [%q]}]}`, stranger, payments)
		}, "is not delegated to this part"},
		{"raise maxRevocations", func(string, string) string {
			return `{"version": 1, "maxRevocations": 100000, "rules": []}`
		}, "maxRevocations: only the root part may set it"},
		{"revoke another team's partner", func(payments, _ string) string {
			return fmt.Sprintf(`{"version": 1, "rules": [{"name": "x", "action": "reject", "accounts": [%q], "services": [%q]}]}`, allowed, payments)
		}, "is not delegated to this part"},
		{"use an action it was not given", func(_, search string) string {
			return fmt.Sprintf(`{"version": 1, "rules": [{"name": "x", "action": "reject", "accounts": [%q], "services": [%q]}]}`, allowed2, search)
		}, `"reject" is not delegated to this part (delegated: accept)`},
		{"a clashing defaultAction", func(string, string) string {
			return `{"version": 1, "defaultAction": "manual", "rules": []}`
		}, "defaultAction: only the root part may set it"},
		{"name a rule as another part's", func(string, string) string {
			return fmt.Sprintf(`{"version": 1, "rules": [{"name": "payments/partners", "action": "accept", "accounts": [%q]}]}`, stranger)
		}, "must not contain /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPathScenario(t, 2)
			payments, search := p.services[0], p.services[1]
			p.put("root", fmt.Sprintf(`{"version": 1, "revoke": true, "maxRevocations": 1, "delegate": [
			  {"part": "payments", "services": [%q]},
			  {"part": "search", "services": [%q], "actions": ["accept"]}], "rules": []}`, payments.ID, search.ID))
			p.put("payments", fmt.Sprintf(`{"version": 1, "rules": [{"name": "partners", "action": "accept", "accounts": [%q]}]}`, allowed))
			p.put("search", allowed2)
			partner := p.endpoint(payments, allowed)
			searchPartner := p.endpoint(search, allowed2)
			f := p.function()
			var sum summary
			invoke(t, f, p.sample("eventbridge-scheduled-event.json"), &sum)
			require.Equal(t, "available", p.states(payments)[partner])
			require.Equal(t, "available", p.states(search)[searchPartner])
			assert.Equal(t, "payments/partners", sum.rules()[partner], "a part's rule is named PART/NAME")
			assert.Equal(t, "search", sum.rules()[searchPartner], "a plain-list part's rule is named PART")

			// The search team writes its part.
			p.put("search", tt.part(payments.ID, search.ID))
			strangerOnPayments := p.endpoint(payments, stranger)
			strangerOnSearch := p.endpoint(search, stranger)
			msg := invokeErr(t, f, p.sample("eventbridge-scheduled-event.json"))
			assert.Contains(t, msg, search.ID, "the held service fails the invocation")
			assert.Contains(t, msg, p.path+"search")

			assert.Equal(t, map[string]string{partner: "available", strangerOnPayments: "rejected"}, p.states(payments),
				"the other team's service is decided by its own part and the root: its partner kept, the stranger rejected by default")
			assert.Equal(t, map[string]string{searchPartner: "available", strangerOnSearch: "pendingAcceptance"}, p.states(search),
				"its own service is held: nothing accepted, rejected or revoked")
			lines := lines(f)
			assert.Equal(t, approver.ResultLeftPending, lines[strangerOnSearch]["result"])
			assert.Contains(t, lines[strangerOnSearch]["detail"], p.path+"search")
			assert.Equal(t, "default", lines[strangerOnPayments]["rule"])

			refused := f.Logs("policy part refused")
			require.NotEmpty(t, refused)
			last := refused[len(refused)-1]
			assert.Equal(t, p.path+"search", last["part"])
			assert.Contains(t, fmt.Sprint(last["problems"]), tt.wantIn)
			assert.Equal(t, []float64{0, 1}, metric(f, "PolicyPartsRefused"), "counted on the invocation that saw it")
		})
	}
}

// TestAValidPartReachesOnlyItsServices: a part that is valid but writes
// as if it owned everything (accept anyone, no services) decides its own
// service only.
func TestAValidPartReachesOnlyItsServices(t *testing.T) {
	p := newPathScenario(t, 2)
	payments, search := p.services[0], p.services[1]
	p.put("root", fmt.Sprintf(`{"version": 1, "delegate": [
	  {"part": "payments", "services": [%q]}, {"part": "search", "services": [%q], "actions": ["accept"]}], "rules": []}`, payments.ID, search.ID))
	p.put("payments", allowed)
	p.put("search", `{"version": 1, "rules": [{"name": "everyone", "action": "accept", "accounts": ["*"]}]}`)
	onPayments := p.endpoint(payments, stranger)
	onSearch := p.endpoint(search, stranger)
	f := p.function()
	var sum summary
	invoke(t, f, p.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, "rejected", p.states(payments)[onPayments], "the other team's service: the root's default")
	assert.Equal(t, "available", p.states(search)[onSearch], "its own service: its rule")
	assert.Equal(t, "search/everyone", sum.rules()[onSearch])
	assert.Empty(t, f.Logs("policy part refused"))
}

// TestADeletedPartHoldsItsRequests: requests wait for a person; the part
// of their service is deleted (by hand, or by an SSM expiration policy).
// Nothing is rejected; other services go on; putting the part back
// resumes. Deleting the root decides nothing anywhere.
func TestADeletedPartHoldsItsRequests(t *testing.T) {
	p := newPathScenario(t, 2)
	payments, search := p.services[0], p.services[1]
	p.put("root", fmt.Sprintf(`{"version": 1, "defaultAction": "manual", "delegate": [
	  {"part": "payments", "services": [%q]}, {"part": "search", "services": [%q]}], "rules": []}`, payments.ID, search.ID))
	p.put("payments", allowed)
	p.put("search", allowed2)
	ids, err := moto.CreateEndpoints(ctx(t), payments, localaws.Endpoint{Account: stranger}, 30)
	require.NoError(t, err)
	f := p.function()
	var sum summary
	invoke(t, f, p.sample("eventbridge-scheduled-event.json"), &sum)
	require.Equal(t, 30, sum.Manual)

	p.remove("payments")
	late := p.endpoint(payments, allowed)          // its part would accept it
	searchNew := p.endpoint(search, allowed2)      // another team's: decided
	searchStranger := p.endpoint(search, stranger) // left to a person, as the root says
	msg := invokeErr(t, f, p.sample("eventbridge-scheduled-event.json"))
	assert.Contains(t, msg, payments.ID)
	assert.Contains(t, msg, "held")
	st := p.states(payments)
	for _, id := range append(ids, late) {
		assert.Equal(t, "pendingAcceptance", st[id], "nothing on a held service is decided")
	}
	assert.Equal(t, map[string]string{searchNew: "available", searchStranger: "pendingAcceptance"}, p.states(search))
	missing := f.Logs("policy part missing")
	require.NotEmpty(t, missing)
	assert.Equal(t, p.path+"payments", missing[len(missing)-1]["part"])

	// SQS: the records that named the held service come back; the others
	// are done.
	var resp batchResponse
	invoke(t, f, sqsEvent(t, snsEnvelope(t, connectNotification(payments.ID, late)), snsEnvelope(t, connectNotification(search.ID, searchNew))), &resp)
	assert.Equal(t, []string{"m0"}, resp.ids())

	// The part comes back: decided at once.
	p.put("payments", allowed)
	invoke(t, f, p.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, "available", p.states(payments)[late])
	assert.Equal(t, "pendingAcceptance", p.states(payments)[ids[0]], "still left to a person, as the root says")

	// Without its root, the path decides nothing at all.
	p.remove("root")
	another := p.endpoint(search, allowed2)
	msg = invokeErr(t, f, p.sample("eventbridge-scheduled-event.json"))
	assert.Contains(t, msg, p.path+"root")
	assert.Contains(t, msg, "needs its root part")
	assert.Equal(t, "pendingAcceptance", p.states(search)[another])
	assert.Equal(t, []float64{1}, metric(f, "PolicyErrors"))
}

// connectNotification is the message EC2 publishes for a new request.
func connectNotification(svc, endpoint string) string {
	return fmt.Sprintf(`{"ServiceId": %q, "VpcEndpointId": %q, "VpcEndpointState": "pendingAcceptance", "NotificationType": "Connect"}`, svc, endpoint)
}

func TestAPathWithoutARootDecidesNothing(t *testing.T) {
	p := newPathScenario(t, 1)
	p.put("partners", allowed)
	p.put("blocked", fmt.Sprintf(`{"version": 1, "rules": [{"name": "blocked", "action": "reject", "accounts": [%q]}]}`, stranger))
	a := p.endpoint(p.svc(), allowed)
	b := p.endpoint(p.svc(), stranger)
	f := p.function()
	want := map[string]string{a: "pendingAcceptance", b: "pendingAcceptance"}

	msg := invokeErr(t, f, p.sample("eventbridge-scheduled-event.json"))
	assert.Contains(t, msg, "policy parameter "+p.path+"root")
	assert.Contains(t, msg, "needs its root part")
	assert.Equal(t, want, p.states(p.svc()))
	msg = invokeErr(t, f, sqsEvent(t, snsEnvelope(t, connectNotification(p.svc().ID, a))))
	assert.Contains(t, msg, p.path+"root")
	assert.Equal(t, want, p.states(p.svc()))
	assert.Empty(t, f.Logs("decision"))

	// An invalid root is named with what is wrong with it.
	p.put("root", `{"version": 1, "delegate": [{"part": "partners"}], "rules": []}`)
	msg = invokeErr(t, f, p.sample("eventbridge-scheduled-event.json"))
	assert.Contains(t, msg, p.path+"root")
	assert.Contains(t, msg, "delegate[0].services: is required")
	assert.Equal(t, want, p.states(p.svc()))
}

// TestRejectionsHaveAGuard: 150 strangers wait for a person; a policy change
// turns them into rejections. None is rejected, the partner is still
// accepted, the alarm's metric counts them and the invocation fails; raising
// maxRejections lets them go.
func TestRejectionsHaveAGuard(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(fmt.Sprintf(`{"version": 1, "defaultAction": "manual", "rules": [{"name": "partner", "action": "accept", "accounts": [%q]}]}`, allowed))
	strangers, err := moto.CreateEndpoints(ctx(t), s.svc(), localaws.Endpoint{Account: stranger}, 150)
	require.NoError(t, err)
	f := s.function()
	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	require.Equal(t, 150, sum.Manual)

	partner := s.endpoint(s.svc(), allowed)
	nextSecond() // the strangers waited through the change
	s.policy(fmt.Sprintf(`{"version": 1, "rules": [{"name": "partner", "action": "accept", "accounts": [%q]}]}`, allowed))
	env := []string{"SERVICE_IDS=" + s.svc().ID, "POLICY_PARAMETER=" + s.parameter}
	out, _, code := runCtl(t, env, "sweep", "--dry-run")
	assert.Equal(t, 1, code, "a dry run fails as the sweep would: %s", out)
	assert.Contains(t, out, "Guard: 150 rejections exceed maxRejections 100")

	msg := invokeErr(t, f, s.sample("ssm-parameter-store-change.json"))
	assert.Contains(t, msg, "150 rejections exceed maxRejections 100")
	st := s.states(s.svc())
	assert.Equal(t, "available", st[partner], "accepts go ahead")
	for _, id := range strangers {
		require.Equal(t, "pendingAcceptance", st[id], "none rejected")
	}
	assert.Equal(t, []float64{0, 150}, metric(f, "RejectionsHeld"))
	held := 0
	for _, l := range lines(f) {
		if l["result"] == approver.ResultHeld {
			held++
			assert.Contains(t, l["detail"], "maxRejections")
		}
	}
	assert.Equal(t, 150, held)

	// A new stranger's notification names the same service: it is rejected,
	// and the 150 that waited through the change are left for the sweep,
	// never rejected a service at a time.
	late := s.endpoint(s.svc(), stranger)
	var resp batchResponse
	invoke(t, f, sqsEvent(t, snsEnvelope(t, connectNotification(s.svc().ID, late))), &resp)
	assert.Empty(t, resp.ids())
	st = s.states(s.svc())
	assert.Equal(t, "rejected", st[late])
	for _, id := range strangers {
		require.Equal(t, "pendingAcceptance", st[id], "not rejected by an event")
	}
	assert.Equal(t, "left-pending", lines(f)[strangers[0]]["result"])
	assert.Contains(t, lines(f)[strangers[0]]["detail"], "left for the next sweep")

	s.policy(fmt.Sprintf(`{"version": 1, "maxRejections": 200, "rules": [{"name": "partner", "action": "accept", "accounts": [%q]}]}`, allowed))
	invoke(t, f, s.sample("ssm-parameter-store-change.json"), &sum)
	assert.Equal(t, 150, sum.Rejected, "meant: raised, and made")
}

// TestPushRefusesAPartWithoutPolicyParameter: an operator's shell with no
// POLICY_PARAMETER still checks a part against its root.
func TestPushRefusesAPartWithoutPolicyParameter(t *testing.T) {
	p := newPathScenario(t, 1)
	p.put("root", fmt.Sprintf(`{"version": 1, "defaultAction": "manual", "delegate": [{"part": "payments", "services": [%q]}], "rules": []}`, p.svc().ID))
	p.put("payments", allowed)
	a := p.endpoint(p.svc(), allowed)
	b := p.endpoint(p.svc(), stranger)
	env := []string{"SERVICE_IDS=" + p.svc().ID, "POLICY_PARAMETER="}
	clash := writeFile(t, "clash.json", `{"version": 1, "defaultAction": "reject", "rules": []}`)
	_, stderr, code := runCtl(t, env, "policy", "push", clash, "--parameter", p.path+"payments", "--yes")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "would be refused by the root part "+p.path+"root; nothing was written")
	assert.Contains(t, stderr, "defaultAction: only the root part may set it")
	_, stderr, code = runCtl(t, env, "policy", "push", writeFile(t, "rogue.txt", stranger), "--parameter", p.path+"rogue", "--yes")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "would be ignored")
	exists, err := moto.PolicyExists(ctx(t), p.region, p.path+"rogue")
	require.NoError(t, err)
	assert.False(t, exists, "nothing was written")

	f := p.function()
	var sum summary
	invoke(t, f, p.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, map[string]string{a: "available", b: "pendingAcceptance"}, p.states(p.svc()), "the stored part still decides")
}

// TestALongPartNameIsStamped: a plain-list part deep under the path has a
// rule name past EC2's 256-character tag values; its stamp still fits.
func TestALongPartNameIsStamped(t *testing.T) {
	p := newPathScenario(t, 1)
	long := "teams/" + strings.Repeat("payments-platform-", 16) + "partners"
	require.Greater(t, len(long), 256)
	p.put("root", fmt.Sprintf(`{"version": 1, "delegate": [{"part": %q, "services": [%q]}], "rules": []}`, long, p.svc().ID))
	p.put(long, allowed)
	a := p.endpoint(p.svc(), allowed)
	f := p.function()
	var sum summary
	invoke(t, f, p.sample("eventbridge-scheduled-event.json"), &sum)
	require.Equal(t, "available", p.states(p.svc())[a])
	require.Len(t, sum.Decisions, 1)
	d := sum.Decisions[0]
	assert.Equal(t, long, d.Rule, "the decision line keeps the full name")
	assert.Empty(t, d.StampError)
	tags := p.tags(p.svc(), a)
	assert.Equal(t, "accepted", tags[approver.TagDecision])
	assert.Equal(t, 256, utf8.RuneCountInString(tags[approver.TagRule]))
	assert.Equal(t, approver.FitTagValue(long), tags[approver.TagRule])
	assert.True(t, strings.HasPrefix(tags[approver.TagRule], long[:200]))
}

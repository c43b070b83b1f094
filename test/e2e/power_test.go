//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRevocation(t *testing.T) {
	const leaving, staying, newcomer = "555500001111", "555500002222", "555500003333"
	setup := func(t *testing.T) (*scenario, []string, []string) {
		s := newScenario(t, 2)
		var gone, kept []string
		for _, svc := range s.services {
			gone = append(gone, s.endpoint(svc, leaving), s.endpoint(svc, leaving))
			kept = append(kept, s.endpoint(svc, staying))
		}
		s.policy(leaving + "," + staying)
		f := s.function()
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
		for _, id := range append(append([]string{}, gone...), kept...) {
			require.Equal(t, "available", s.allStates()[id])
		}
		return s, gone, kept
	}
	revokePolicy := func(extra string) string {
		return fmt.Sprintf(`{"version": 1, "revoke": true, %s "rules": [
		  {"name": "staying", "action": "accept", "accounts": [%q]}]}`, extra, staying)
	}

	t.Run("a policy change revokes within the guard", func(t *testing.T) {
		s, gone, kept := setup(t)
		f := s.function()
		s.policy(revokePolicy(`"maxRevocations": 4,`))
		var sum summary
		invoke(t, f, s.sample("ssm-parameter-store-change.json"), &sum)
		states := s.allStates()
		for _, id := range gone {
			assert.Equal(t, "rejected", states[id], "revoked")
		}
		for _, id := range kept {
			assert.Equal(t, "available", states[id])
		}
		assert.Equal(t, 4, sum.Revoked)
		revokedLines := 0
		for _, l := range f.Logs("decision") {
			if l["revoked"] == true {
				revokedLines++
				assert.Equal(t, "reject", l["action"])
				assert.Equal(t, leaving, l["owner"])
				assert.Equal(t, "revoked", l["result"])
			}
		}
		assert.Equal(t, 4, revokedLines, "every revocation is a decision line with revoked: true")
	})

	t.Run("one over the guard revokes nothing, pending requests are still decided", func(t *testing.T) {
		s, gone, kept := setup(t)
		pendingNew := s.endpoint(s.services[0], newcomer)
		f := s.function()
		s.policy(revokePolicy(`"maxRevocations": 3,`))
		msg := invokeErr(t, f, s.sample("eventbridge-scheduled-event.json"))
		assert.Contains(t, msg, "4 revocations exceed maxRevocations 3")
		states := s.allStates()
		for _, id := range append(gone, kept...) {
			assert.Equal(t, "available", states[id], "nothing revoked")
		}
		assert.Equal(t, "rejected", states[pendingNew], "a pending request is decided as usual")
	})

	t.Run("a notification never revokes", func(t *testing.T) {
		s, gone, _ := setup(t)
		f := s.function()
		s.policy(revokePolicy(""))
		var resp batchResponse
		invoke(t, f, sqsEvent(t, s.services[0].ID, s.services[1].ID), &resp)
		assert.Empty(t, resp.ids())
		for _, id := range gone {
			assert.Equal(t, "available", s.allStates()[id])
		}
	})

	t.Run("manual never revokes", func(t *testing.T) {
		s, gone, _ := setup(t)
		f := s.function()
		s.policy(fmt.Sprintf(`{"version": 1, "revoke": true, "defaultAction": "manual", "rules": [
		  {"name": "staying", "action": "accept", "accounts": [%q]}]}`, staying))
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
		for _, id := range gone {
			assert.Equal(t, "available", s.allStates()[id])
		}
	})
}

func TestConnectionLimit(t *testing.T) {
	s := newScenario(t, 1)
	first := s.endpoint(s.svc(), allowed)
	second := s.endpoint(s.svc(), allowed)
	third := s.endpoint(s.svc(), allowed)
	other := s.endpoint(s.svc(), allowed2)
	s.policy(fmt.Sprintf(`{"version": 1, "rules": [
	  {"name": "two-each", "action": "accept", "accounts": [%q, %q], "maxEndpoints": 2}]}`, allowed, allowed2))
	f := s.function()
	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	// Requests are decided oldest first, then by endpoint ID (the local AWS
	// stamps creation times to the second): the last of the three is over.
	var order []string
	for _, d := range sum.Decisions {
		if d.Owner == allowed {
			order = append(order, d.EndpointID)
		}
	}
	require.ElementsMatch(t, []string{first, second, third}, order)
	states := s.states(s.svc())
	assert.Equal(t, "available", states[order[0]])
	assert.Equal(t, "available", states[order[1]])
	assert.Equal(t, "rejected", states[order[2]], "the third is over the limit")
	assert.Equal(t, "available", states[other], "each account has its own count")
	for _, d := range sum.Decisions {
		if d.EndpointID == order[2] {
			assert.Equal(t, "default", d.Rule)
			assert.Contains(t, d.Reason, "rule two-each did not apply: the account has 2 accepted connections to this service, its maxEndpoints is 2")
		}
	}

	// Accepted connections count on later runs too, and are never revoked.
	fourth := s.endpoint(s.svc(), allowed2)
	fifth := s.endpoint(s.svc(), allowed2)
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	states = s.states(s.svc())
	assert.ElementsMatch(t, []string{"available", "rejected"}, []string{states[fourth], states[fifth]}, "one more for the second account")
	assert.Equal(t, "available", states[order[0]])
	assert.Equal(t, "available", states[order[1]])
}

func TestPolicyMergedFromAPath(t *testing.T) {
	s := newScenario(t, 1)
	path := s.parameter + "/"
	put := func(name, value string) {
		t.Helper()
		require.NoError(t, moto.PutPolicy(ctx(t), s.region, path+name, value, ""))
	}
	put("root", fmt.Sprintf(`{"version": 1, "delegate": [
	  {"part": "partners", "services": [%q], "actions": ["accept"]},
	  {"part": "eu/partner", "services": [%q], "actions": ["accept"]}],
	  "rules": [{"name": "blocked", "action": "reject", "accounts": [%q]}]}`, s.svc().ID, s.svc().ID, allowed2))
	// SecureStrings are listed encrypted, then decrypted one part at a time.
	require.NoError(t, moto.PutPolicy(ctx(t), s.region, path+"partners", allowed+"\n"+allowed2, ssmtypes.ParameterTypeSecureString))
	put("eu/partner", `{"version": 1, "rules": [{"name": "eu", "action": "accept", "accounts": ["4444"]}]}`) // invalid
	a := s.endpoint(s.svc(), allowed)
	b := s.endpoint(s.svc(), allowed2)
	c := s.endpoint(s.svc(), euPartner, inRegion("eu-west-1"))
	f := s.function("POLICY_PARAMETER="+path, "POLICY_CACHE_SECONDS=3600")

	msg := invokeErr(t, f, s.sample("eventbridge-scheduled-event.json"))
	assert.Contains(t, msg, path+"eu/partner", "the error names the invalid part")
	assert.Equal(t, map[string]string{a: "pendingAcceptance", b: "pendingAcceptance", c: "pendingAcceptance"}, s.states(s.svc()),
		"nothing decided on the service the invalid part shares")
	refused := f.Logs("policy part refused")
	require.Len(t, refused, 1)
	assert.Contains(t, fmt.Sprint(refused[0]["problems"]), `rules[0].accounts[0]: "4444"`)

	put("eu/partner", fmt.Sprintf(`{"version": 1, "rules": [{"name": "eu", "action": "accept", "accounts": [%q], "regions": ["eu-west-1"]}]}`, euPartner))
	change, err := jsonReplace(s.sample("ssm-parameter-store-change.json"), s.parameter, path+"eu/partner")
	require.NoError(t, err)
	var sum summary
	invoke(t, f, change, &sum)
	assert.Equal(t, "policy-change", sum.Trigger, "a change under the path reloads the policy")
	assert.Equal(t, map[string]string{a: "available", b: "rejected", c: "available"}, s.states(s.svc()))
	rules := sum.rules()
	assert.Equal(t, "partners", rules[a], "a plain-list part is a rule named after the part")
	assert.Equal(t, "blocked", rules[b], "the root's reject wins over a part's accept")
	assert.Equal(t, "eu/partner/eu", rules[c], "a part's rule is PART/NAME")
}

func TestTenThousandAccountsSplitOverParameters(t *testing.T) {
	s := newScenario(t, 1)
	path := s.parameter + "/"
	const parts, perPart = 16, 625 // 8 KB Advanced parameters
	account := func(i int) string { return fmt.Sprintf("%012d", 600000000000+i) }
	var delegations []string
	for p := range parts {
		var ids []string
		for i := range perPart {
			ids = append(ids, account(p*perPart+i))
		}
		name := fmt.Sprintf("part-%02d", p)
		require.NoError(t, moto.PutPolicy(ctx(t), s.region, path+name, strings.Join(ids, ","), ""))
		delegations = append(delegations, fmt.Sprintf(`{"part": %q, "services": [%q], "actions": ["accept"]}`, name, s.svc().ID))
	}
	require.NoError(t, moto.PutPolicy(ctx(t), s.region, path+"root", fmt.Sprintf(`{"version": 1, "delegate": [%s], "rules": []}`, strings.Join(delegations, ",")), ""))
	want := map[string]string{}
	for _, i := range []int{0, 624, 625, 5000, 9999} {
		want[s.endpoint(s.svc(), account(i))] = "available"
	}
	want[s.endpoint(s.svc(), account(10000))] = "rejected"
	want[s.endpoint(s.svc(), stranger)] = "rejected"
	f := s.function("POLICY_PARAMETER=" + path)
	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, want, s.states(s.svc()))
}

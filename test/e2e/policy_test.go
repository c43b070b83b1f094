//go:build e2e

package e2e

import (
	"fmt"
	"testing"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

func TestPolicyFeatures(t *testing.T) {
	s := newScenario(t, 2)
	main, other := s.services[0], s.services[1]
	partner := s.endpoint(main, allowed)
	blockedByRule := s.endpoint(main, allowed2)  // a wildcard accept, but a reject rule too
	wildcard := s.endpoint(main, stranger)       // the wildcard accept rule, main only
	wildcardOther := s.endpoint(other, stranger) // the wildcard rule is narrowed to main
	euCross := s.endpoint(main, euPartner, inRegion("eu-west-1"))
	euSame := s.endpoint(main, euPartner)          // same region: no VpcEndpointRegion
	expired := s.endpoint(other, "555555555555")   // its only rule expired
	pinned := s.endpoint(other, "666666666666")    // named in a rule's endpoints
	notPinned := s.endpoint(other, "666666666666") // same account, other endpoint

	s.policy(fmt.Sprintf(`{"version": 1,
	  "defaultAction": "reject",
	  "rules": [
	    {"name": "partner-a", "action": "accept", "accounts": [%q]},
	    {"name": "everyone-on-main", "action": "accept", "accounts": ["*"], "services": [%q]},
	    {"name": "eu-partner", "action": "accept", "accounts": [%q], "regions": ["eu-west-1"]},
	    {"name": "old-deal", "action": "accept", "accounts": ["555555555555"], "expires": "2020-01-01T00:00:00Z"},
	    {"name": "pinned", "action": "accept", "accounts": ["666666666666"], "endpoints": [%q]},
	    {"name": "blocked", "action": "reject", "accounts": [%q]}]}`,
		allowed, main.ID, euPartner, pinned, allowed2))
	f := s.function()

	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)

	assert.Equal(t, map[string]string{
		partner:       "available",
		blockedByRule: "rejected",
		wildcard:      "available",
		euCross:       "available",
		euSame:        "available", // everyone-on-main
	}, s.states(main))
	assert.Equal(t, map[string]string{
		wildcardOther: "rejected",
		expired:       "rejected",
		pinned:        "available",
		notPinned:     "rejected",
	}, s.states(other))
	rules := sum.rules()
	assert.Equal(t, "partner-a", rules[partner])
	assert.Equal(t, "blocked", rules[blockedByRule], "a reject rule wins over an accept rule, whatever the order")
	assert.Equal(t, "everyone-on-main", rules[wildcard])
	assert.Equal(t, "everyone-on-main", rules[euCross], "the first matching accept rule is reported")
	assert.Equal(t, "default", rules[wildcardOther])
	assert.Equal(t, "default", rules[expired])
	assert.Equal(t, "pinned", rules[pinned])
	assert.Equal(t, "default", rules[notPinned])
}

func TestPolicyRegionsAndParameterTypes(t *testing.T) {
	tests := []struct {
		name string
		typ  ssmtypes.ParameterType
	}{
		{"String", ssmtypes.ParameterTypeString},
		{"StringList", ssmtypes.ParameterTypeStringList},
		{"SecureString", ssmtypes.ParameterTypeSecureString},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScenario(t, 1)
			a := s.endpoint(s.svc(), allowed)
			b := s.endpoint(s.svc(), allowed2)
			c := s.endpoint(s.svc(), stranger)
			require.NoError(t, moto.PutPolicy(ctx(t), s.region, s.parameter, allowed+","+allowed2, tt.typ))
			f := s.function()
			var sum summary
			invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
			assert.Equal(t, map[string]string{a: "available", b: "available", c: "rejected"}, s.states(s.svc()))
		})
	}

	t.Run("regions: a cross-region consumer is in its own region", func(t *testing.T) {
		s := newScenario(t, 1)
		cross := s.endpoint(s.svc(), euPartner, inRegion("eu-west-1"))
		same := s.endpoint(s.svc(), euPartner)
		home := s.endpoint(s.svc(), allowed)
		s.policy(fmt.Sprintf(`{"version": 1, "rules": [
		  {"name": "eu", "action": "accept", "accounts": [%q], "regions": ["eu-west-1"]},
		  {"name": "home", "action": "accept", "accounts": [%q], "regions": [%q]}]}`, euPartner, allowed, localaws.Region))
		f := s.function()
		var sum summary
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
		assert.Equal(t, map[string]string{cross: "available", same: "rejected", home: "available"}, s.states(s.svc()))
	})
}

func TestManualDefaultLeavesRequestsPending(t *testing.T) {
	s := newScenario(t, 1)
	a := s.endpoint(s.svc(), allowed)
	b := s.endpoint(s.svc(), stranger)
	s.policy(fmt.Sprintf(`{"version": 1, "defaultAction": "manual", "rules": [
	  {"name": "partner", "action": "accept", "accounts": [%q]}]}`, allowed))
	f := s.function()
	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, map[string]string{a: "available", b: "pendingAcceptance"}, s.states(s.svc()))
	assert.Equal(t, 1, sum.Manual)
	for _, d := range sum.Decisions {
		if d.EndpointID == b {
			assert.Equal(t, "manual", d.Action)
			assert.Equal(t, "default", d.Rule)
		}
	}
}

func TestBadPolicyDecidesNothing(t *testing.T) {
	tests := []struct {
		name   string
		value  string // "" means the parameter does not exist
		wantIn []string
	}{
		{"missing parameter", "", []string{"not found"}},
		{"not JSON and not a list", "partner-a", []string{`accounts[0]: "partner-a" is not a 12-digit account ID`}},
		{"truncated JSON", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["111111111111"]}`, []string{"not valid JSON"}},
		{"key in the wrong case", `{"version": 1, "rules": [{"name": "a", "action": "accept", "Accounts": ["111111111111"]}]}`, []string{"rules[0].Accounts", "case-sensitive"}},
		{"bad account ID", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["11111111111"]}]}`, []string{"rules[0].accounts[0]", "12-digit"}},
		{"bad service ID", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "services": ["svc-1"]}]}`, []string{"rules[0].services[0]"}},
		{"bad endpoint ID", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "endpoints": ["vpce-xyz"]}]}`, []string{"rules[0].endpoints[0]"}},
		{"empty list", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "regions": []}]}`, []string{"rules[0].regions", "must not be empty"}},
		{"duplicate rule names", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"]}, {"name": "a", "action": "reject", "accounts": ["111111111111"]}]}`, []string{"rules[1].name", "unique"}},
		{"reserved rule name", `{"version": 1, "rules": [{"name": "default", "action": "accept", "accounts": ["*"]}]}`, []string{"rules[0].name", "reserved"}},
		{"bad expires", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "expires": "next year"}]}`, []string{"rules[0].expires", "RFC 3339"}},
		{"wrong version", `{"version": 2, "rules": []}`, []string{"version", "must be 1"}},
		{"unknown field", `{"version": 1, "rules": [], "default": "reject"}`, []string{"default", "unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScenario(t, 1)
			a := s.endpoint(s.svc(), allowed)
			b := s.endpoint(s.svc(), stranger)
			if tt.value != "" {
				s.policy(tt.value)
			}
			f := s.function()
			want := map[string]string{a: "pendingAcceptance", b: "pendingAcceptance"}

			msg := invokeErr(t, f, s.sample("eventbridge-scheduled-event.json"))
			assert.Contains(t, msg, s.parameter, "the error names the parameter")
			for _, w := range tt.wantIn {
				assert.Contains(t, msg, w)
			}
			assert.Equal(t, want, s.states(s.svc()))

			// SQS: the whole invocation fails, so every record is redelivered.
			msg = invokeErr(t, f, sqsEvent(t, s.svc().ID, "no service named"))
			assert.Contains(t, msg, s.parameter)
			assert.Equal(t, want, s.states(s.svc()))
			assert.Empty(t, f.Logs("decision"), "nothing is decided")
		})
	}
}

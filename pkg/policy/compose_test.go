package policy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

const (
	svcPayments = "vpce-svc-0aaaaaaaaaaaaaaaa"
	svcSearch   = "vpce-svc-0bbbbbbbbbbbbbbbb"
	svcOther    = "vpce-svc-0cccccccccccccccc"
	partner     = "111122223333"
	competitor  = "999988887777"
	strangerID  = "123456789012"
)

// composeRoot is a root owned by a security team: the settings, a block
// list for everyone, and one delegation per team.
var composeRoot = fmt.Sprintf(`{"version": 1, "defaultAction": "manual", "revoke": true, "maxRevocations": 2, "maxRejections": 7,
  "delegate": [
    {"part": "payments", "services": [%q]},
    {"part": "search", "services": [%q], "actions": ["accept"]}],
  "rules": [{"name": "blocked", "action": "reject", "accounts": [%q]}]}`, svcPayments, svcSearch, competitor)

func src(name, text string) policy.Source { return policy.Source{Name: name, Text: []byte(text)} }

func TestComposeDelegatedParts(t *testing.T) {
	p, err := policy.Compose("/p/", []byte(composeRoot), []policy.Source{
		src("root", composeRoot),
		src("payments", fmt.Sprintf(`{"version": 1, "rules": [
		  {"name": "partners", "action": "accept", "accounts": [%q, %q]},
		  {"name": "no-strangers", "action": "reject", "accounts": [%q]}]}`, partner, competitor, strangerID)),
		src("search", partner),
	})
	require.NoError(t, err)
	assert.Empty(t, p.Issues)
	assert.Equal(t, policy.Manual, p.DefaultAction, "the root's settings")
	assert.True(t, p.Revoke)
	assert.Equal(t, 2, p.MaxRevocations)
	assert.Equal(t, 7, p.MaxRejections)

	tests := []struct {
		name     string
		account  string
		svc      string
		want     policy.Action
		wantRule string
	}{
		{"a part's rule on its service, named PART/NAME", partner, svcPayments, policy.Accept, "payments/partners"},
		{"a plain-list part's rule is named PART", partner, svcSearch, policy.Accept, "search"},
		{"a part's rule never reaches another service", partner, svcOther, policy.Manual, policy.DefaultRuleName},
		{"the root's reject wins over a part's accept", competitor, svcPayments, policy.Reject, "blocked"},
		{"the root's reject applies everywhere", competitor, svcOther, policy.Reject, "blocked"},
		{"a part's reject on its service", strangerID, svcPayments, policy.Reject, "payments/no-strangers"},
		{"a part's reject never reaches another service", strangerID, svcSearch, policy.Manual, policy.DefaultRuleName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(policy.Request{Account: tt.account, ServiceID: tt.svc}, now)
			assert.Equal(t, tt.want, d.Action)
			assert.Equal(t, tt.wantRule, d.Rule)
		})
	}
	for _, svc := range []string{svcPayments, svcSearch, svcOther} {
		_, held := p.Held(svc)
		assert.False(t, held, svc)
	}
}

// TestComposeAPartCannotTakeOver tries, as the writer of one part, every
// way to decide beyond it: the part is refused, its services are held, and
// nothing else changes.
func TestComposeAPartCannotTakeOver(t *testing.T) {
	tests := []struct {
		name      string
		part      string // the payments part's text; "" for a deleted part
		status    policy.PartStatus
		wantIn    []string
		takeovers []policy.Request // requests the part tries to decide
	}{
		{"sets the root's settings", fmt.Sprintf(`{"version": 1, "revoke": true, "maxRevocations": 100000, "defaultAction": "reject", "maxRejections": 100000,
		   "rules": [{"name": "x", "action": "accept", "accounts": [%q]}]}`, partner),
			policy.PartRefused, []string{"revoke: only the root part may set it", "maxRevocations: only the root part", "defaultAction: only the root part", "maxRejections: only the root part"}, nil},
		{"delegates further", fmt.Sprintf(`{"version": 1, "delegate": [{"part": "x", "services": [%q]}], "rules": []}`, svcOther),
			policy.PartRefused, []string{"delegate: only the root part may set it"}, nil},
		{"accepts a stranger on another team's service", fmt.Sprintf(`{"version": 1, "rules": [{"name": "x-all", "action": "accept", "accounts": ["*"], "services": [%q, %q]}]}`, svcPayments, svcSearch),
			policy.PartRefused, []string{"rules[0].services[1]: " + svcSearch + " is not delegated to this part"}, []policy.Request{{Account: strangerID, ServiceID: svcSearch}}},
		{"rejects a partner on another team's service", fmt.Sprintf(`{"version": 1, "rules": [{"name": "x-cut", "action": "reject", "accounts": [%q], "services": [%q]}]}`, partner, svcOther),
			policy.PartRefused, []string{"rules[0].services[0]: " + svcOther + " is not delegated"}, []policy.Request{{Account: partner, ServiceID: svcOther}}},
		{"a rule name with a slash to pass for another part's", `{"version": 1, "rules": [{"name": "search/x", "action": "accept", "accounts": ["*"]}]}`,
			policy.PartRefused, []string{"rules[0].name", "must not contain /"}, nil},
		{"invalid", `{"version": 1, "rules": [{"name": "x"}]}`, policy.PartRefused, []string{"rules[0].action: is required"}, nil},
		{"empty", " ", policy.PartRefused, []string{"empty"}, nil},
		{"deleted", "", policy.PartMissing, []string{"there is no parameter /p/payments"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := []policy.Source{src("root", composeRoot), src("search", partner)}
			if tt.part != "" {
				parts = append(parts, src("payments", tt.part))
			}
			p, err := policy.Compose("/p/", []byte(composeRoot), parts)
			require.NoError(t, err, "a bad part never fails the whole policy")
			require.Len(t, p.Issues, 1)
			issue := p.Issues[0]
			assert.Equal(t, "payments", issue.Part)
			assert.Equal(t, tt.status, issue.Status)
			assert.Equal(t, []string{svcPayments}, issue.Services)
			for _, w := range tt.wantIn {
				assert.Contains(t, issue.String(), w)
			}
			why, held := p.Held(svcPayments)
			assert.True(t, held, "its own service is held")
			assert.Contains(t, why, "/p/payments")
			_, held = p.Held(svcSearch)
			assert.False(t, held, "the other team's service is not")
			assert.Equal(t, policy.Manual, p.DefaultAction, "the root's settings stand")
			assert.True(t, p.Revoke)
			assert.Equal(t, 2, p.MaxRevocations)
			assert.Equal(t, 7, p.MaxRejections)
			// The other team's part still decides its service.
			d := p.Decide(policy.Request{Account: partner, ServiceID: svcSearch}, now)
			assert.Equal(t, "search", d.Rule)
			for _, req := range tt.takeovers {
				d := p.Decide(req, now)
				assert.Equal(t, policy.DefaultRuleName, d.Rule, "%+v is left to the root", req)
			}
		})
	}
}

func TestComposeActionsAndIgnoredParts(t *testing.T) {
	t.Run("an action not delegated refuses the part", func(t *testing.T) {
		p, err := policy.Compose("/p/", []byte(composeRoot), []policy.Source{
			src("search", fmt.Sprintf(`{"version": 1, "rules": [{"name": "cut", "action": "reject", "accounts": [%q]}]}`, partner)),
			src("payments", partner),
		})
		require.NoError(t, err)
		require.Len(t, p.Issues, 1)
		assert.Equal(t, policy.PartRefused, p.Issues[0].Status)
		assert.Contains(t, p.Issues[0].String(), `rules[0].action: "reject" is not delegated to this part (delegated: accept)`)
		_, held := p.Held(svcSearch)
		assert.True(t, held)
	})
	t.Run("a plain list where accept is not delegated", func(t *testing.T) {
		root := fmt.Sprintf(`{"version": 1, "delegate": [{"part": "blocks", "services": [%q], "actions": ["reject"]}], "rules": []}`, svcPayments)
		p, err := policy.Compose("/p/", []byte(root), []policy.Source{src("blocks", partner)})
		require.NoError(t, err)
		require.Len(t, p.Issues, 1)
		assert.Contains(t, p.Issues[0].String(), `accounts.action: "accept" is not delegated`)
	})
	t.Run("parts the root does not delegate are ignored, and hold nothing", func(t *testing.T) {
		p, err := policy.Compose("/p/", []byte(composeRoot), []policy.Source{
			src("payments", partner), src("search", partner),
			src("rogue", `{"version": 1, "defaultAction": "reject", "rules": [{"name": "all", "action": "accept", "accounts": ["*"]}]}`),
			src("teams/rogue", "not even valid"),
		})
		require.NoError(t, err)
		require.Len(t, p.Issues, 2)
		for _, issue := range p.Issues {
			assert.Equal(t, policy.PartIgnored, issue.Status)
			assert.Empty(t, issue.Services)
		}
		assert.Equal(t, policy.Manual, p.Decide(policy.Request{Account: strangerID, ServiceID: svcOther}, now).Action)
		for _, svc := range []string{svcPayments, svcSearch, svcOther} {
			_, held := p.Held(svc)
			assert.False(t, held)
		}
	})
	t.Run("two parts on one service: reject wins across them, and either refused holds it", func(t *testing.T) {
		root := fmt.Sprintf(`{"version": 1, "delegate": [{"part": "a", "services": [%q]}, {"part": "b", "services": [%q]}], "rules": []}`, svcPayments, svcPayments)
		accept := fmt.Sprintf(`{"version": 1, "rules": [{"name": "in", "action": "accept", "accounts": [%q]}]}`, partner)
		reject := fmt.Sprintf(`{"version": 1, "rules": [{"name": "out", "action": "reject", "accounts": [%q]}]}`, partner)
		p, err := policy.Compose("/p/", []byte(root), []policy.Source{src("a", accept), src("b", reject)})
		require.NoError(t, err)
		assert.Equal(t, "b/out", p.Decide(policy.Request{Account: partner, ServiceID: svcPayments}, now).Rule)
		p, err = policy.Compose("/p/", []byte(root), []policy.Source{src("a", accept)})
		require.NoError(t, err)
		why, held := p.Held(svcPayments)
		assert.True(t, held, "the missing part's reject could have decided it")
		assert.Contains(t, why, "/p/b")
	})
}

func TestComposeRoot(t *testing.T) {
	tests := []struct {
		name   string
		root   string
		wantIn []string
	}{
		{"missing", "", []string{"empty"}},
		{"a plain list", partner, []string{"the root part must be a JSON document"}},
		{"invalid", `{"version": 1}`, []string{"rules: is required"}},
		{"a part named twice", fmt.Sprintf(`{"version": 1, "delegate": [{"part": "a", "services": [%q]}, {"part": "a", "services": [%q]}], "rules": []}`, svcPayments, svcSearch),
			[]string{`delegate[1].part: "a" is already delegated by delegate[0]`}},
		{"services missing, empty or not service IDs", `{"version": 1, "delegate": [{"part": "a"}, {"part": "b", "services": []}, {"part": "c", "services": ["svc-1"]}], "rules": []}`,
			[]string{"delegate[0].services: is required", "delegate[1].services: must not be empty", `delegate[2].services[0]: "svc-1" is not an endpoint service ID`}},
		{"an action that is not accept or reject", fmt.Sprintf(`{"version": 1, "delegate": [{"part": "a", "services": [%q], "actions": ["manual"]}], "rules": []}`, svcPayments),
			[]string{`delegate[0].actions[0]: "manual" is not allowed`}},
		{"reserved and malformed part names", fmt.Sprintf(`{"version": 1, "delegate": [{"part": "root", "services": [%q]}, {"part": "/abs", "services": [%q]}, {"part": "Person", "services": [%q]}], "rules": []}`, svcPayments, svcPayments, svcPayments),
			[]string{`delegate[0].part: "root": a parameter named root is the root part`, `delegate[1].part: "/abs" is not a parameter name relative to the path`, `delegate[2].part: "Person" is reserved`}},
		{"a part whose last segment is root", fmt.Sprintf(`{"version": 1, "delegate": [{"part": "teams/Root", "services": [%q]}], "rules": []}`, svcPayments),
			[]string{`delegate[0].part: "teams/Root": a parameter named root`}},
		{"a part under another part", fmt.Sprintf(`{"version": 1, "delegate": [{"part": "teams", "services": [%q]}, {"part": "teams/a", "services": [%q]}], "rules": []}`, svcPayments, svcPayments),
			[]string{`delegate[1].part: "teams/a" lies under the delegated part "teams"`}},
		{"a part named as a root rule", fmt.Sprintf(`{"version": 1, "delegate": [{"part": "partners", "services": [%q]}], "rules": [{"name": "partners", "action": "accept", "accounts": ["*"]}]}`, svcPayments),
			[]string{`delegate[0].part: "partners" is also the name of a rule of the root`}},
		{"a root rule with a slash", `{"version": 1, "rules": [{"name": "payments/partners", "action": "accept", "accounts": ["*"]}]}`,
			[]string{"rules[0].name", "must not contain /"}},
		{"an unknown field in a delegation", fmt.Sprintf(`{"version": 1, "delegate": [{"part": "a", "services": [%q], "rules": []}], "rules": []}`, svcPayments),
			[]string{"delegate[0].rules: unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Compose("/p/", []byte(tt.root), []policy.Source{src("a", partner)})
			require.Error(t, err)
			assert.Nil(t, p)
			for _, w := range tt.wantIn {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestDelegateOnlyInARoot(t *testing.T) {
	_, err := policy.Parse([]byte(fmt.Sprintf(`{"version": 1, "delegate": [{"part": "a", "services": [%q]}], "rules": []}`, svcPayments)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "delegate: only the root part of a path policy")

	p, err := policy.Parse([]byte(`{"version": 1, "maxRejections": 3, "rules": [{"name": "a/b", "action": "accept", "accounts": ["*"]}]}`))
	require.NoError(t, err, "a policy in one parameter is unchanged, and may set maxRejections")
	assert.Equal(t, 3, p.MaxRejections)
	p, err = policy.Parse([]byte(`{"version": 1, "rules": []}`))
	require.NoError(t, err)
	assert.Equal(t, policy.DefaultMaxRejections, p.MaxRejections)

	_, err = policy.Parse([]byte(`{"version": 1, "maxRejections": -1, "rules": []}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "maxRejections: must be a whole number of at least 0")

	assert.True(t, policy.IsRoot([]byte(composeRoot)))
	assert.False(t, policy.IsRoot([]byte(`{"version": 1, "rules": []}`)))
	assert.False(t, policy.IsRoot([]byte(partner)))
	root, err := policy.ParseRoot([]byte(composeRoot))
	require.NoError(t, err)
	assert.Len(t, root.Delegations, 2)
	assert.Equal(t, []policy.Action{policy.Accept, policy.Reject}, root.Delegations[0].Actions, "both when the root omits actions")
}

func TestComposeTenThousandAccounts(t *testing.T) {
	var delegations []string
	var parts []policy.Source
	for part := range 16 {
		var ids []string
		for i := range 625 {
			ids = append(ids, fmt.Sprintf("%012d", 100000000000+part*625+i))
		}
		name := fmt.Sprintf("partners-%02d", part)
		delegations = append(delegations, fmt.Sprintf(`{"part": %q, "services": [%q], "actions": ["accept"]}`, name, svcPayments))
		parts = append(parts, policy.Source{Name: name, Text: []byte(strings.Join(ids, ","))})
	}
	root := fmt.Sprintf(`{"version": 1, "delegate": [%s], "rules": []}`, strings.Join(delegations, ","))
	p, err := policy.Compose("/p/", []byte(root), parts)
	require.NoError(t, err)
	assert.Empty(t, p.Issues)
	assert.Equal(t, policy.Accept, p.Decide(policy.Request{Account: "100000009999", ServiceID: svcPayments}, now).Action)
	assert.Equal(t, "partners-15", p.Decide(policy.Request{Account: "100000009999", ServiceID: svcPayments}, now).Rule)
	assert.Equal(t, policy.Reject, p.Decide(policy.Request{Account: "100000009999", ServiceID: svcOther}, now).Action)
	assert.Equal(t, policy.Reject, p.Decide(policy.Request{Account: "100000010000", ServiceID: svcPayments}, now).Action)
}

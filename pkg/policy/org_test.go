package policy_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// An organization: partners (ou-ab12-11111111) under the root, with
// nested (ou-ab12-22222222) and suspended (ou-ab12-33333333) below it;
// trial (ou-ab12-44444444) and capped (ou-ab12-55555555) under the root.
const (
	orgID       = "o-abc1234567"
	rootID      = "r-ab12"
	ouPartners  = "ou-ab12-11111111"
	ouNested    = "ou-ab12-22222222"
	ouSuspended = "ou-ab12-33333333"
	ouTrial     = "ou-ab12-44444444"
	ouCapped    = "ou-ab12-55555555"
	svcOrgWide  = "vpce-svc-0aaaaaaaaaaaaaaaa"
)

const orgPolicy = `{"version": 1, "defaultAction": "reject", "rules": [
  {"name": "partners", "action": "accept", "organizationalUnits": ["ou-ab12-11111111"]},
  {"name": "whole-org", "action": "accept", "organizations": ["o-abc1234567"], "services": ["vpce-svc-0aaaaaaaaaaaaaaaa"]},
  {"name": "blocked", "action": "reject", "accounts": ["999988887777"]},
  {"name": "suspended", "action": "reject", "organizationalUnits": ["ou-ab12-33333333"]},
  {"name": "trial", "action": "accept", "organizationalUnits": ["ou-ab12-44444444"], "expires": "2026-01-01T00:00:00Z"},
  {"name": "capped", "action": "accept", "organizationalUnits": ["ou-ab12-55555555"], "maxEndpoints": 1}]}`

func in(ous ...string) *policy.Membership {
	return &policy.Membership{Organization: orgID, Root: rootID, OUs: ous}
}

var outside = &policy.Membership{}

func TestDecideByOrganization(t *testing.T) {
	tests := []struct {
		name        string
		policy      string
		req         policy.Request
		want        policy.Action
		wantRule    string
		wantVia     string
		wantExpired string
		wantLimited string
	}{
		{"an OU accepts its accounts", orgPolicy,
			policy.Request{Account: "111111111111", ServiceID: svc, Org: in(ouPartners)}, policy.Accept, "partners", ouPartners, "", ""},
		{"an OU accepts the accounts of the OUs below it", orgPolicy,
			policy.Request{Account: "111111111111", ServiceID: svc, Org: in(ouPartners, ouNested)}, policy.Accept, "partners", ouPartners, "", ""},
		{"an organization accepts its members", orgPolicy,
			policy.Request{Account: "111111111111", ServiceID: svcOrgWide, Org: in()}, policy.Accept, "whole-org", orgID, "", ""},
		{"services narrow an organization rule", orgPolicy,
			policy.Request{Account: "111111111111", ServiceID: svc, Org: in()}, policy.Reject, policy.DefaultRuleName, "", "", ""},
		{"another organization is not ours", orgPolicy,
			policy.Request{Account: "111111111111", ServiceID: svcOrgWide, Org: &policy.Membership{Organization: "o-zzz9999999", Root: "r-zz99"}}, policy.Reject, policy.DefaultRuleName, "", "", ""},
		{"an account outside the organization", orgPolicy,
			policy.Request{Account: "111111111111", ServiceID: svcOrgWide, Org: outside}, policy.Reject, policy.DefaultRuleName, "", "", ""},
		{"a reject rule naming the account wins inside an accepted OU", orgPolicy,
			policy.Request{Account: "999988887777", ServiceID: svc, Org: in(ouPartners)}, policy.Reject, "blocked", "", "", ""},
		{"a reject rule by OU wins over the OU above it", orgPolicy,
			policy.Request{Account: "111111111111", ServiceID: svc, Org: in(ouPartners, ouSuspended)}, policy.Reject, "suspended", ouSuspended, "", ""},
		{"an expired OU rule explains the default", orgPolicy,
			policy.Request{Account: "111111111111", ServiceID: svc, Org: in(ouTrial)}, policy.Reject, policy.DefaultRuleName, "", "trial", ""},
		{"an OU rule's limit", orgPolicy,
			policy.Request{Account: "111111111111", ServiceID: svc, Org: in(ouCapped), Accepted: 1}, policy.Reject, policy.DefaultRuleName, "", "", "capped"},
		{"an OU rule under its limit", orgPolicy,
			policy.Request{Account: "111111111111", ServiceID: svc, Org: in(ouCapped)}, policy.Accept, "capped", ouCapped, "", ""},
		{"an OU rule's limit does not revoke", orgPolicy,
			policy.Request{Account: "111111111111", ServiceID: svc, Org: in(ouCapped), Accepted: 5, Existing: true}, policy.Accept, "capped", ouCapped, "", ""},
		{"a rule naming the account and an OU matches by the account", `{"version": 1, "rules": [
			{"name": "both", "action": "accept", "accounts": ["111111111111"], "organizationalUnits": ["ou-ab12-11111111"]}]}`,
			policy.Request{Account: "111111111111", ServiceID: svc, Org: outside}, policy.Accept, "both", "", "", ""},
		{"a rule naming an account and an OU matches by the OU", `{"version": 1, "rules": [
			{"name": "both", "action": "accept", "accounts": ["222222222222"], "organizationalUnits": ["ou-ab12-11111111"]}]}`,
			policy.Request{Account: "111111111111", ServiceID: svc, Org: in(ouPartners)}, policy.Accept, "both", ouPartners, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse([]byte(tt.policy))
			require.NoError(t, err)
			d := p.Decide(tt.req, now)
			assert.Equal(t, tt.want, d.Action)
			assert.Equal(t, tt.wantRule, d.Rule)
			assert.Equal(t, tt.wantVia, d.Via)
			assert.Equal(t, tt.wantExpired, d.ExpiredRule)
			assert.Equal(t, tt.wantLimited, d.LimitedRule)
			assert.False(t, d.Unresolved, "the membership is known")
			if tt.wantVia != "" {
				assert.Contains(t, d.Reason(), "through "+tt.wantVia)
			}
		})
	}
}

// Without the membership (not looked up, or the lookup failed), a decision
// that organization rules could change is Unresolved, and says which
// actions it could have; one they cannot change stands.
func TestDecideWithoutMembership(t *testing.T) {
	const acceptOnly = `{"version": 1, "defaultAction": "manual", "rules": [
		{"name": "named", "action": "accept", "accounts": ["111111111111"]},
		{"name": "partners", "action": "accept", "organizationalUnits": ["ou-ab12-11111111"]}]}`
	tests := []struct {
		name           string
		policy         string
		req            policy.Request
		wantAction     policy.Action
		wantRule       string
		wantUnresolved bool
		wantNeeds      bool
		could          []policy.Action
		couldNot       []policy.Action
	}{
		{"organization rules could accept or reject", orgPolicy,
			policy.Request{Account: "111111111111", ServiceID: svcOrgWide},
			policy.Reject, policy.DefaultRuleName, true, true, []policy.Action{policy.Accept, policy.Reject}, []policy.Action{policy.Manual}},
		{"a reject rule naming the account decides without a lookup", orgPolicy,
			policy.Request{Account: "999988887777", ServiceID: svcOrgWide},
			policy.Reject, "blocked", false, false, []policy.Action{policy.Reject}, []policy.Action{policy.Accept}},
		{"an account accept that only organization accept rules could also make", acceptOnly,
			policy.Request{Account: "111111111111", ServiceID: svc},
			policy.Accept, "named", false, true, []policy.Action{policy.Accept}, []policy.Action{policy.Reject, policy.Manual}},
		{"manual or accept: never a revocation", acceptOnly,
			policy.Request{Account: "222222222222", ServiceID: svc, Existing: true},
			policy.Manual, policy.DefaultRuleName, true, true, []policy.Action{policy.Manual, policy.Accept}, []policy.Action{policy.Reject}},
		{"rules that do not narrow to the request need no lookup", `{"version": 1, "rules": [
			{"name": "partners", "action": "accept", "organizationalUnits": ["ou-ab12-11111111"], "regions": ["eu-west-1"]}]}`,
			policy.Request{Account: "111111111111", ServiceID: svc, Region: "us-east-1"},
			policy.Reject, policy.DefaultRuleName, false, false, []policy.Action{policy.Reject}, []policy.Action{policy.Accept}},
		{"an expired organization rule needs no lookup", `{"version": 1, "rules": [
			{"name": "trial", "action": "accept", "organizationalUnits": ["ou-ab12-11111111"], "expires": "2026-01-01T00:00:00Z"}]}`,
			policy.Request{Account: "111111111111", ServiceID: svc},
			policy.Reject, policy.DefaultRuleName, false, false, []policy.Action{policy.Reject}, []policy.Action{policy.Accept}},
		{"no organization rule, no lookup", readmePolicy,
			policy.Request{Account: "111111111111", ServiceID: svc},
			policy.Reject, policy.DefaultRuleName, false, false, []policy.Action{policy.Reject}, []policy.Action{policy.Accept}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse([]byte(tt.policy))
			require.NoError(t, err)
			d := p.Decide(tt.req, now)
			assert.Equal(t, tt.wantAction, d.Action)
			assert.Equal(t, tt.wantRule, d.Rule)
			assert.Equal(t, tt.wantUnresolved, d.Unresolved)
			assert.Equal(t, tt.wantNeeds, p.NeedsMembership(tt.req, now))
			for _, a := range tt.could {
				assert.True(t, d.Could(a), "could be %s", a)
			}
			for _, a := range tt.couldNot {
				assert.False(t, d.Could(a), "could not be %s", a)
			}
			if d.Unresolved || tt.wantNeeds {
				assert.NotEmpty(t, d.UnresolvedRule)
			}
			if d.Unresolved {
				assert.Contains(t, d.Reason(), "could not be looked up")
			}
		})
	}
}

func TestMembershipPath(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		want    policy.Membership
		wantErr string
	}{
		{"two OUs deep", "o-abc1234567/r-ab12/ou-ab12-11111111/ou-ab12-22222222",
			policy.Membership{Organization: orgID, Root: rootID, OUs: []string{ouPartners, ouNested}}, ""},
		{"under the root", "o-abc1234567/r-ab12", policy.Membership{Organization: orgID, Root: rootID, OUs: []string{}}, ""},
		{"outside the organization", "", policy.Membership{}, ""},
		{"no root", "o-abc1234567", policy.Membership{}, "must start with an organization ID and a root ID"},
		{"root first", "r-ab12/o-abc1234567", policy.Membership{}, "must start with an organization ID and a root ID"},
		{"bad OU", "o-abc1234567/r-ab12/ou-x", policy.Membership{}, `"ou-x" is not an OU ID`},
		{"trailing slash", "o-abc1234567/r-ab12/", policy.Membership{}, `"" is not an OU ID`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := policy.ParsePath(tt.path)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, m)
			assert.Equal(t, tt.path, m.Path(), "Path and ParsePath are inverses")
		})
	}
}

func BenchmarkDecideByOU(b *testing.B) {
	p, err := policy.Parse([]byte(orgPolicy))
	require.NoError(b, err)
	req := policy.Request{Account: "111111111111", ServiceID: svc, Org: in(ouPartners, ouNested)}
	b.ReportAllocs()
	for b.Loop() {
		if p.Decide(req, now).Action != policy.Accept {
			b.Fatal("not accepted")
		}
	}
}

// A default reject is the action whatever the membership, but whether a
// reject rule by OU makes it matters to a person's accept, which only a
// rule revokes.
func TestRuleCouldRejectWithoutMembership(t *testing.T) {
	p, err := policy.Parse([]byte(`{"version": 1, "rules": [
		{"name": "suspended", "action": "reject", "organizationalUnits": ["ou-ab12-33333333"]}]}`))
	require.NoError(t, err)
	req := policy.Request{Account: "111111111111", ServiceID: svc, Existing: true}
	unknown := p.Decide(req, now)
	assert.Equal(t, policy.Reject, unknown.Action)
	assert.Equal(t, policy.DefaultRuleName, unknown.Rule)
	assert.False(t, unknown.Unresolved, "rejected either way")
	assert.True(t, unknown.RuleCould(policy.Reject), "but maybe by the rule")
	assert.Equal(t, "suspended", unknown.UnresolvedRule)

	req.Org = outside
	assert.False(t, p.Decide(req, now).RuleCould(policy.Reject), "outside: by the default only")
	req.Org = in(ouSuspended)
	assert.True(t, p.Decide(req, now).RuleCould(policy.Reject))
}

package policy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// readmePolicy is the example from the README and the issue.
const readmePolicy = `{"version": 1,
 "defaultAction": "reject",
 "rules": [
   {"name": "partner-a", "action": "accept", "accounts": ["111122223333"]},
   {"name": "eu-partner", "action": "accept", "accounts": ["444455556666"],
    "services": ["vpce-svc-0123456789abcdef0"], "endpoints": ["vpce-0123456789abcdef0"],
    "regions": ["eu-west-1"], "expires": "2027-06-30T00:00:00Z"},
   {"name": "blocked", "action": "reject", "accounts": ["999988887777"]}]}`

// The service and endpoint of decideTests.
const (
	svc = "vpce-svc-0123456789abcdef0"
	ep  = "vpce-0123456789abcdef0"
)

// decideTests is TestDecide's table, shared with schema_test.go (its JSON
// policies must be valid under policy.schema.json too).
var decideTests = []struct {
	name     string
	policy   string
	req      policy.Request
	at       time.Time
	want     policy.Action
	wantRule string
}{
	{"plain list accepts a listed account", "111122223333, 444455556666\n777788889999",
		policy.Request{Account: "777788889999", ServiceID: svc}, now, policy.Accept, policy.AllowlistRuleName},
	{"plain list rejects anyone else", "111122223333",
		policy.Request{Account: "123456789012", ServiceID: svc}, now, policy.Reject, policy.DefaultRuleName},
	{"accept rule", readmePolicy,
		policy.Request{Account: "111122223333", ServiceID: svc, EndpointID: ep, Region: "us-east-1"}, now, policy.Accept, "partner-a"},
	{"reject rule", readmePolicy,
		policy.Request{Account: "999988887777", ServiceID: svc}, now, policy.Reject, "blocked"},
	{"no match means defaultAction", readmePolicy,
		policy.Request{Account: "123456789012", ServiceID: svc}, now, policy.Reject, policy.DefaultRuleName},
	{"narrowed rule matches service, endpoint and region", readmePolicy,
		policy.Request{Account: "444455556666", ServiceID: svc, EndpointID: ep, Region: "eu-west-1"}, now, policy.Accept, "eu-partner"},
	{"narrowed rule: other region", readmePolicy,
		policy.Request{Account: "444455556666", ServiceID: svc, EndpointID: ep, Region: "us-east-1"}, now, policy.Reject, policy.DefaultRuleName},
	{"narrowed rule: other service", readmePolicy,
		policy.Request{Account: "444455556666", ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", EndpointID: ep, Region: "eu-west-1"}, now, policy.Reject, policy.DefaultRuleName},
	{"narrowed rule: other endpoint", readmePolicy,
		policy.Request{Account: "444455556666", ServiceID: svc, EndpointID: "vpce-0bbbbbbbbbbbbbbbb", Region: "eu-west-1"}, now, policy.Reject, policy.DefaultRuleName},
	{"rule applies just before it expires", readmePolicy,
		policy.Request{Account: "444455556666", ServiceID: svc, EndpointID: ep, Region: "eu-west-1"},
		time.Date(2027, 6, 29, 23, 59, 59, 0, time.UTC), policy.Accept, "eu-partner"},
	{"rule no longer applies at its expiry", readmePolicy,
		policy.Request{Account: "444455556666", ServiceID: svc, EndpointID: ep, Region: "eu-west-1"},
		time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC), policy.Reject, policy.DefaultRuleName},
	{"reject wins over an earlier accept", `{"version":1,"rules":[
			{"name":"all","action":"accept","accounts":["*"]},
			{"name":"deny","action":"reject","accounts":["999988887777"]}]}`,
		policy.Request{Account: "999988887777", ServiceID: svc}, now, policy.Reject, "deny"},
	{"wildcard accepts everyone else", `{"version":1,"rules":[
			{"name":"all","action":"accept","accounts":["*"]},
			{"name":"deny","action":"reject","accounts":["999988887777"]}]}`,
		policy.Request{Account: "123456789012", ServiceID: svc}, now, policy.Accept, "all"},
	{"wildcard reject beats an account accept", `{"version":1,"rules":[
			{"name":"a","action":"accept","accounts":["111122223333"]},
			{"name":"freeze","action":"reject","accounts":["*"],"services":["vpce-svc-0123456789abcdef0"]}]}`,
		policy.Request{Account: "111122223333", ServiceID: svc}, now, policy.Reject, "freeze"},
	{"first accept rule in document order is reported", `{"version":1,"rules":[
			{"name":"second-by-index","action":"accept","accounts":["*"]},
			{"name":"by-account","action":"accept","accounts":["111122223333"]}]}`,
		policy.Request{Account: "111122223333", ServiceID: svc}, now, policy.Accept, "second-by-index"},
	{"manual default leaves it for a person", `{"version":1,"defaultAction":"manual","rules":[]}`,
		policy.Request{Account: "111122223333", ServiceID: svc}, now, policy.Manual, policy.DefaultRuleName},
	{"defaultAction defaults to reject", `{"version":1,"rules":[]}`,
		policy.Request{Account: "111122223333", ServiceID: svc}, now, policy.Reject, policy.DefaultRuleName},
}

func TestDecide(t *testing.T) {
	tests := decideTests
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse([]byte(tt.policy))
			require.NoError(t, err)
			got := p.Decide(tt.req, tt.at)
			assert.Equal(t, tt.want, got.Action)
			assert.Equal(t, tt.wantRule, got.Rule)
			assert.NotEmpty(t, got.Reason())
		})
	}
}

func TestDecisionReasonNamesExpiredRule(t *testing.T) {
	p, err := policy.Parse([]byte(readmePolicy))
	require.NoError(t, err)
	d := p.Decide(policy.Request{Account: "444455556666", ServiceID: "vpce-svc-0123456789abcdef0",
		EndpointID: "vpce-0123456789abcdef0", Region: "eu-west-1"}, time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC))
	assert.Equal(t, "eu-partner", d.ExpiredRule)
	assert.Contains(t, d.Reason(), "eu-partner")
	assert.Contains(t, d.Reason(), "expired")
}

// invalidPolicyTests is TestParseRejectsInvalidPolicies's table, shared with
// schema_test.go (policy.schema.json must reject its JSON policies too, or
// list the case among its exceptions).
var invalidPolicyTests = []struct {
	name     string
	policy   string
	wantPath string // the field path the first problem names
	wantText string
}{
	{"empty", "  \n", "", "empty"},
	{"plain list with a short account", "111122223333, 12345", "accounts[1]", `"12345" is not a 12-digit account ID`},
	{"plain list with a word", "111122223333 partner", "accounts[1]", "12-digit"},
	{"truncated JSON", `{"version": 1, "rules": [`, "", "not valid JSON"},
	{"trailing content", `{"version": 1, "rules": []} {}`, "", "not valid JSON"},
	{"not an object", `{"version": 1, "rules": {}}`, "rules", "list of rule objects"},
	{"missing version", `{"rules": []}`, "version", "required"},
	{"wrong version", `{"version": 2, "rules": []}`, "version", "must be 1"},
	{"version as string", `{"version": "1", "rules": []}`, "version", "must be 1"},
	{"missing rules", `{"version": 1}`, "rules", "required"},
	{"accept is not a default", `{"version": 1, "defaultAction": "accept", "rules": []}`, "defaultAction", `"accept" is not allowed`},
	{"unknown top-level field", `{"version": 1, "rules": [], "extra": true}`, "extra", "unknown field"},
	{"key in the wrong case", `{"version": 1, "rules": [{"name": "a", "action": "accept", "Accounts": ["111122223333"]}]}`,
		"rules[0].Accounts", `did you mean "accounts"`},
	{"duplicate key", `{"version": 1, "version": 1, "rules": []}`, "version", "more than once"},
	{"missing name", `{"version": 1, "rules": [{"action": "accept", "accounts": ["111122223333"]}]}`, "rules[0].name", "required"},
	{"reserved name", `{"version": 1, "rules": [{"name": "default", "action": "accept", "accounts": ["111122223333"]}]}`, "rules[0].name", "reserved"},
	{"a person's name", `{"version": 1, "rules": [{"name": "Person", "action": "accept", "accounts": ["111122223333"]}]}`, "rules[0].name", "reserved for decisions a person makes"},
	{"duplicate names", `{"version": 1, "rules": [
			{"name": "a", "action": "accept", "accounts": ["111122223333"]},
			{"name": "a", "action": "reject", "accounts": ["444455556666"]}]}`, "rules[1].name", "unique"},
	{"bad action", `{"version": 1, "rules": [{"name": "a", "action": "allow", "accounts": ["111122223333"]}]}`, "rules[0].action", `"allow"`},
	{"manual is not a rule action", `{"version": 1, "rules": [{"name": "a", "action": "manual", "accounts": ["111122223333"]}]}`, "rules[0].action", `"manual"`},
	{"missing accounts", `{"version": 1, "rules": [{"name": "a", "action": "accept"}]}`, "rules[0]", "needs at least one of accounts, organizations and organizationalUnits"},
	{"empty organizations", `{"version": 1, "rules": [{"name": "a", "action": "accept", "organizations": []}]}`, "rules[0].organizations", "must not be empty"},
	{"bad organization", `{"version": 1, "rules": [{"name": "a", "action": "accept", "organizations": ["o-abc123"]}]}`, "rules[0].organizations[0]", "not an organization ID"},
	{"organization in upper case", `{"version": 1, "rules": [{"name": "a", "action": "accept", "organizations": ["o-ABC1234567"]}]}`, "rules[0].organizations[0]", "not an organization ID"},
	{"empty OUs", `{"version": 1, "rules": [{"name": "a", "action": "accept", "organizationalUnits": []}]}`, "rules[0].organizationalUnits", "must not be empty"},
	{"bad OU", `{"version": 1, "rules": [{"name": "a", "action": "accept", "organizationalUnits": ["ou-ab12-1234"]}]}`, "rules[0].organizationalUnits[0]", "not an organizational unit ID"},
	{"a root is no OU", `{"version": 1, "rules": [{"name": "a", "action": "accept", "organizationalUnits": ["r-ab12"]}]}`, "rules[0].organizationalUnits[0]", "not an organizational unit ID"},
	{"OU as a string", `{"version": 1, "rules": [{"name": "a", "action": "accept", "organizationalUnits": "ou-ab12-11111111"}]}`, "rules[0].organizationalUnits", "list of strings"},
	{"OUs in the wrong case", `{"version": 1, "rules": [{"name": "a", "action": "accept", "organizationalunits": ["ou-ab12-11111111"]}]}`, "rules[0].organizationalunits", "organizationalUnits"},
	{"empty accounts", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": []}]}`, "rules[0].accounts", "must not be empty"},
	{"bad account", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["111122223333", "1111-2222-3333"]}]}`, "rules[0].accounts[1]", "12-digit"},
	{"account as number", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": [111122223333]}]}`, "rules[0].accounts", "list of strings"},
	{"empty services", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "services": []}]}`, "rules[0].services", "must not be empty"},
	{"bad service", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "services": ["vpce-svc-XYZ"]}]}`, "rules[0].services[0]", "endpoint service ID"},
	{"uppercase service", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "services": ["vpce-svc-0123456789ABCDEF0"]}]}`, "rules[0].services[0]", "lowercase"},
	{"empty endpoints", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "endpoints": []}]}`, "rules[0].endpoints", "must not be empty"},
	{"bad endpoint", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "endpoints": ["vpce-svc-0123456789abcdef0"]}]}`, "rules[0].endpoints[0]", "VPC endpoint ID"},
	{"empty regions", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "regions": []}]}`, "rules[0].regions", "must not be empty"},
	{"bad region", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "regions": ["Europe"]}]}`, "rules[0].regions[0]", "Region"},
	{"bad expires", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "expires": "2027-06-30"}]}`, "rules[0].expires", "RFC 3339"},
	{"rule not an object", `{"version": 1, "rules": ["a"]}`, "rules[0]", "JSON object"},
}

func TestParseRejectsInvalidPolicies(t *testing.T) {
	tests := invalidPolicyTests
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse([]byte(tt.policy))
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), tt.wantText)
			var verr *policy.ValidationError
			if errors.As(err, &verr) {
				require.NotEmpty(t, verr.Problems)
				assert.Equal(t, tt.wantPath, verr.Problems[0].Path)
			} else {
				assert.ErrorIs(t, err, policy.ErrEmpty)
			}
		})
	}
}

func TestParseListsEveryProblem(t *testing.T) {
	_, err := policy.Parse([]byte(`{"version": 2, "defaultAction": "allow", "rules": [
		{"name": "a", "action": "accept", "accounts": ["12345"]},
		{"name": "a", "action": "reject", "accounts": ["111122223333"], "regions": []}]}`))
	var verr *policy.ValidationError
	require.ErrorAs(t, err, &verr)
	var paths []string
	for _, p := range verr.Problems {
		paths = append(paths, p.Path)
	}
	assert.ElementsMatch(t, []string{"version", "defaultAction", "rules[0].accounts[0]", "rules[1].regions", "rules[1].name"}, paths)
	assert.Contains(t, err.Error(), `rules[0].accounts[0]: "12345" is not a 12-digit account ID`)
}

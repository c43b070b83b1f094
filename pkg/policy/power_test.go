package policy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

func TestConnectionLimits(t *testing.T) {
	const limited = `{"version": 1, "rules": [
		{"name": "two-each", "action": "accept", "accounts": ["111122223333"], "maxEndpoints": 2},
		{"name": "overflow", "action": "accept", "accounts": ["111122223333"], "services": ["vpce-svc-0bbbbbbbbbbbbbbbb"]}]}`
	p, err := policy.Parse([]byte(limited))
	require.NoError(t, err)
	tests := []struct {
		name        string
		req         policy.Request
		want        policy.Action
		wantRule    string
		wantLimited string
	}{
		{"under the limit", policy.Request{Account: "111122223333", ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Accepted: 1}, policy.Accept, "two-each", ""},
		{"at the limit: the rule does not apply", policy.Request{Account: "111122223333", ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Accepted: 2}, policy.Reject, policy.DefaultRuleName, "two-each"},
		{"at the limit, evaluation continues", policy.Request{Account: "111122223333", ServiceID: "vpce-svc-0bbbbbbbbbbbbbbbb", Accepted: 5}, policy.Accept, "overflow", "two-each"},
		{"an existing connection is never limited", policy.Request{Account: "111122223333", ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Accepted: 9, Existing: true}, policy.Accept, "two-each", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.req, now)
			assert.Equal(t, tt.want, d.Action)
			assert.Equal(t, tt.wantRule, d.Rule)
			assert.Equal(t, tt.wantLimited, d.LimitedRule)
			if tt.wantLimited != "" {
				assert.Contains(t, d.Reason(), fmt.Sprintf("has %d accepted connections", tt.req.Accepted))
				assert.Contains(t, d.Reason(), "maxEndpoints is 2")
			}
		})
	}
}

func TestRevocationSettings(t *testing.T) {
	tests := []struct {
		name     string
		policy   string
		revoke   bool
		max      int
		wantText string
	}{
		{"defaults", `{"version": 1, "rules": []}`, false, policy.DefaultMaxRevocations, ""},
		{"set", `{"version": 1, "revoke": true, "maxRevocations": 3, "rules": []}`, true, 3, ""},
		{"zero allowed", `{"version": 1, "revoke": true, "maxRevocations": 0, "rules": []}`, true, 0, ""},
		{"revoke not a boolean", `{"version": 1, "revoke": "yes", "rules": []}`, false, 0, "revoke: must be true or false"},
		{"negative maxRevocations", `{"version": 1, "maxRevocations": -1, "rules": []}`, false, 0, "maxRevocations: must be a whole number of at least 0"},
		{"fractional maxRevocations", `{"version": 1, "maxRevocations": 1.5, "rules": []}`, false, 0, "maxRevocations"},
		{"maxEndpoints zero", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "maxEndpoints": 0}]}`, false, 0, "rules[0].maxEndpoints: must be a whole number of at least 1"},
		{"maxEndpoints on a reject rule", `{"version": 1, "rules": [{"name": "a", "action": "reject", "accounts": ["*"], "maxEndpoints": 2}]}`, false, 0, "applies to accept rules only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse([]byte(tt.policy))
			if tt.wantText != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantText)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.revoke, p.Revoke)
			assert.Equal(t, tt.max, p.MaxRevocations)
		})
	}
}

func TestMerge(t *testing.T) {
	src := func(name, text string) policy.Source { return policy.Source{Name: name, Text: []byte(text)} }
	t.Run("rules add up; a plain list is a rule named after its part", func(t *testing.T) {
		p, err := policy.Merge([]policy.Source{
			src("/p/a", `{"version": 1, "defaultAction": "manual", "revoke": true, "rules": [{"name": "blocked", "action": "reject", "accounts": ["999988887777"]}]}`),
			src("/p/b", "111122223333 444455556666"),
			src("/p/c", `{"version": 1, "revoke": true, "rules": [{"name": "eu", "action": "accept", "accounts": ["555566667777"], "regions": ["eu-west-1"]}]}`),
		})
		require.NoError(t, err)
		assert.Equal(t, policy.Manual, p.DefaultAction)
		assert.True(t, p.Revoke)
		assert.Equal(t, policy.DefaultMaxRevocations, p.MaxRevocations)
		d := p.Decide(policy.Request{Account: "444455556666", ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa"}, now)
		assert.Equal(t, policy.Accept, d.Action)
		assert.Equal(t, "/p/b", d.Rule)
		assert.Equal(t, policy.Reject, p.Decide(policy.Request{Account: "999988887777"}, now).Action)
		assert.Equal(t, policy.Manual, p.Decide(policy.Request{Account: "123456789012"}, now).Action)
	})
	t.Run("defaultAction is reject where none sets it", func(t *testing.T) {
		p, err := policy.Merge([]policy.Source{src("/p/a", "111122223333"), src("/p/b", `{"version": 1, "rules": []}`)})
		require.NoError(t, err)
		assert.Equal(t, policy.Reject, p.DefaultAction)
	})
	tests := []struct {
		name       string
		sources    []policy.Source
		wantSource string // the *SourceError's part, or "" for a *ValidationError
		wantText   string
	}{
		{"an invalid part", []policy.Source{src("/p/a", "111122223333"), src("/p/b", `{"version": 1, "rules": [{"name": "x"}]}`)}, "/p/b", "rules[0].action: is required"},
		{"an empty part", []policy.Source{src("/p/a", "111122223333"), src("/p/b", " ")}, "/p/b", "empty"},
		{"defaultAction disagrees", []policy.Source{src("/p/a", `{"version": 1, "defaultAction": "manual", "rules": []}`), src("/p/b", `{"version": 1, "defaultAction": "reject", "rules": []}`)}, "", "defaultAction: reject in /p/b disagrees with manual in /p/a"},
		{"revoke disagrees", []policy.Source{src("/p/a", `{"version": 1, "revoke": true, "rules": []}`), src("/p/b", `{"version": 1, "revoke": false, "rules": []}`)}, "", "revoke: false in /p/b disagrees with true in /p/a"},
		{"maxRevocations disagrees", []policy.Source{src("/p/a", `{"version": 1, "maxRevocations": 3, "rules": []}`), src("/p/b", `{"version": 1, "maxRevocations": 4, "rules": []}`)}, "", "maxRevocations: 4 in /p/b disagrees with 3 in /p/a"},
		{"a rule name used twice", []policy.Source{
			src("/p/a", `{"version": 1, "rules": [{"name": "x", "action": "accept", "accounts": ["*"]}]}`),
			src("/p/b", `{"version": 1, "rules": [{"name": "x", "action": "reject", "accounts": ["111122223333"]}]}`)}, "", `rule name "x" in /p/b is already used in /p/a`},
		{"nothing", nil, "", "no policy part found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Merge(tt.sources)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), tt.wantText)
			var serr *policy.SourceError
			if tt.wantSource != "" {
				require.True(t, errors.As(err, &serr))
				assert.Equal(t, tt.wantSource, serr.Source)
			} else {
				assert.False(t, errors.As(err, &serr))
			}
		})
	}
}

func TestMergeTenThousandAccounts(t *testing.T) {
	var sources []policy.Source
	for part := range 16 {
		var ids []string
		for i := range 625 {
			ids = append(ids, fmt.Sprintf("%012d", 100000000000+part*625+i))
		}
		sources = append(sources, policy.Source{Name: fmt.Sprintf("/p/part-%02d", part), Text: []byte(strings.Join(ids, ","))})
	}
	p, err := policy.Merge(sources)
	require.NoError(t, err)
	assert.Equal(t, policy.Accept, p.Decide(policy.Request{Account: "100000009999"}, now).Action)
	assert.Equal(t, "/p/part-15", p.Decide(policy.Request{Account: "100000009999"}, now).Rule)
	assert.Equal(t, policy.Reject, p.Decide(policy.Request{Account: "100000010000"}, now).Action)
}

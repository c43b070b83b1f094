package policy_test

import (
	"fmt"
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

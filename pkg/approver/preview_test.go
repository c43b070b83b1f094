package approver_test

import (
	"context"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

func TestPlanPolicy(t *testing.T) {
	const stored = `{"version": 1, "rules": [{"name": "partners", "action": "accept", "accounts": ["111111111111", "222222222222"]}]}`
	setup := func() *approvertest.EC2 {
		f := approvertest.NewEC2(svcA)
		f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
		f.Add(svcA, "vpce-0000000000000000b", "222222222222", "pendingAcceptance", "")
		f.Add(svcA, "vpce-0000000000000000c", "333333333333", "pendingAcceptance", "")
		f.Add(svcA, "vpce-0000000000000000d", "222222222222", "available", "")
		f.Add(svcA, "vpce-0000000000000000e", "222222222222", "available", "")
		return f
	}
	type change struct{ current, proposed string }
	tests := []struct {
		name        string
		current     *policy.Loaded
		proposed    string
		want        map[string]change
		wantSummary approver.PlanSummary
		wantHolds   bool
	}{
		{"the stored policy itself changes nothing", loaded(t, "3", stored), stored, map[string]change{}, approver.PlanSummary{}, false},
		{"removing an account rejects its request", loaded(t, "3", stored), "111111111111",
			map[string]change{"vpce-0000000000000000b": {"accept", "reject"}}, approver.PlanSummary{Reject: 1}, false},
		{"revoking too", loaded(t, "3", stored), `{"version": 1, "revoke": true, "maxRevocations": 1, "defaultAction": "manual", "rules": [
			{"name": "a", "action": "accept", "accounts": ["111111111111", "333333333333"]},
			{"name": "gone", "action": "reject", "accounts": ["222222222222"]}]}`,
			map[string]change{"vpce-0000000000000000b": {"accept", "reject"}, "vpce-0000000000000000c": {"reject", "accept"},
				"revoke:vpce-0000000000000000d": {"keep", "revoke"}, "revoke:vpce-0000000000000000e": {"keep", "revoke"}},
			approver.PlanSummary{Accept: 1, Reject: 1, Revoke: 2}, true},
		{"nothing valid stored: every action is a change", nil, `{"version": 1, "defaultAction": "manual", "rules": [
			{"name": "a", "action": "accept", "accounts": ["111111111111"]}]}`,
			map[string]change{"vpce-0000000000000000a": {"", "accept"}, "vpce-0000000000000000b": {"", "manual"}, "vpce-0000000000000000c": {"", "manual"}},
			approver.PlanSummary{Accept: 1, Manual: 2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup()
			a := approver.New(vpcendpoints.New(f), nil, approver.Config{ServiceIDs: []string{svcA}, DryRun: true})
			plan, err := a.PlanPolicy(context.Background(), tt.current, loaded(t, "proposed", tt.proposed))
			require.NoError(t, err)
			got := map[string]change{}
			for _, c := range plan.Changes {
				key := c.EndpointID
				if c.Proposed.Action == approver.VerdictRevoke {
					key = "revoke:" + key
				}
				var cur string
				if c.Current != nil {
					cur = c.Current.Action
				}
				got[key] = change{cur, c.Proposed.Action}
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantSummary, plan.Summary)
			assert.Equal(t, tt.wantHolds, plan.GuardHolds)
			assert.Equal(t, len(tt.want) > 0, plan.Changed())
			assert.Equal(t, 3, plan.Pending)
			assert.Equal(t, 2, plan.Accepted)
			assert.Empty(t, f.Accepted, "a plan changes nothing")
			assert.Empty(t, f.Rejected)
			assert.Empty(t, f.TagCalls)
		})
	}
}

func TestPlanPolicyFailsOnAnUnreadService(t *testing.T) {
	f := approvertest.NewEC2(svcA, svcB)
	f.FailDescribe[svcB] = &smithy.GenericAPIError{Code: "RequestLimitExceeded"}
	a := approver.New(vpcendpoints.New(f), nil, approver.Config{ServiceIDs: []string{svcA, svcB}})
	_, err := a.PlanPolicy(context.Background(), nil, loaded(t, "1", "111111111111"))
	require.Error(t, err, "a plan that misses connections would say no change wrongly")
	assert.Contains(t, err.Error(), svcB)
}

package approver_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

func loaded(t *testing.T, version, text string) *policy.Loaded {
	t.Helper()
	p, err := policy.Parse([]byte(text))
	require.NoError(t, err)
	return &policy.Loaded{Policy: p, Parameter: "/test/policy", Version: version, Modified: approvertest.PolicyChanged}
}

// twoCopies is an execution environment's cache holding one version of the
// policy while SSM holds another: Load serves the cached copy (marked
// Cached) unless asked for a fresh read.
type twoCopies struct {
	cached, stored *policy.Loaded
	// storedErr fails fresh reads.
	storedErr    error
	loads, reads int
}

func (c *twoCopies) Load(_ context.Context, fresh bool) (*policy.Loaded, error) {
	c.loads++
	if !fresh && c.cached != nil {
		l := *c.cached
		l.Cached = true
		return &l, nil
	}
	c.reads++
	if c.storedErr != nil {
		return nil, c.storedErr
	}
	l := *c.stored
	return &l, nil
}

func TestReconcileDecidesWithTheStoredPolicy(t *testing.T) {
	const (
		both   = "111111111111,222222222222"
		onlyA  = "111111111111"
		manual = `{"version": 1, "defaultAction": "manual", "rules": []}`
	)
	tests := []struct {
		name      string
		cached    *policy.Loaded // nil: nothing cached, the first read is fresh
		stored    *policy.Loaded
		storedErr error
		dryRun    bool
		owner     string
		wantState string
		wantReads int
		wantRule  string
	}{
		{"a removed account is rejected although the cache still allows it", loaded(t, "1", both), loaded(t, "2", onlyA), nil, false,
			"222222222222", "rejected", 1, policy.DefaultRuleName},
		{"an unchanged policy: one check, the cached decision stands", loaded(t, "1", both), loaded(t, "1", both), nil, false,
			"222222222222", "available", 1, policy.AllowlistRuleName},
		{"a fresh read needs no check", nil, loaded(t, "2", onlyA), nil, false, "111111111111", "available", 1, policy.AllowlistRuleName},
		{"nothing to act on: the cache serves", loaded(t, "1", manual), loaded(t, "2", both), nil, false,
			"222222222222", "pendingAcceptance", 0, policy.DefaultRuleName},
		{"a dry run acts on nothing: the cache serves", loaded(t, "1", both), loaded(t, "2", onlyA), nil, true,
			"222222222222", "pendingAcceptance", 0, policy.AllowlistRuleName},
		{"the check fails: nothing is decided", loaded(t, "1", both), nil, fmt.Errorf("policy parameter /test/policy: throttled: %w", policy.ErrNoPolicy), false,
			"222222222222", "pendingAcceptance", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA)
			f.Add(svcA, "vpce-0000000000000000a", tt.owner, "pendingAcceptance", "")
			store := &twoCopies{cached: tt.cached, stored: tt.stored, storedErr: tt.storedErr}
			a := approver.New(vpcendpoints.New(f), store, approver.Config{ServiceIDs: []string{svcA}, DryRun: tt.dryRun})
			report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "notification", Services: []string{svcA}})
			assert.Equal(t, tt.wantState, f.State("vpce-0000000000000000a"))
			assert.Equal(t, tt.wantReads, store.reads, "SSM reads")
			if tt.storedErr != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, policy.ErrNoPolicy, "a policy error, for the PolicyErrors metric")
				assert.Empty(t, f.Accepted)
				assert.Empty(t, f.Rejected)
				return
			}
			require.NoError(t, err)
			require.Len(t, report.Decisions, 1)
			assert.Equal(t, tt.wantRule, report.Decisions[0].Rule)
			assert.Equal(t, report.PolicyVersion, report.Decisions[0].PolicyVersion, "the summary names the policy that decided")
		})
	}
}

func TestReconcileReadsAcceptedConnectionsWhenTheNewPolicyRevokes(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
	f.Add(svcA, "vpce-0000000000000000b", "222222222222", "available", "")
	store := &twoCopies{cached: loaded(t, "1", "111111111111,222222222222"),
		stored: loaded(t, "2", `{"version": 1, "revoke": true, "rules": [{"name": "a", "action": "accept", "accounts": ["111111111111"]}]}`)}
	a := approver.New(vpcendpoints.New(f), store, approver.Config{ServiceIDs: []string{svcA}})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	require.NoError(t, report.Err())
	assert.Equal(t, "available", f.State("vpce-0000000000000000a"))
	assert.Equal(t, "rejected", f.State("vpce-0000000000000000b"), "revoked by the stored policy")
	assert.Equal(t, 1, report.Revoked)
	assert.Equal(t, "2", report.PolicyVersion)
}

func TestGuardHoldsEveryRevocationWhenAServiceIsUnread(t *testing.T) {
	const revoking = `{"version": 1, "revoke": true, "maxRevocations": 10, "rules": [
		{"name": "staying", "action": "accept", "accounts": ["111111111111"]}]}`
	tests := []struct {
		name        string
		pagesBefore int
	}{
		{"the first call fails", 0},
		{"a later page fails after earlier pages were read", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// More than 200 services: two read calls, svcA in the first and
			// svcB in the second, which fails.
			services := []string{svcA}
			for i := range 200 {
				services = append(services, fmt.Sprintf("vpce-svc-0ab%014x", i))
			}
			services = append(services, svcB)
			f := approvertest.NewEC2(services...)
			f.PageSize = 2
			for _, id := range []string{"vpce-0000000000000000a", "vpce-0000000000000000b", "vpce-0000000000000000c"} {
				f.Add(svcA, id, "222222222222", "available", "") // to revoke
			}
			f.Add(svcA, "vpce-0000000000000000d", "333333333333", "pendingAcceptance", "") // to reject
			f.Add(svcA, "vpce-0000000000000000e", "111111111111", "pendingAcceptance", "") // to accept
			for _, id := range []string{"vpce-00000000000000001", "vpce-00000000000000002", "vpce-00000000000000003"} {
				f.Add(svcB, id, "222222222222", "available", "") // unreadable
			}
			f.FailDescribe[svcB] = &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "slow down"}
			f.PagesBefore = tt.pagesBefore
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, revoking), approver.Config{ServiceIDs: services})
			report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
			require.NoError(t, err)
			assert.Equal(t, 4+tt.pagesBefore, len(f.Filters), "three pages of the first call, then the second call fails (after its first page)")

			for _, id := range []string{"vpce-0000000000000000a", "vpce-0000000000000000b", "vpce-0000000000000000c",
				"vpce-00000000000000001", "vpce-00000000000000002", "vpce-00000000000000003"} {
				assert.Equal(t, "available", f.State(id), "%s: nothing is revoked while a service is unread", id)
			}
			assert.Equal(t, "rejected", f.State("vpce-0000000000000000d"), "pending requests of a service read in full are decided")
			assert.Equal(t, "available", f.State("vpce-0000000000000000e"))
			assert.Equal(t, 3, report.Held)
			assert.Equal(t, 0, report.Revoked, "Revoked counts what EC2 applied")
			assert.Contains(t, report.Guard, "could not be read")
			assert.Contains(t, report.Guard, svcB)
			require.Error(t, report.Err())
			assert.True(t, report.ServiceFailed(svcB))
			for _, d := range report.Decisions {
				if d.Revoked {
					assert.Equal(t, approver.ResultHeld, d.Result)
					assert.Equal(t, report.Guard, d.Detail)
				}
			}
		})
	}
}

func TestStampsOnAppliedDecisions(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	f := approvertest.NewEC2(svcA, svcB)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "") // accepted by partners
	f.Add(svcB, "vpce-0000000000000000b", "111111111111", "pendingAcceptance", "") // accepted by partners, another service
	f.Add(svcA, "vpce-0000000000000000c", "333333333333", "pendingAcceptance", "") // rejected by default
	f.Add(svcA, "vpce-0000000000000000d", "444444444444", "available", "")         // revoked by default
	f.Add(svcA, "vpce-0000000000000000e", "111111111111", "pendingAcceptance", "") // EC2 fails it: no stamp
	f.Unsuccessful["vpce-0000000000000000e"] = "InternalError"
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, `{"version": 1, "revoke": true, "rules": [
		{"name": "partners", "action": "accept", "accounts": ["111111111111"]}]}`),
		approver.Config{ServiceIDs: []string{svcA, svcB}, Now: func() time.Time { return at }})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)

	stamp := func(decision, rule string) map[string]string {
		return map[string]string{approver.TagDecision: decision, approver.TagRule: rule,
			approver.TagPolicyVersion: "7", approver.TagDecidedAt: "2026-11-29T09:00:00Z"}
	}
	assert.Equal(t, stamp("accepted", "partners"), f.Stamp("vpce-0000000000000000a"))
	assert.Equal(t, stamp("accepted", "partners"), f.Stamp("vpce-0000000000000000b"))
	assert.Equal(t, stamp("rejected", "default"), f.Stamp("vpce-0000000000000000c"))
	assert.Equal(t, stamp("revoked", "default"), f.Stamp("vpce-0000000000000000d"))
	assert.Empty(t, f.Stamp("vpce-0000000000000000e"), "a decision EC2 did not apply is not stamped")
	assert.Len(t, f.TagCalls, 3, "one CreateTags per distinct tag set, across services")
	for _, call := range f.TagCalls {
		if slices.ContainsFunc(call.Tags, func(tag types.Tag) bool { return aws.ToString(tag.Value) == "partners" }) {
			assert.ElementsMatch(t, []string{approvertest.ConnectionID("vpce-0000000000000000a"), approvertest.ConnectionID("vpce-0000000000000000b")}, call.Resources)
		}
	}
	assert.Equal(t, 0, report.StampFailures)
	assert.Equal(t, approvertest.ConnectionID("vpce-0000000000000000a"), byEndpoint(report)["vpce-0000000000000000a"].ConnectionID)
}

func TestStampFailureNeverFailsTheDecision(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
	f.FailCall["CreateTags"] = &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "not allowed"}
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: []string{svcA}})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true})
	require.NoError(t, err)
	require.NoError(t, report.Err(), "the decision stands")
	assert.Equal(t, "available", f.State("vpce-0000000000000000a"))
	d := report.Decisions[0]
	assert.Equal(t, approver.ResultAccepted, d.Result)
	assert.Contains(t, d.StampError, "UnauthorizedOperation")
	assert.Equal(t, 1, report.StampFailures)
	assert.Equal(t, 1, report.Accepted)
}

func TestAPersonsAcceptStandsUnlessARejectRuleNamesIt(t *testing.T) {
	setup := func() *approvertest.EC2 {
		f := approvertest.NewEC2(svcA)
		f.Add(svcA, "vpce-0000000000000000a", "333333333333", "available", "") // a person accepted it
		f.Add(svcA, "vpce-0000000000000000b", "333333333333", "available", "") // accepted without a stamp
		f.Tags[approvertest.ConnectionID("vpce-0000000000000000a")] = map[string]string{approver.TagDecision: "accepted", approver.TagRule: approver.PersonRule,
			approver.TagBy: "arn:aws:sts::123456789012:assumed-role/admin/alice", approver.TagReason: "ticket NET-1", approver.TagDecidedAt: "2026-11-01T00:00:00Z"}
		return f
	}
	t.Run("the default action keeps it", func(t *testing.T) {
		f := setup()
		a := approver.New(vpcendpoints.New(f), staticPolicy(t, `{"version": 1, "revoke": true, "rules": []}`), approver.Config{ServiceIDs: []string{svcA}})
		report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
		require.NoError(t, err)
		assert.Equal(t, "available", f.State("vpce-0000000000000000a"))
		assert.Equal(t, "rejected", f.State("vpce-0000000000000000b"))
		assert.Equal(t, 1, report.Revoked)
	})
	t.Run("a reject rule revokes it, and the person's by and reason go", func(t *testing.T) {
		f := setup()
		a := approver.New(vpcendpoints.New(f), staticPolicy(t, `{"version": 1, "revoke": true, "rules": [
			{"name": "blocked", "action": "reject", "accounts": ["333333333333"]}]}`), approver.Config{ServiceIDs: []string{svcA}})
		report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
		require.NoError(t, err)
		assert.Equal(t, "rejected", f.State("vpce-0000000000000000a"))
		assert.Equal(t, 2, report.Revoked)
		got := f.Stamp("vpce-0000000000000000a")
		assert.Equal(t, "revoked", got[approver.TagDecision])
		assert.Equal(t, "blocked", got[approver.TagRule])
		assert.NotContains(t, got, approver.TagBy, "no stamp mixes two decisions")
		assert.NotContains(t, got, approver.TagReason)
		require.Len(t, f.UntagCalls, 1)
		assert.Equal(t, []string{approvertest.ConnectionID("vpce-0000000000000000a")}, f.UntagCalls[0].Resources)
		assert.Contains(t, byEndpoint(report)["vpce-0000000000000000a"].Reason, "over a person's accept")
	})
}

func TestACallThatFailsAfterApplyingIsTheFunctionsOwn(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
	f.Add(svcA, "vpce-0000000000000000b", "111111111111", "pendingAcceptance", "")
	// b was accepted and stamped by someone else between our Describe and
	// our call: it is theirs.
	f.BeforeApply = func(f *approvertest.EC2) {
		f.Mu.Lock()
		defer f.Mu.Unlock()
		f.Conns["vpce-0000000000000000b"].VpcEndpointState = "available"
		f.Tags[approvertest.ConnectionID("vpce-0000000000000000b")] = map[string]string{approver.TagDecision: "accepted", approver.TagRule: approver.PersonRule}
	}
	f.ApplyThenFail = &smithy.GenericAPIError{Code: "InternalError", Message: "connection reset"}
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: []string{svcA}})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true})
	require.NoError(t, err)
	require.NoError(t, report.Err())
	got := byEndpoint(report)
	assert.Equal(t, approver.ResultAccepted, got["vpce-0000000000000000a"].Result)
	assert.Contains(t, got["vpce-0000000000000000a"].Detail, "answer was lost")
	assert.Equal(t, "accepted", f.Stamp("vpce-0000000000000000a")[approver.TagDecision])
	assert.Equal(t, approver.ResultAlreadyAccepted, got["vpce-0000000000000000b"].Result)
	assert.Equal(t, approver.PersonRule, f.Stamp("vpce-0000000000000000b")[approver.TagRule], "another's stamp is kept")
}

func TestALostAnswerOnARevocationIsTheFunctionsOwn(t *testing.T) {
	// An accepted connection carries the function's earlier stamp; the
	// revoking Reject is applied but its answer lost.
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "222222222222", "available", "")
	f.Tags[approvertest.ConnectionID("vpce-0000000000000000a")] = map[string]string{
		approver.TagDecision: "accepted", approver.TagRule: "partners", approver.TagPolicyVersion: "6", approver.TagDecidedAt: "2026-11-01T00:00:00Z"}
	f.ApplyThenFail = &smithy.GenericAPIError{Code: "InternalError", Message: "connection reset"}
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, `{"version": 1, "revoke": true, "rules": []}`), approver.Config{ServiceIDs: []string{svcA}})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	require.NoError(t, report.Err())
	assert.Equal(t, approver.ResultRevoked, report.Decisions[0].Result, "not someone else's rejection")
	assert.Equal(t, 1, report.Revoked)
	assert.Equal(t, "revoked", f.Stamp("vpce-0000000000000000a")[approver.TagDecision], "the stale accepted stamp is replaced")
}

func TestADryRunShowsTheGuardHolding(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "222222222222", "available", "")
	f.Add(svcA, "vpce-0000000000000000b", "222222222222", "available", "")
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, `{"version": 1, "revoke": true, "maxRevocations": 1, "rules": []}`),
		approver.Config{ServiceIDs: []string{svcA}, DryRun: true})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	assert.Equal(t, 2, report.Held, "a dry run previews what a real sweep would do: hold them")
	assert.Equal(t, 0, report.DryRunDecisions)
	assert.Contains(t, report.Guard, "2 revocations exceed maxRevocations 1")
	assert.Empty(t, f.Rejected)
}

func TestReconcileNoticesAPolicyRecreatedAtTheSameVersion(t *testing.T) {
	// Deleted and created again: version 1 again, other content.
	cached, stored := loaded(t, "1", "111111111111,222222222222"), loaded(t, "1", "111111111111")
	cached.Digest, stored.Digest = "sha256:old", "sha256:new"
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "222222222222", "pendingAcceptance", "")
	a := approver.New(vpcendpoints.New(f), &twoCopies{cached: cached, stored: stored}, approver.Config{ServiceIDs: []string{svcA}})
	_, err := a.Reconcile(context.Background(), approver.Request{Trigger: "notification", Services: []string{svcA}})
	require.NoError(t, err)
	assert.Equal(t, "rejected", f.State("vpce-0000000000000000a"))
}

func TestGoneStates(t *testing.T) {
	for _, state := range []string{"deleting", "deleted", "expired", "failed"} {
		t.Run(state, func(t *testing.T) {
			f := approvertest.NewEC2(svcA)
			f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
			f.BeforeApply = func(f *approvertest.EC2) { // EC2 then answers InvalidState
				f.Mu.Lock()
				defer f.Mu.Unlock()
				f.Conns["vpce-0000000000000000a"].VpcEndpointState = types.State(state)
			}
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: []string{svcA}})
			report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true})
			require.NoError(t, err)
			require.NoError(t, report.Err(), "a connection that is gone is no failure")
			assert.Equal(t, approver.ResultGone, report.Decisions[0].Result)
			assert.Equal(t, 1, report.Gone)
		})
	}
}

func TestCountIsOneFunctionOfResults(t *testing.T) {
	var ds []approver.Outcome
	for _, r := range []string{approver.ResultAccepted, approver.ResultAccepted, approver.ResultRejected, approver.ResultRevoked,
		approver.ResultLeftPending, approver.ResultDryRun, approver.ResultHeld, approver.ResultAlreadyAccepted,
		approver.ResultAlreadyRejected, approver.ResultGone, approver.ResultFailed} {
		ds = append(ds, approver.Outcome{Result: r})
	}
	ds[0].StampError = "denied"
	ds[4].Action = policy.Manual
	// Held split by guard; left pending for a person, or by a held part.
	ds = append(ds, approver.Outcome{Result: approver.ResultHeld, Revoked: true}, approver.Outcome{Result: approver.ResultLeftPending})
	assert.Equal(t, approver.Counts{Accepted: 2, Rejected: 1, Revoked: 1, Manual: 1, DryRunDecisions: 1, Held: 2, RejectionsHeld: 1, RevocationsHeld: 1,
		PartHeld: 1, AlreadyDecided: 2, Gone: 1, Failed: 1, StampFailures: 1}, approver.Count(ds))
}

func byEndpoint(r *approver.Report) map[string]approver.Outcome {
	out := map[string]approver.Outcome{}
	for _, d := range r.Decisions {
		out[d.EndpointID] = d
	}
	return out
}

func TestASummaryListsAtMostSoManyDecisions(t *testing.T) {
	r := &approver.Report{}
	for i := range 5 {
		r.Decisions = append(r.Decisions, approver.Outcome{EndpointID: fmt.Sprint(i), Result: approver.ResultAccepted})
	}
	r.Decisions = append(r.Decisions, approver.Outcome{EndpointID: "f", Result: approver.ResultFailed})
	r.Counts = approver.Count(r.Decisions)
	s := r.Summary(3)
	assert.Equal(t, []string{"f", "0", "1"}, []string{s.Decisions[0].EndpointID, s.Decisions[1].EndpointID, s.Decisions[2].EndpointID},
		"failures first")
	assert.Equal(t, 3, s.DecisionsLeftOut)
	assert.Equal(t, 5, s.Accepted, "the counts are those of all")
	assert.Len(t, r.Decisions, 6, "the report itself is untouched")
	assert.Same(t, r, r.Summary(6))
}

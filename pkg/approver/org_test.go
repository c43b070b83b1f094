package approver_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
	"github.com/privatelink-approver/privatelink-approver/pkg/membership"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

const (
	orgID      = "o-abc1234567"
	ouPartners = "ou-ab12-11111111"
	ouNested   = "ou-ab12-22222222"
)

// fakeMemberships answers lookups from a table; accounts not in it are
// outside the organization. It records what it was asked.
type fakeMemberships struct {
	mu      sync.Mutex
	members map[string]policy.Membership
	failing map[string]string // account -> error code
	asked   [][]string
	forgot  int
	// checkErr is what Check answers; checked what it was asked.
	checkErr error
	checked  [][]policy.Reference
}

var _ approver.MembershipResolver = (*fakeMemberships)(nil)

func (f *fakeMemberships) Lookup(_ context.Context, accounts []string) map[string]membership.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, slices.Sorted(slices.Values(accounts)))
	out := map[string]membership.Result{}
	for _, a := range accounts {
		if code, ok := f.failing[a]; ok {
			out[a] = membership.Result{Err: &membership.LookupError{Account: a, Code: code, Err: assert.AnError}}
			continue
		}
		out[a] = membership.Result{Membership: f.members[a]}
	}
	return out
}

func (f *fakeMemberships) Check(_ context.Context, refs []policy.Reference) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked = append(f.checked, refs)
	return f.checkErr
}

func (f *fakeMemberships) Forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot++
}

func newMemberships() *fakeMemberships {
	in := func(ous ...string) policy.Membership {
		return policy.Membership{Organization: orgID, Root: "r-ab12", OUs: ous}
	}
	return &fakeMemberships{
		members: map[string]policy.Membership{
			"111111111111": in(ouPartners, ouNested),
			"222222222222": in(ouPartners),
			"333333333333": in(), // in the organization, under the root
		},
		failing: map[string]string{},
	}
}

const orgPolicy = `{"version": 1, "revoke": true, "rules": [
	{"name": "partners", "action": "accept", "organizationalUnits": ["ou-ab12-11111111"]},
	{"name": "whole-org", "action": "accept", "organizations": ["o-abc1234567"], "services": ["vpce-svc-0bbbbbbbbbbbbbbbb"]},
	{"name": "blocked", "action": "reject", "accounts": ["222222222222", "666666666666"]}]}`

func TestRulesByOrganizationDecideByMembership(t *testing.T) {
	f := approvertest.NewEC2(svcA, svcB)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "") // nested OU: accepted
	f.Add(svcA, "vpce-0000000000000000b", "222222222222", "pendingAcceptance", "") // blocked by account inside the OU
	f.Add(svcA, "vpce-0000000000000000c", "333333333333", "pendingAcceptance", "") // org, not svcB: default
	f.Add(svcB, "vpce-0000000000000000d", "333333333333", "pendingAcceptance", "") // org on svcB: accepted
	f.Add(svcA, "vpce-0000000000000000e", "444444444444", "pendingAcceptance", "") // outside: default
	f.Add(svcA, "vpce-0000000000000000f", "555555555555", "pendingAcceptance", "") // lookup fails: stays pending
	f.Add(svcB, "vpce-00000000000000001", "111111111111", "pendingAcceptance", "") // same account, other service
	orgs := newMemberships()
	orgs.failing["555555555555"] = "TooManyRequestsException"
	orgs.failing["666666666666"] = "AccessDeniedException" // never asked: blocked by account

	a := approver.New(vpcendpoints.New(f), staticPolicy(t, orgPolicy), approver.Config{Membership: orgs})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "notification", Services: []string{svcA, svcB}})
	require.NoError(t, err)

	assert.Equal(t, map[string]string{
		"vpce-0000000000000000a": "available",
		"vpce-0000000000000000b": "rejected",
		"vpce-0000000000000000c": "rejected",
		"vpce-0000000000000000d": "available",
		"vpce-0000000000000000e": "rejected",
		"vpce-0000000000000000f": "pendingAcceptance",
		"vpce-00000000000000001": "available",
	}, f.States())
	require.Len(t, orgs.asked, 1, "one lookup for the invocation")
	assert.Equal(t, []string{"111111111111", "333333333333", "444444444444", "555555555555"}, orgs.asked[0],
		"each account once, and not the one a reject rule names")

	byID := byEndpoint(report)
	assert.Equal(t, "partners", byID["vpce-0000000000000000a"].Rule)
	assert.Contains(t, byID["vpce-0000000000000000a"].Reason, "through "+ouPartners)
	assert.Equal(t, orgID+"/r-ab12/"+ouPartners+"/"+ouNested, byID["vpce-0000000000000000a"].OrgPath)
	assert.Equal(t, "blocked", byID["vpce-0000000000000000b"].Rule)
	assert.Empty(t, byID["vpce-0000000000000000b"].OrgPath, "not looked up")
	assert.Equal(t, "whole-org", byID["vpce-0000000000000000d"].Rule)
	assert.Empty(t, byID["vpce-0000000000000000e"].OrgPath, "outside the organization")

	undecided := byID["vpce-0000000000000000f"]
	assert.Equal(t, approver.ResultFailed, undecided.Result)
	assert.True(t, undecided.MembershipFailed)
	assert.Equal(t, "TooManyRequestsException", undecided.ErrorCode)
	assert.Equal(t, "partners", undecided.Rule, "the rule that could not be resolved")
	assert.Empty(t, string(undecided.Action), "neither accept nor reject")
	assert.True(t, undecided.StillPending())

	assert.Equal(t, 1, report.MembershipErrors)
	assert.Equal(t, 1, report.Failed)
	assert.Equal(t, 3, report.Accepted)
	require.Error(t, report.Err(), "the invocation fails, after deciding everything else")
	assert.True(t, report.ServiceFailed(svcA))
	assert.False(t, report.ServiceFailed(svcB))
}

// A request whose action the membership cannot change is decided when the
// lookups fail.
func TestAFailedLookupDecidesWhatMembershipCannotChange(t *testing.T) {
	const onlyAccepts = `{"version": 1, "rules": [
		{"name": "named", "action": "accept", "accounts": ["111111111111"]},
		{"name": "partners", "action": "accept", "organizationalUnits": ["ou-ab12-11111111"]}]}`
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
	orgs := newMemberships()
	orgs.failing["111111111111"] = "AccessDeniedException"
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, onlyAccepts), approver.Config{Membership: orgs})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "notification", Services: []string{svcA}})
	require.NoError(t, err)
	assert.Equal(t, "available", f.State("vpce-0000000000000000a"))
	assert.Equal(t, "named", byEndpoint(report)["vpce-0000000000000000a"].Rule)
	require.NoError(t, report.Err())
}

func TestNoLookupWithoutRulesByOrganization(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
	orgs := newMemberships()
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, testPolicy), approver.Config{Membership: orgs})
	_, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	assert.Empty(t, orgs.asked)
}

func TestRevocationFollowsTheOrganization(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "available", "") // still in the OU
	f.Add(svcA, "vpce-0000000000000000b", "444444444444", "available", "") // left the organization
	f.Add(svcA, "vpce-0000000000000000c", "333333333333", "available", "") // moved out of the OU
	orgs := newMemberships()
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, orgPolicy), approver.Config{Membership: orgs})

	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	require.NoError(t, report.Err())
	assert.Equal(t, map[string]string{
		"vpce-0000000000000000a": "available",
		"vpce-0000000000000000b": "rejected",
		"vpce-0000000000000000c": "rejected",
	}, f.States())
	assert.Equal(t, 2, report.Revoked)
	assert.Equal(t, orgID+"/r-ab12", byEndpoint(report)["vpce-0000000000000000c"].OrgPath)
}

// A revocation that depends on a failed lookup is never made. The others
// are made while, counting the undecided ones as made (the worst case),
// they stay within maxRevocations; past it, the guard holds them all.
func TestAFailedLookupNeverRevokes(t *testing.T) {
	tests := []struct {
		name        string
		policy      string
		wantRevoked bool
	}{
		{"two known and one undecided within maxRevocations 10: the known made", orgPolicy, true},
		{"two known and one undecided past maxRevocations 2: all held",
			strings.Replace(orgPolicy, `"revoke": true,`, `"revoke": true, "maxRevocations": 2,`, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA, svcB)
			f.Add(svcA, "vpce-0000000000000000a", "444444444444", "available", "") // outside: revoked
			f.Add(svcB, "vpce-0000000000000000b", "555555555555", "available", "") // lookup fails
			f.Add(svcB, "vpce-0000000000000000c", "666666666666", "available", "") // blocked by account: no lookup needed
			f.Add(svcA, "vpce-0000000000000000d", "222222222222", "pendingAcceptance", "")
			orgs := newMemberships()
			orgs.failing["555555555555"] = "AccessDeniedException"
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, tt.policy), approver.Config{Membership: orgs})

			report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
			require.NoError(t, err)
			assert.Equal(t, "available", f.State("vpce-0000000000000000b"), "never revoked on a failed lookup")
			assert.Equal(t, "rejected", f.State("vpce-0000000000000000d"), "pending requests are still decided")
			byID := byEndpoint(report)
			assert.Equal(t, approver.ResultFailed, byID["vpce-0000000000000000b"].Result)
			assert.True(t, byID["vpce-0000000000000000b"].MembershipFailed)
			assert.Equal(t, "AccessDeniedException", byID["vpce-0000000000000000b"].ErrorCode)
			assert.False(t, byID["vpce-0000000000000000b"].StillPending(), "an accepted connection, not a request")
			assert.Equal(t, 1, report.MembershipErrors)
			require.Error(t, report.Err())
			assert.True(t, report.ServiceFailed(svcB))
			if tt.wantRevoked {
				assert.Equal(t, "rejected", f.State("vpce-0000000000000000a"))
				assert.Equal(t, "rejected", f.State("vpce-0000000000000000c"))
				assert.Equal(t, 2, report.Revoked)
				assert.Empty(t, report.Guard)
				return
			}
			assert.Equal(t, "available", f.State("vpce-0000000000000000a"))
			assert.Equal(t, "available", f.State("vpce-0000000000000000c"))
			assert.Equal(t, approver.ResultHeld, byID["vpce-0000000000000000a"].Result)
			assert.Equal(t, approver.ResultHeld, byID["vpce-0000000000000000c"].Result)
			assert.Contains(t, report.Guard, "could not be looked up")
			assert.Contains(t, report.Guard, "maxRevocations 2")
			assert.Equal(t, 2, report.RevocationsHeld)
		})
	}
}

// A person's accept is revoked only by a reject rule: a failed lookup
// that could only make the default reject it leaves it alone, silently.
func TestAFailedLookupAndAPersonsAccept(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "555555555555", "available", "")
	f.Tags[approvertest.ConnectionID("vpce-0000000000000000a")] = map[string]string{
		approver.TagDecision: approver.ResultAccepted, approver.TagRule: policy.PersonRuleName}
	orgs := newMemberships()
	orgs.failing["555555555555"] = "AccessDeniedException"
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, orgPolicy), approver.Config{Membership: orgs})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	require.NoError(t, report.Err())
	assert.Empty(t, report.Decisions)
	assert.Equal(t, "available", f.State("vpce-0000000000000000a"))
}

// A person's accept that only a reject rule by OU could revoke: with the
// lookup failed, it is undecided, and the other revocations are made while
// the worst case stays within maxRevocations.
func TestAFailedLookupAndAPersonsAcceptARejectRuleByOUCouldRevoke(t *testing.T) {
	const suspendOU = `{"version": 1, "revoke": true, "rules": [
		{"name": "named", "action": "accept", "accounts": ["111111111111"]},
		{"name": "suspended", "action": "reject", "organizationalUnits": ["ou-ab12-22222222"]}]}`
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "555555555555", "available", "") // a person's accept
	f.Tags[approvertest.ConnectionID("vpce-0000000000000000a")] = map[string]string{
		approver.TagDecision: approver.ResultAccepted, approver.TagRule: policy.PersonRuleName}
	f.Add(svcA, "vpce-0000000000000000b", "444444444444", "available", "") // outside: revoked by the default, but held
	orgs := newMemberships()
	orgs.failing["555555555555"] = "TooManyRequestsException"
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, suspendOU), approver.Config{Membership: orgs})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"vpce-0000000000000000a": "available", "vpce-0000000000000000b": "rejected"}, f.States())
	byID := byEndpoint(report)
	person := byID["vpce-0000000000000000a"]
	assert.Equal(t, approver.ResultFailed, person.Result)
	assert.True(t, person.MembershipFailed)
	assert.Equal(t, "suspended", person.Rule)
	assert.Contains(t, person.Reason, "could not be looked up")
	assert.Equal(t, approver.ResultRevoked, byID["vpce-0000000000000000b"].Result)
	assert.Equal(t, 1, report.MembershipErrors)
	require.Error(t, report.Err())
	assert.Contains(t, report.Err().Error(), "1 of 1 services failed", "one error for the service, not one per cause")
}

func TestWithoutAnOrganizationsClientNothingByOrganizationIsDecided(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, orgPolicy), approver.Config{})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "notification", Services: []string{svcA}})
	require.NoError(t, err)
	assert.Equal(t, "pendingAcceptance", f.State("vpce-0000000000000000a"))
	assert.Equal(t, approver.CodeNoMembership, byEndpoint(report)["vpce-0000000000000000a"].ErrorCode)
	require.Error(t, report.Err())
}

func TestForgetMemberships(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	orgs := newMemberships()
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, orgPolicy), approver.Config{Membership: orgs})
	_, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	assert.Zero(t, orgs.forgot)
	_, err = a.Reconcile(context.Background(), approver.Request{Trigger: "policy-change", All: true, Sweep: true, ReloadPolicy: true, ForgetMemberships: true})
	require.NoError(t, err)
	assert.Equal(t, 1, orgs.forgot)
}

func TestPlanPolicyFailsOnAFailedLookup(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "555555555555", "pendingAcceptance", "")
	orgs := newMemberships()
	orgs.failing["555555555555"] = "AccessDeniedException"
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, testPolicy), approver.Config{Membership: orgs})
	_, err := a.PlanPolicy(context.Background(), loaded(t, "1", testPolicy), loaded(t, "2", orgPolicy))
	require.ErrorContains(t, err, "555555555555")

	delete(orgs.failing, "555555555555")
	plan, err := a.PlanPolicy(context.Background(), loaded(t, "1", testPolicy), loaded(t, "2", orgPolicy))
	require.NoError(t, err)
	assert.False(t, plan.Changed(), "outside the organization: rejected by both")
}

// A policy naming another organization or an OU not in ours decides
// nothing; when the check cannot be made, the requests that need a lookup
// stay undecided and the others are decided.
func TestPolicyReferencesAreChecked(t *testing.T) {
	const policyText = `{"version": 1, "rules": [
		{"name": "named", "action": "accept", "accounts": ["222222222222"]},
		{"name": "block-competitor", "action": "reject", "organizations": ["o-competitor1"]},
		{"name": "everyone", "action": "accept", "accounts": ["*"]}]}`
	tests := []struct {
		name       string
		checkErr   error
		wantErr    string
		wantStates map[string]string
	}{
		{name: "another organization", checkErr: &membership.ReferenceError{Rule: "block-competitor", ID: "o-competitor1", Why: "not the organization"},
			wantErr:    "rule block-competitor names o-competitor1",
			wantStates: map[string]string{"vpce-0000000000000000a": "pendingAcceptance", "vpce-0000000000000000b": "pendingAcceptance"}},
		{name: "the check fails", checkErr: &membership.LookupError{Code: "TooManyRequestsException", Err: assert.AnError},
			wantStates: map[string]string{"vpce-0000000000000000a": "pendingAcceptance", "vpce-0000000000000000b": "pendingAcceptance"}},
		{name: "valid", wantStates: map[string]string{"vpce-0000000000000000a": "available", "vpce-0000000000000000b": "available"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA)
			f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
			f.Add(svcA, "vpce-0000000000000000b", "222222222222", "pendingAcceptance", "")
			orgs := newMemberships()
			orgs.checkErr = tt.checkErr
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, policyText), approver.Config{Membership: orgs})
			report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
			if tt.wantErr != "" {
				require.ErrorIs(t, err, policy.ErrNoPolicy)
				assert.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, report)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantStates, f.States())
			require.Len(t, orgs.checked, 1)
			assert.Equal(t, []policy.Reference{{Rule: "block-competitor", ID: "o-competitor1"}}, orgs.checked[0])
			if tt.checkErr != nil && tt.wantErr == "" {
				assert.Empty(t, orgs.asked, "no lookup after a failed check")
				assert.Equal(t, "TooManyRequestsException", byEndpoint(report)["vpce-0000000000000000a"].ErrorCode)
				assert.Equal(t, approver.ResultFailed, byEndpoint(report)["vpce-0000000000000000a"].Result)
			}
		})
	}
}

// badReference answers Check with a ReferenceError for one ID.
type badReference struct {
	*fakeMemberships
	bad string
}

func (b badReference) Check(_ context.Context, refs []policy.Reference) error {
	for _, r := range refs {
		if r.ID == b.bad {
			return &membership.ReferenceError{Rule: r.Rule, ID: r.ID, Why: "not the organization"}
		}
	}
	return nil
}

// A cached copy naming another organization is read again before the
// invocation fails: the stored policy may have been fixed since.
func TestACachedPolicyWithABadReferenceIsReadAgain(t *testing.T) {
	parse := func(text string) *policy.Policy {
		p, err := policy.Parse([]byte(text))
		require.NoError(t, err)
		return p
	}
	old := parse(`{"version": 1, "rules": [{"name": "ours", "action": "accept", "organizations": ["o-competitor1"]}]}`)
	fixed := parse(`{"version": 1, "rules": [{"name": "ours", "action": "accept", "organizations": ["` + orgID + `"]}]}`)
	tests := []struct {
		name    string
		stored  *policy.Policy
		wantErr bool
	}{
		{"fixed since", fixed, false},
		{"still the same", old, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA)
			f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
			loader := loaderFunc(func(_ context.Context, fresh bool) (*policy.Loaded, error) {
				if !fresh {
					return &policy.Loaded{Policy: old, Parameter: "/test/policy", Version: "1", Cached: true}, nil
				}
				version := "2"
				if tt.stored == old {
					version = "1"
				}
				return &policy.Loaded{Policy: tt.stored, Parameter: "/test/policy", Version: version}, nil
			})
			a := approver.New(vpcendpoints.New(f), loader, approver.Config{Membership: badReference{newMemberships(), "o-competitor1"}})
			_, err := a.Reconcile(context.Background(), approver.Request{Trigger: "notification", Services: []string{svcA}})
			if tt.wantErr {
				require.ErrorIs(t, err, policy.ErrNoPolicy)
				assert.Equal(t, "pendingAcceptance", f.State("vpce-0000000000000000a"))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "available", f.State("vpce-0000000000000000a"), "decided with the fixed policy")
		})
	}
}

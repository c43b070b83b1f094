//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// Rules by AWS Organizations membership, against moto's Organizations: an
// organization with nested OUs whose management account is not the
// provider, reached through an assumed role (moto lets any caller assume a
// role of another account, whose credentials then act as that account).

// outsider is in no organization.
const outsider = "777700001111"

// managementAccounts numbers the tests' organizations: moto keeps one
// organization per management account.
var managementAccounts atomic.Int32

// org is one test's organization:
//
//	root
//	├── partners
//	│   └── nested      (inNested, blocked)
//	├── others          (inOthers)
//	└── capped          (inCapped)
//	inRoot sits directly under the root.
type org struct {
	*localaws.Organization
	partners, nested, others, capped      string
	inNested, blocked, inOthers, inCapped string
	inRoot                                string
	roleARN                               string
	members                               map[string]string // account -> name
}

func newOrg(t *testing.T) *org {
	t.Helper()
	management := fmt.Sprintf("9000%08d", managementAccounts.Add(1))
	o, err := moto.CreateOrganization(ctx(t), management)
	require.NoError(t, err)
	return buildOrg(t, o)
}

func buildOrg(t *testing.T, o *localaws.Organization) *org {
	t.Helper()
	w := &org{Organization: o, roleARN: o.RoleARN("privatelink-approver-org-reader"), members: map[string]string{}}
	ou := func(parent, name string) string {
		id, err := o.CreateOU(ctx(t), parent, name)
		require.NoError(t, err)
		return id
	}
	account := func(name, parent string) string {
		id, err := o.CreateAccount(ctx(t), name, parent)
		require.NoError(t, err)
		w.members[id] = name
		return id
	}
	w.partners = ou(o.Root, "partners")
	w.nested = ou(w.partners, "nested")
	w.others = ou(o.Root, "others")
	w.capped = ou(o.Root, "capped")
	w.inNested = account("in-nested", w.nested)
	w.blocked = account("blocked", w.nested)
	w.inOthers = account("in-others", w.others)
	w.inCapped = account("in-capped", w.capped)
	w.inRoot = account("in-root", o.Root)
	return w
}

// path is the orgPath the function logs for an account under ous.
func (o *org) path(ous ...string) string {
	return strings.Join(append([]string{o.ID, o.Root}, ous...), "/")
}

// lines are the function's decision lines, by endpoint ID (the last one).
func lines(f *localaws.Function) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, l := range f.Logs("decision") {
		out[l["endpointId"].(string)] = l
	}
	return out
}

func TestRulesByOrganizationAndOU(t *testing.T) {
	o := newOrg(t)
	s := newScenario(t, 2)
	svc, orgWide := s.services[0], s.services[1]
	s.policy(fmt.Sprintf(`{"version": 1, "rules": [
	  {"name": "partners", "action": "accept", "organizationalUnits": [%q]},
	  {"name": "whole-org", "action": "accept", "organizations": [%q], "services": [%q]},
	  {"name": "blocked", "action": "reject", "accounts": [%q]},
	  {"name": "trial", "action": "accept", "organizationalUnits": [%q], "expires": "2026-01-01T00:00:00Z"},
	  {"name": "capped", "action": "accept", "organizationalUnits": [%q], "maxEndpoints": 1}]}`,
		o.partners, o.ID, orgWide.ID, o.blocked, o.others, o.capped))

	nested := s.endpoint(svc, o.inNested)    // accepted: an OU above its own
	blocked := s.endpoint(svc, o.blocked)    // rejected: a reject rule by account, inside the OU
	rootOnly := s.endpoint(svc, o.inRoot)    // rejected: in the organization, not in the OU
	orgOnly := s.endpoint(orgWide, o.inRoot) // accepted: the whole organization, on this service
	stranger := s.endpoint(svc, outsider)    // rejected: outside
	expired := s.endpoint(svc, o.inOthers)   // rejected: its OU's rule has expired
	cappedIDs, err := moto.CreateEndpoints(ctx(t), svc, localaws.Endpoint{Account: o.inCapped}, 2)
	require.NoError(t, err) // the first accepted, the second past maxEndpoints

	f := s.function("ORGANIZATION_ROLE_ARN=" + o.roleARN)
	before, err := moto.Stats()
	require.NoError(t, err)
	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	calls := statsDelta(t, before)

	// One of the two capped requests is accepted (the older; the one with
	// the lower endpoint ID when moto stamps both with the same second).
	first, second := cappedIDs[0], cappedIDs[1]
	if s.states(svc)[first] != "available" {
		first, second = second, first
	}
	assert.Equal(t, map[string]string{nested: "available", blocked: "rejected", rootOnly: "rejected", stranger: "rejected",
		expired: "rejected", first: "available", second: "rejected"}, s.states(svc))
	assert.Equal(t, map[string]string{orgOnly: "available"}, s.states(orgWide))
	assert.Equal(t, map[string]string{nested: "partners", blocked: "blocked", rootOnly: "default", orgOnly: "whole-org", stranger: "default",
		expired: "default", first: "capped", second: "default"}, sum.rules())

	byID := lines(f)
	assert.Equal(t, o.path(o.partners, o.nested), byID[nested]["orgPath"], "the account's full place")
	assert.Contains(t, byID[nested]["reason"], "through "+o.partners)
	assert.Equal(t, o.path(), byID[orgOnly]["orgPath"])
	assert.NotContains(t, byID[blocked], "orgPath", "a reject rule naming the account: not looked up")
	assert.NotContains(t, byID[stranger], "orgPath", "outside the organization")
	assert.Contains(t, byID[expired]["reason"], "rule trial matched but has expired")
	assert.Contains(t, byID[second]["reason"], "maxEndpoints is 1")

	// Five accounts looked up (not the blocked one): each one's parent, the
	// OUs above them once, the organization once, through the role once.
	assert.Equal(t, 1, calls["sts:AssumeRole"])
	assert.Equal(t, 1, calls["organizations:DescribeOrganization"])
	assert.Equal(t, 5+4, calls["organizations:ListParents"], "5 accounts, then nested, partners, others and capped once each")

	// Warm: memberships and credentials are kept.
	s.endpoint(svc, o.inNested)
	before, err = moto.Stats()
	require.NoError(t, err)
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	calls = statsDelta(t, before)
	assert.Equal(t, 1, sum.Accepted)
	assert.Zero(t, calls["sts:AssumeRole"]+calls["organizations:ListParents"]+calls["organizations:DescribeOrganization"], "%v", calls)
}

// The provider account's own organization, made once: moto keeps one per
// account.
var (
	providerOrgOnce sync.Once
	providerOrg     *localaws.Organization
	providerOrgErr  error
)

// The provider account is the management account: no role, the function's
// own credentials.
func TestRulesByOrganizationWithTheFunctionsOwnRole(t *testing.T) {
	providerOrgOnce.Do(func() { providerOrg, providerOrgErr = moto.CreateOrganization(ctx(t), localaws.ProviderAccount) })
	require.NoError(t, providerOrgErr)
	lo := providerOrg
	o := buildOrg(t, lo)
	s := newScenario(t, 1)
	s.policy(fmt.Sprintf(`{"version": 1, "rules": [{"name": "partners", "action": "accept", "organizationalUnits": [%q]}]}`, o.partners))
	in, out := s.endpoint(s.svc(), o.inNested), s.endpoint(s.svc(), o.inOthers)

	f := s.function()
	before, err := moto.Stats()
	require.NoError(t, err)
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
	assert.Equal(t, map[string]string{in: "available", out: "rejected"}, s.states(s.svc()))
	calls := statsDelta(t, before)
	assert.Zero(t, calls["sts:AssumeRole"], "no role: the function's own credentials")
	assert.Positive(t, calls["organizations:ListParents"])
	assert.Equal(t, o.path(o.partners, o.nested), lines(f)[in]["orgPath"])
}

func TestRevocationFollowsTheOrganization(t *testing.T) {
	o := newOrg(t)
	s := newScenario(t, 1)
	byOU := func(extra string) {
		s.policy(fmt.Sprintf(`{"version": 1, "revoke": true, "rules": [{"name": "partners", "action": "accept", "organizationalUnits": [%q]}%s]}`,
			o.partners, extra))
	}
	byOU("")
	moved := s.endpoint(s.svc(), o.inNested)
	stays := s.endpoint(s.svc(), o.blocked) // also in nested; no rule blocks it here
	f := s.function("ORGANIZATION_ROLE_ARN=" + o.roleARN)
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
	require.Equal(t, map[string]string{moved: "available", stays: "available"}, s.states(s.svc()))

	// The account leaves the OU. Its place is kept for MEMBERSHIP_CACHE_SECONDS
	// (300): a sweep still sees it in the OU.
	require.NoError(t, o.MoveAccount(ctx(t), o.inNested, o.nested, o.Root))
	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, map[string]string{moved: "available", stays: "available"}, s.states(s.svc()), "kept")

	// A change of the policy forgets every membership: the next sweep looks
	// the accounts up again and revokes the one that left.
	byOU(`, {"name": "unrelated", "action": "reject", "accounts": ["666600001111"]}`)
	invoke(t, f, s.sample("ssm-parameter-store-change.json"), &sum)
	assert.Equal(t, map[string]string{moved: "rejected", stays: "available"}, s.states(s.svc()))
	assert.Equal(t, 1, sum.Revoked)
	line := lines(f)[moved]
	assert.Equal(t, true, line["revoked"])
	assert.Equal(t, o.path(), line["orgPath"], "now directly under the root")
	tags := s.tags(s.svc(), moved)
	assert.Equal(t, "revoked", tags["privatelink-approver:decision"])
	assert.Equal(t, "default", tags["privatelink-approver:rule"])

	// A forwarded MoveAccount event forgets them too, and sweeps.
	require.NoError(t, o.MoveAccount(ctx(t), o.blocked, o.nested, o.others))
	invoke(t, f, s.sample("cloudtrail-organizations-move-account.json"), &sum)
	assert.Equal(t, "organization-change", sum.Trigger)
	assert.Equal(t, map[string]string{moved: "rejected", stays: "rejected"}, s.states(s.svc()))
}

func TestOrganizationsThrottledOrDenied(t *testing.T) {
	tests := []struct {
		name     string
		fault    map[string]any
		wantCode string
	}{
		{"ListParents throttled past the retries",
			map[string]any{"action": "organizations:ListParents", "code": "TooManyRequestsException", "status": 400, "times": 1000},
			"TooManyRequestsException"},
		{"ListParents denied",
			map[string]any{"action": "organizations:ListParents", "code": "AccessDeniedException", "status": 400, "times": 1000},
			"AccessDeniedException"},
		{"the role cannot be assumed",
			map[string]any{"action": "sts:AssumeRole", "code": "AccessDenied", "status": 403, "times": 1000},
			"AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrg(t)
			s := newScenario(t, 2)
			svc, other := s.services[0], s.services[1]
			// Accepted before rules by OU: inOthers is revoked by the
			// policy below, once it can be looked up.
			s.policy(o.inOthers)
			leaving := s.endpoint(svc, o.inOthers)
			f := s.function("ORGANIZATION_ROLE_ARN=" + o.roleARN)
			invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
			require.Equal(t, "available", s.states(svc)[leaving])

			s.policy(fmt.Sprintf(`{"version": 1, "revoke": true, "rules": [
			  {"name": "partners", "action": "accept", "organizationalUnits": [%q]},
			  {"name": "named", "action": "accept", "accounts": [%q]},
			  {"name": "blocked", "action": "reject", "accounts": [%q]}]}`, o.partners, allowed, o.blocked))
			member := s.endpoint(svc, o.inNested) // needs the lookup: stays pending
			stranger := s.endpoint(svc, outsider) // needs it too: stays pending
			blocked := s.endpoint(svc, o.blocked) // rejected by account: decided
			named := s.endpoint(other, allowed)   // accepted by account, whatever the lookup says
			faults(t, map[string]any{"faults": []map[string]any{tt.fault}})

			msg := invokeErr(t, f, s.sample("ssm-parameter-store-change.json"))
			assert.Contains(t, msg, tt.wantCode)
			assert.Equal(t, map[string]string{leaving: "available", member: "pendingAcceptance", stranger: "pendingAcceptance",
				blocked: "rejected"}, s.states(svc), "nothing that depends on the organization is decided; never a revocation")
			assert.Equal(t, map[string]string{named: "available"}, s.states(other), "an accept rule naming the account decides")
			byID := lines(f)
			for _, id := range []string{member, stranger, leaving} {
				assert.Equal(t, "failed", byID[id]["result"], id)
				assert.Equal(t, tt.wantCode, byID[id]["errorCode"], id)
				assert.Equal(t, true, byID[id]["membershipFailed"], id)
			}
			assert.Equal(t, true, byID[leaving]["revoked"], "the revocation it could be, not made")
			assert.Equal(t, []float64{3}, metric(f, "MembershipErrors")[1:], "the policy-change sweep's count")

			// SQS: the records naming the service with undecided requests
			// come back, the others do not.
			var resp batchResponse
			invoke(t, f, sqsEvent(t, snsEnvelope(t, svc.ID), snsEnvelope(t, other.ID)), &resp)
			assert.Equal(t, []string{"m0"}, resp.ids())

			// Organizations answers again: everything is decided.
			require.NoError(t, moto.Control(map[string]any{}))
			var sum summary
			invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
			assert.Equal(t, map[string]string{leaving: "rejected", member: "available", stranger: "rejected", blocked: "rejected"}, s.states(svc))
			assert.Equal(t, 1, sum.Revoked)
		})
	}
}

// The burst: 1,000 requests from 20 member accounts two OUs below
// the root, in 10 SQS batches. The first invocation looks each account up
// (its parent; the two OUs above once; the organization once); the next
// ones call AWS Organizations and STS not at all.
func TestOrganizationBurstCosts(t *testing.T) {
	o := newOrg(t)
	s := newScenario(t, 1)
	s.policy(fmt.Sprintf(`{"version": 1, "rules": [{"name": "partners", "action": "accept", "organizationalUnits": [%q]}]}`, o.partners))
	want := map[string]string{}
	var bodies []string
	for i := range 20 {
		account, err := o.CreateAccount(ctx(t), fmt.Sprintf("burst-%02d", i), o.nested)
		require.NoError(t, err)
		ids, err := moto.CreateEndpoints(ctx(t), s.svc(), localaws.Endpoint{Account: account}, 50)
		require.NoError(t, err)
		for _, id := range ids {
			want[id] = "available"
			bodies = append(bodies, snsEnvelope(t, fmt.Sprintf(`{"ServiceId":%q,"VpcEndpointId":%q}`, s.svc().ID, id)))
		}
	}
	f := s.function("ORGANIZATION_ROLE_ARN="+o.roleARN, "POLICY_CACHE_SECONDS=60")
	for batch := range 10 {
		before, err := moto.Stats()
		require.NoError(t, err)
		var resp batchResponse
		invoke(t, f, sqsEvent(t, bodies[batch*100:(batch+1)*100]...), &resp)
		require.Empty(t, resp.ids(), "batch %d", batch)
		calls := statsDelta(t, before)
		orgCalls := calls["organizations:ListParents"] + calls["organizations:DescribeOrganization"]
		if batch == 0 {
			assert.LessOrEqual(t, orgCalls, 20*4, "the issue's bound")
			assert.Equal(t, 20+2, calls["organizations:ListParents"], "each account once, the two OUs once")
			assert.Equal(t, 1, calls["organizations:DescribeOrganization"])
			assert.Equal(t, 1, calls["sts:AssumeRole"])
			continue
		}
		assert.Zero(t, orgCalls+calls["sts:AssumeRole"], "batch %d: %v", batch, calls)
	}
	assert.Equal(t, want, s.states(s.svc()))
}

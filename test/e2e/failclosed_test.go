//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// Fail closed on what the function cannot know or can be lied to about:
// a Region EC2 does not report, rules about another organization, an
// account that joins, forged notifications.

// A cross-Region service's connection without VpcEndpointRegion waits
// until EC2 reports the Region, when a rule by Region could decide it
// either way.
func TestARequestWithNoRegionWaitsForIt(t *testing.T) {
	s := newScenario(t, 0)
	svcs, err := moto.CreateServicesWith(ctx(t), s.region, 1, localaws.ServiceOptions{SupportedRegions: []string{"eu-west-1"}})
	require.NoError(t, err)
	s.services = svcs
	s.policy(`{"version": 1, "rules": [{"name": "eu-only", "action": "accept", "accounts": ["111122223333"], "regions": ["eu-west-1"]},
	  {"name": "everywhere", "action": "accept", "accounts": ["444455556666"]}]}`)
	hidden := s.endpoint(s.svc(), "111122223333", inRegion("eu-west-1"), tagged(localaws.TagHideRegion, "true"))
	alike := s.endpoint(s.svc(), "444455556666", inRegion("eu-west-1"), tagged(localaws.TagHideRegion, "true"))
	shown := s.endpoint(s.svc(), "111122223333", inRegion("eu-west-1"))
	f := s.function()

	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, map[string]string{hidden: "pendingAcceptance", alike: "available", shown: "available"}, s.states(s.svc()))
	line := lines(f)[hidden]
	assert.Equal(t, "left-pending", line["result"])
	assert.Equal(t, true, line["regionUnknown"])
	assert.Contains(t, line["detail"], "Region is unknown")
	assert.Contains(t, line["detail"], "eu-west-1")
	assert.Equal(t, "", lines(f)[alike]["region"], "decided alike in every Region: decided, the Region still unknown")
	assert.Equal(t, []float64{1}, metric(f, "RegionUnknown"))

	// EC2 reports the Region: the next reconcile decides it.
	require.NoError(t, moto.ShowRegion(ctx(t), "111122223333", "eu-west-1", hidden))
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
	assert.Equal(t, "available", s.states(s.svc())[hidden])
	assert.Equal(t, "eu-only", lines(f)[hidden]["rule"])
	assert.Equal(t, "eu-west-1", lines(f)[hidden]["region"])
}

// A rule about another organization, or an OU not in ours, could never
// match: the policy decides nothing, and says which rule and ID.
func TestARuleAboutAnotherOrganizationDecidesNothing(t *testing.T) {
	o := newOrg(t)
	s := newScenario(t, 1)
	text := `{"version": 1, "rules": [
	  {"name": "block-competitor", "action": "reject", "organizations": ["o-competitor1"]},
	  {"name": "lost-ou", "action": "reject", "organizationalUnits": ["ou-zz99-99999999"]},
	  {"name": "everyone", "action": "accept", "accounts": ["*"]}]}`
	s.policy(text)
	stranger := s.endpoint(s.svc(), outsider)
	member := s.endpoint(s.svc(), o.inRoot)
	f := s.function("ORGANIZATION_ROLE_ARN=" + o.roleARN)

	msg := invokeErr(t, f, s.sample("eventbridge-scheduled-event.json"))
	assert.Contains(t, msg, "rule block-competitor names o-competitor1")
	assert.Contains(t, msg, "rule lost-ou names ou-zz99-99999999")
	assert.Equal(t, map[string]string{stranger: "pendingAcceptance", member: "pendingAcceptance"}, s.states(s.svc()))
	assert.Equal(t, []float64{1}, metric(f, "PolicyErrors"))

	// approverctl says so before the policy is pushed.
	file := writeFile(t, "policy.json", text)
	out, _, code := runCtl(t, nil, "policy", "validate", file, "--role", o.roleARN)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "rule block-competitor names o-competitor1, not the organization "+o.ID)
	assert.Contains(t, out, "rule lost-ou names ou-zz99-99999999, not an OU of the organization")

	// Named rightly, the same policy decides.
	s.policy(strings.NewReplacer("o-competitor1", o.ID, "ou-zz99-99999999", o.others).Replace(text))
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
	assert.Equal(t, map[string]string{stranger: "available", member: "rejected"}, s.states(s.svc()))
}

// "Not a member" is never kept: an account refused while outside is
// accepted by the next invocation after it joins, whatever the cache.
func TestAnAccountThatJoinsIsAcceptedNextTime(t *testing.T) {
	o := newOrg(t)
	s := newScenario(t, 1)
	joiner := fmt.Sprintf("7777%08d", managementAccounts.Add(1))
	s.policy(fmt.Sprintf(`{"version": 1, "rules": [{"name": "our-org", "action": "accept", "organizations": [%q]}]}`, o.ID))
	before := s.endpoint(s.svc(), joiner)
	f := s.function("ORGANIZATION_ROLE_ARN="+o.roleARN, "MEMBERSHIP_CACHE_SECONDS=3600")
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
	assert.Equal(t, "rejected", s.states(s.svc())[before], "outside the organization")

	require.NoError(t, o.Join(ctx(t), joiner))
	after := s.endpoint(s.svc(), joiner)
	var resp batchResponse
	invoke(t, f, sqsEvent(t, s.svc().ID), &resp)
	assert.Empty(t, resp.ids())
	assert.Equal(t, "available", s.states(s.svc())[after], "a member now, although memberships are kept an hour")
	assert.Equal(t, o.path(), lines(f)[after]["orgPath"])

	// The forwarded CreateAccountResult sweeps at once.
	var sum summary
	invoke(t, f, s.sample("cloudtrail-organizations-create-account-result.json"), &sum)
	assert.Equal(t, "organization-change", sum.Trigger)
}

// Messages naming thousands of services that are not the account's cost at
// most 20 lookups, and the genuine notification in the same batch is
// decided and not returned.
func TestForgedNotificationsCostLittle(t *testing.T) {
	s := newScenario(t, 1)
	s.policy(allowlist(10, "111122223333"))
	genuine := s.endpoint(s.svc(), "111122223333")
	forged := func(from int) string {
		ids := make([]string, 2000)
		for i := range ids {
			ids[i] = fmt.Sprintf("vpce-svc-%017x", from+i)
		}
		return `{"connectionNotificationId": "vpce-nfn-forged", "serviceId": "` + strings.Join(ids, " ") + `"}`
	}
	f := s.function("SERVICE_IDS=", "SWEEP_PERIOD_SECONDS=300")

	statsBefore, err := moto.Stats()
	require.NoError(t, err)
	var resp batchResponse
	invoke(t, f, sqsEvent(t, forged(0x100000), s.svc().ID, forged(0x200000)), &resp)
	calls := statsDelta(t, statsBefore)
	assert.Empty(t, resp.ids(), "the genuine record is decided; the forged ones are dropped, not retried")
	assert.Equal(t, "available", s.states(s.svc())[genuine])
	assert.LessOrEqual(t, calls["ec2:DescribeVpcEndpointServiceConfigurations"], 1+20, "one call for 20 IDs, then one each: %v", calls)
	assert.Equal(t, []float64{4000 + 1 - 20}, metric(f, "UnknownServiceIds"))
}

// A managed service that does not require acceptance bypasses the
// approver: sweeps count it, and approverctl audit exits 2.
func TestAServiceThatBypassesTheApprover(t *testing.T) {
	const region = "ap-south-1"
	s := newScenarioIn(t, 0, region)
	open, err := moto.CreateServicesWith(ctx(t), region, 1, localaws.ServiceOptions{Open: true, Tags: map[string]string{"team": "network"}})
	require.NoError(t, err)
	closed, err := moto.CreateServicesWith(ctx(t), region, 1, localaws.ServiceOptions{Tags: map[string]string{"team": "network"}})
	require.NoError(t, err)
	s.services = []localaws.Service{closed[0], open[0]}
	s.policy(allowlist(10, "111122223333"))
	f := s.function("SERVICE_IDS=", "SERVICE_TAG=team=network")
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
	assert.Equal(t, []float64{1}, metric(f, "ServicesNotRequiringAcceptance"))
	warned := false
	for _, l := range f.Logs("managed services do not require acceptance: EC2 accepts every allowed principal without the approver") {
		warned = assert.Equal(t, []any{open[0].ID}, l["services"])
	}
	assert.True(t, warned, "a line names the service")
}

//go:build e2e

package e2e

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// approverctl audit lists every endpoint service of the account and
// Region: each test has a Region of its own.

// auditJSON is the part of approverctl audit's JSON the tests read.
type auditJSON struct {
	Services []struct {
		ServiceID          string   `json:"serviceId"`
		Managed            bool     `json:"managed"`
		Why                string   `json:"why"`
		AcceptanceRequired bool     `json:"acceptanceRequired"`
		AllowedPrincipals  []string `json:"allowedPrincipals"`
		AllowsAnyone       bool     `json:"allowsAnyone"`
		Problem            string   `json:"problem"`
	} `json:"services"`
	Drift []struct {
		ServiceID  string `json:"serviceId"`
		EndpointID string `json:"endpointId"`
		Owner      string `json:"owner"`
		Rule       string `json:"rule"`
		AcceptedBy string `json:"acceptedBy"`
	} `json:"drift"`
	Checked  int  `json:"checked"`
	ToFix    int  `json:"toFix"`
	Complete bool `json:"complete"`
}

func audit(t *testing.T, env []string, args ...string) (auditJSON, string, int) {
	t.Helper()
	out, stderr, code := runCtl(t, env, append([]string{"audit", "--output", "json"}, args...)...)
	var got auditJSON
	require.NoError(t, json.Unmarshal([]byte(out), &got), "%s%s", out, stderr)
	return got, out, code
}

func TestAuditManagedServiceWithoutAcceptance(t *testing.T) {
	const region = "us-west-2"
	s := newScenarioIn(t, 0, region)
	network := map[string]string{"team": "network"}
	tagged, err := moto.CreateServicesWith(ctx(t), region, 1, localaws.ServiceOptions{Tags: network})
	require.NoError(t, err)
	open, err := moto.CreateServicesWith(ctx(t), region, 1, localaws.ServiceOptions{Open: true, Tags: network})
	require.NoError(t, err)
	untagged, err := moto.CreateServicesWith(ctx(t), region, 1, localaws.ServiceOptions{Open: true})
	require.NoError(t, err)
	provider := ec2.NewFromConfig(moto.Config(localaws.ProviderAccount, region))
	_, err = provider.ModifyVpcEndpointServicePermissions(ctx(t), &ec2.ModifyVpcEndpointServicePermissionsInput{
		ServiceId: aws.String(open[0].ID), AddAllowedPrincipals: []string{"*"}})
	require.NoError(t, err)
	partner := "arn:aws:iam::" + allowed + ":root"
	_, err = provider.ModifyVpcEndpointServicePermissions(ctx(t), &ec2.ModifyVpcEndpointServicePermissionsInput{
		ServiceId: aws.String(tagged[0].ID), AddAllowedPrincipals: []string{partner}})
	require.NoError(t, err)
	s.policy(allowed)
	env := []string{"POLICY_PARAMETER=" + s.parameter, "SERVICE_IDS=", "SERVICE_TAG=team=network"}

	out, stderr, code := runCtl(t, env, "audit", "--region", region)
	assert.Equal(t, 2, code, "%s%s", out, stderr)
	for _, want := range []string{tagged[0].ID, "tagged team=network", partner, untagged[0].ID, "not tagged team=network",
		"* (anyone)", open[0].ID + ": managed, but does not require acceptance",
		"--service-id " + open[0].ID + " --acceptance-required", "To fix: 1 managed service(s) not requiring acceptance"} {
		assert.Contains(t, out, want)
	}

	got, out, code := audit(t, env, "--region", region)
	assert.Equal(t, 2, code, out)
	byID := map[string]int{}
	for i, svc := range got.Services {
		byID[svc.ServiceID] = i
	}
	require.Len(t, got.Services, 3, out)
	o := got.Services[byID[open[0].ID]]
	assert.True(t, o.Managed)
	assert.False(t, o.AcceptanceRequired)
	assert.True(t, o.AllowsAnyone)
	assert.NotEmpty(t, o.Problem)
	assert.Equal(t, []string{partner}, got.Services[byID[tagged[0].ID]].AllowedPrincipals)
	assert.False(t, got.Services[byID[untagged[0].ID]].Managed, "untagged, and open: not managed, nothing to fix")
	assert.Equal(t, 1, got.ToFix)
	assert.True(t, got.Complete)

	// Acceptance turned on: clean.
	_, err = provider.ModifyVpcEndpointServiceConfiguration(ctx(t), &ec2.ModifyVpcEndpointServiceConfigurationInput{
		ServiceId: aws.String(open[0].ID), AcceptanceRequired: aws.Bool(true)})
	require.NoError(t, err)
	out, stderr, code = runCtl(t, env, "audit", "--region", region)
	assert.Equal(t, 0, code, "%s%s", out, stderr)
	assert.Contains(t, out, "Clean: every managed service requires acceptance")
}

func TestAuditDrift(t *testing.T) {
	const region = "eu-central-1"
	s := newScenarioIn(t, 1, region)
	svc := s.svc()
	partnerEndpoint := s.endpoint(svc, allowed)
	strangerEndpoint := s.endpoint(svc, stranger)
	env := []string{"POLICY_PARAMETER=" + s.parameter, "SERVICE_IDS=" + svc.ID}

	// The policy accepts two; a person accepts a third.
	s.policy(allowed + "," + stranger)
	out, stderr, code := runCtl(t, env, "sweep", "--region", region, "--yes")
	require.Equal(t, 0, code, "%s%s", out, stderr)
	personEndpoint := s.endpoint(svc, euPartner)
	out, stderr, code = runCtl(t, env, "accept", "--region", region, "--service", svc.ID, "--reason", "NET-1: trial", personEndpoint, "--yes")
	require.Equal(t, 0, code, "%s%s", out, stderr)
	require.Equal(t, map[string]string{partnerEndpoint: "available", strangerEndpoint: "available", personEndpoint: "available"}, s.states(svc))

	got, out, code := audit(t, env, "--region", region)
	assert.Equal(t, 0, code, out)
	assert.Empty(t, got.Drift)
	assert.Equal(t, 3, got.Checked)

	// The stranger leaves the policy: its accepted connection is drift. The
	// person's accept, which only defaultAction rejects, is not.
	s.policy(allowed)
	out, stderr, code = runCtl(t, env, "audit", "--region", region)
	assert.Equal(t, 2, code, "%s%s", out, stderr)
	for _, want := range []string{"(drift):", strangerEndpoint, stranger, "no rule matched; defaultAction is reject",
		"To fix: 1 accepted connection(s) the policy now rejects (revoke is off"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, personEndpoint)

	// A reject rule naming the person's account: drift too.
	s.policy(`{"version": 1, "rules": [{"name": "partner", "action": "accept", "accounts": ["` + allowed + `"]},
	  {"name": "ended", "action": "reject", "accounts": ["` + euPartner + `"]}]}`)
	got, out, code = audit(t, env, "--region", region)
	assert.Equal(t, 2, code, out)
	drift := map[string]string{}
	for _, d := range got.Drift {
		drift[d.EndpointID] = d.Rule + "/" + d.AcceptedBy
	}
	assert.Equal(t, map[string]string{strangerEndpoint: "default/allowlist", personEndpoint: "ended/person"}, drift)
	assert.Equal(t, map[string]string{partnerEndpoint: "available", strangerEndpoint: "available", personEndpoint: "available"}, s.states(svc),
		"an audit changes nothing")

	// No policy: an error.
	_, stderr, code = runCtl(t, []string{"POLICY_PARAMETER=/e2e/none", "SERVICE_IDS=" + svc.ID}, "audit", "--region", region)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "/e2e/none")
}

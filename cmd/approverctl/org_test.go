package main

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/membership"
)

const (
	orgRole  = "arn:aws:iam::999988887777:role/org-reader"
	pathIn   = "o-abc1234567/r-ab12/ou-ab12-11111111/ou-ab12-22222222"
	inOU     = "111111111111" // r-ab12 -> ou-ab12-11111111 -> ou-ab12-22222222 -> it
	outsider = "333333333333"
)

// fakeOrgs is an organization, and the roles its clients were made for.
type fakeOrgs struct {
	mu      sync.Mutex
	parents map[string]string
	deny    bool
	roles   []string
	calls   int
}

func newOrgs() *fakeOrgs {
	return &fakeOrgs{parents: map[string]string{inOU: "ou-ab12-22222222", "ou-ab12-22222222": "ou-ab12-11111111", "ou-ab12-11111111": "r-ab12"}}
}

func (f *fakeOrgs) as(role string) membership.OrganizationsAPI {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roles = append(f.roles, role)
	return f
}

func (f *fakeOrgs) ListParents(_ context.Context, in *organizations.ListParentsInput, _ ...func(*organizations.Options)) (*organizations.ListParentsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.deny {
		return nil, &orgtypes.AccessDeniedException{Message: aws.String("not the management account")}
	}
	p, ok := f.parents[aws.ToString(in.ChildId)]
	if !ok {
		return nil, &orgtypes.AccountNotFoundException{Message: aws.String("not found")}
	}
	typ := orgtypes.ParentTypeOrganizationalUnit
	if p == "r-ab12" {
		typ = orgtypes.ParentTypeRoot
	}
	return &organizations.ListParentsOutput{Parents: []orgtypes.Parent{{Id: aws.String(p), Type: typ}}}, nil
}

func (f *fakeOrgs) DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return &organizations.DescribeOrganizationOutput{Organization: &orgtypes.Organization{Id: aws.String("o-abc1234567")}}, nil
}

func (f *fakeOrgs) DescribeOrganizationalUnit(_ context.Context, in *organizations.DescribeOrganizationalUnitInput, _ ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.deny {
		return nil, &orgtypes.AccessDeniedException{Message: aws.String("not the management account")}
	}
	if _, ok := f.parents[aws.ToString(in.OrganizationalUnitId)]; !ok {
		return nil, &orgtypes.OrganizationalUnitNotFoundException{Message: aws.String("no such OU")}
	}
	return &organizations.DescribeOrganizationalUnitOutput{OrganizationalUnit: &orgtypes.OrganizationalUnit{Id: in.OrganizationalUnitId}}, nil
}

// validate --role and explain check the organizations and OUs a policy
// names, as the function does.
func TestPolicyReferencesChecked(t *testing.T) {
	const foreign = `{"version": 1, "rules": [
	  {"name": "block-competitor", "action": "reject", "organizations": ["o-competitor1"]},
	  {"name": "partners", "action": "accept", "organizationalUnits": ["ou-ab12-11111111", "ou-zz99-99999999"]}]}`
	const valid = `{"version": 1, "rules": [{"name": "partners", "action": "accept", "organizationalUnits": ["ou-ab12-11111111"]}]}`
	w := newWorld()
	bad, good := file(t, foreign), file(t, valid)

	out, _, code := w.run(t, "policy", "validate", bad)
	assert.Equal(t, 0, code, "without --role: offline, the IDs are well formed")
	assert.Contains(t, out, "valid")

	out, _, code = w.run(t, "-o", "json", "policy", "validate", bad, "--role", orgRole)
	assert.Equal(t, 1, code)
	var got struct {
		Valid    bool
		Problems []struct{ Path, Message, Severity string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.False(t, got.Valid)
	require.Len(t, got.Problems, 2)
	assert.Equal(t, "rules[0].organizations[0]", got.Problems[0].Path, "located at the ID")
	assert.Contains(t, got.Problems[0].Message, "rule block-competitor names o-competitor1, not the organization o-abc1234567")
	assert.Equal(t, "rules[1].organizationalUnits[1]", got.Problems[1].Path)
	assert.Contains(t, got.Problems[1].Message, "rule partners names ou-zz99-99999999, not an OU of the organization")
	assert.Equal(t, "error", got.Problems[1].Severity)

	_, _, code = w.run(t, "policy", "validate", good, "--role", orgRole)
	assert.Equal(t, 0, code)

	_, stderr, code := w.run(t, "policy", "explain", bad, "--account", inOU, "--service", svc)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "would decide nothing")
	assert.Contains(t, stderr, "o-competitor1")

	w.orgs.deny = true
	_, stderr, code = w.run(t, "policy", "validate", good, "--role", orgRole)
	assert.Equal(t, 1, code, "could not check: an error")
	assert.Contains(t, stderr, "give --role or set ORGANIZATION_ROLE_ARN")
}

func TestOrg(t *testing.T) {
	w := newWorld()
	out, _, code := w.run(t, "org", inOU)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "ORG PATH")
	assert.Contains(t, out, pathIn)
	assert.Equal(t, []string{""}, w.orgs.roles, "without --role nor ORGANIZATION_ROLE_ARN: your own credentials")

	w.vars["ORGANIZATION_ROLE_ARN"] = orgRole
	out, _, code = w.run(t, "org", outsider, "-o", "json")
	assert.Equal(t, 0, code)
	var got struct {
		Member  bool
		OrgPath string
		OUs     []string `json:"organizationalUnits"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.False(t, got.Member)
	assert.Empty(t, got.OrgPath)
	assert.Equal(t, []string{}, got.OUs)
	assert.Equal(t, orgRole, w.orgs.roles[1], "ORGANIZATION_ROLE_ARN, as the function does")

	_, _, code = w.run(t, "org", inOU, "--role", "arn:aws:iam::999988887777:role/other")
	assert.Equal(t, 0, code)
	assert.Equal(t, "arn:aws:iam::999988887777:role/other", w.orgs.roles[2], "--role first")

	w.orgs.deny = true
	_, stderr, code := w.run(t, "org", inOU)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "AccessDenied")
	assert.Contains(t, stderr, "give --role or set ORGANIZATION_ROLE_ARN")

	for _, args := range [][]string{{"org", "1234"}, {"org", inOU, "--role", "org-reader"}} {
		_, stderr, code = w.run(t, args...)
		assert.Equal(t, 1, code, args)
		assert.NotEmpty(t, stderr, args)
	}
}

func TestExplainByOrganization(t *testing.T) {
	const byOU = `{"version": 1, "rules": [
	  {"name": "partners", "action": "accept", "organizationalUnits": ["ou-ab12-11111111"]},
	  {"name": "blocked", "action": "reject", "accounts": ["444444444444"]}]}`
	w := newWorld()
	pol := file(t, byOU)

	out, _, code := w.run(t, "policy", "explain", pol, "--account", inOU, "--service", svc)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "matched accept rule partners through ou-ab12-11111111")
	assert.Contains(t, out, "account "+inOU+": "+pathIn)

	calls := w.orgs.calls
	out, _, code = w.run(t, "-o", "json", "policy", "explain", pol, "--account", inOU, "--service", svc, "--org-path", "o-abc1234567/r-ab12")
	assert.Equal(t, 0, code)
	var e struct{ Action, Rule, OrgPath string }
	require.NoError(t, json.Unmarshal([]byte(out), &e))
	assert.Equal(t, "reject", e.Action, "offline: under the root, not in the OU")
	assert.Equal(t, "o-abc1234567/r-ab12", e.OrgPath)
	assert.Equal(t, calls, w.orgs.calls, "--org-path: no lookup")

	out, _, code = w.run(t, "policy", "explain", pol, "--account", inOU, "--service", svc, "--org-path", "")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "not in the organization")

	_, _, code = w.run(t, "policy", "explain", pol, "--account", "444444444444", "--service", svc)
	assert.Equal(t, 0, code)
	assert.Equal(t, calls, w.orgs.calls, "a reject rule naming the account needs no lookup")

	_, stderr, code := w.run(t, "policy", "explain", pol, "--account", inOU, "--service", svc, "--org-path", "ou-ab12-11111111")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "--org-path")

	w.orgs.deny = true
	_, stderr, code = w.run(t, "policy", "explain", pol, "--account", inOU, "--service", svc)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "or explain offline with --org-path")
}

func TestPendingShowsOrgPaths(t *testing.T) {
	w := newWorld()
	w.vars["POLICY_PARAMETER"] = "/pl/policy"
	w.ssm.put("/pl/policy", `{"version": 1, "rules": [{"name": "partners", "action": "accept", "organizationalUnits": ["ou-ab12-11111111"]}]}`)
	w.ec2.Add(svc, "vpce-0000000000000000a", inOU, "pendingAcceptance", "")
	w.ec2.Add(svc, "vpce-0000000000000000b", outsider, "pendingAcceptance", "")
	out, _, code := w.run(t, "pending")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "ORG PATH")
	assert.Contains(t, out, pathIn)

	w.orgs.deny = true
	out, stderr, code := w.run(t, "pending", "-o", "json")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "2 request(s) undecided")
	var p struct {
		Pending []struct{ WouldDecide, Reason string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &p))
	require.Len(t, p.Pending, 2)
	assert.Equal(t, "undecided", p.Pending[0].WouldDecide)
	assert.Contains(t, p.Pending[0].Reason, "AccessDeniedException")
	assert.Equal(t, "pendingAcceptance", w.ec2.State("vpce-0000000000000000a"))
}

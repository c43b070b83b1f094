package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
)

const (
	openSvc  = "vpce-svc-0bbbbbbbbbbbbbbbb"
	otherSvc = "vpce-svc-0cccccccccccccccc"
	partner  = "arn:aws:iam::111111111111:root"
)

// withPrincipals is the world's EC2 with allowed principals by service;
// failing services fail the call.
type withPrincipals struct {
	*approvertest.EC2
	allowed map[string][]string
	failing map[string]bool
}

func (f withPrincipals) DescribeVpcEndpointServicePermissions(ctx context.Context, in *ec2.DescribeVpcEndpointServicePermissionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServicePermissionsOutput, error) {
	svc := aws.ToString(in.ServiceId)
	if f.failing[svc] {
		return nil, &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "not allowed"}
	}
	if _, err := f.EC2.DescribeVpcEndpointServicePermissions(ctx, in, optFns...); err != nil {
		return nil, err
	}
	out := &ec2.DescribeVpcEndpointServicePermissionsOutput{}
	for _, p := range f.allowed[svc] {
		out.AllowedPrincipals = append(out.AllowedPrincipals, types.AllowedPrincipal{Principal: aws.String(p), ServiceId: in.ServiceId})
	}
	return out, nil
}

// audit runs approverctl in the world as run does, with the services'
// allowed principals.
func (w *world) audit(t *testing.T, ec2 withPrincipals, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ec2.EC2 = w.ec2
	w.api = ec2
	defer func() { w.api = nil }()
	return w.run(t, append([]string{"audit"}, args...)...)
}

// auditWorld has three services: svc (tagged team=network, requires
// acceptance, a partner allowed), openSvc (tagged, no acceptance, anyone
// allowed) and otherSvc (another team's); the policy accepts 111111111111.
func auditWorld() (*world, withPrincipals) {
	w := newWorld()
	w.ec2.Owned = []string{svc, openSvc, otherSvc}
	w.ec2.Open[openSvc] = true
	w.ec2.ServiceTags[svc] = map[string]string{"team": "network"}
	w.ec2.ServiceTags[openSvc] = map[string]string{"team": "network"}
	w.ec2.ServiceTags[otherSvc] = map[string]string{"team": "data"}
	w.vars["POLICY_PARAMETER"] = "/pl/policy"
	w.ssm.put("/pl/policy", `{"version": 1, "revoke": true, "rules": [{"name": "partners", "action": "accept", "accounts": ["111111111111"]}]}`)
	w.ec2.Add(svc, "vpce-0000000000000000a", "111111111111", "available", "")
	w.ec2.Add(svc, "vpce-0000000000000000b", "333333333333", "pendingAcceptance", "") // a request: not audited
	w.ec2.Add(otherSvc, "vpce-0000000000000000c", "333333333333", "available", "")    // not managed by tag: not audited
	return w, withPrincipals{allowed: map[string][]string{svc: {partner}, openSvc: {"*"}}}
}

func TestAuditExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		setup    func(w *world, p *withPrincipals)
		wantCode int
		want     []string // in stdout
		wantErr  string   // in stderr
	}{
		{"clean: every managed service requires acceptance, no drift", map[string]string{"SERVICE_IDS": svc}, nil, 0,
			[]string{"SERVICE", "MANAGED", "ALLOWED PRINCIPALS", svc, "listed in SERVICE_IDS", "required", partner,
				openSvc, "not in SERVICE_IDS", "* (anyone)", "Clean: every managed service requires acceptance",
				"3 endpoint service(s), 1 managed; 1 accepted connection(s) of the managed services checked against policy /pl/policy version 1."}, ""},
		{"by tag: a managed service not requiring acceptance", map[string]string{"SERVICE_TAG": "team=network"}, nil, 2,
			[]string{"tagged team=network", "not tagged team=network", "Services to fix:",
				openSvc + ": managed, but does not require acceptance", "and every AWS principal is allowed",
				"aws ec2 modify-vpc-endpoint-service-configuration --region us-east-1 --service-id " + openSvc + " --acceptance-required",
				"To fix: 1 managed service(s) not requiring acceptance"}, ""},
		{"by acceptance: the open service is not managed, so clean", nil, func(w *world, _ *withPrincipals) {
			delete(w.ec2.Conns, "vpce-0000000000000000c") // otherSvc requires acceptance: managed
		}, 0,
			[]string{"requires acceptance", "does not require acceptance: not managed", "Clean:", "3 endpoint service(s), 2 managed"}, ""},
		{"drift: an accepted connection the policy now rejects", map[string]string{"SERVICE_IDS": svc + "," + otherSvc}, func(w *world, _ *withPrincipals) {
			w.ec2.Add(svc, "vpce-0000000000000000d", "444444444444", "available", "")
			w.ec2.Add(svc, "vpce-0000000000000000e", "555555555555", "available", "")
			w.ec2.Tags[approvertest.ConnectionID("vpce-0000000000000000e")] = map[string]string{
				approver.TagDecision: approver.ResultAccepted, approver.TagRule: approver.PersonRule}
		}, 2, []string{"Accepted connections the policy now rejects (drift):", "ENDPOINT", "ACCEPTED BY",
			"vpce-0000000000000000d", "444444444444", "no rule matched; defaultAction is reject",
			"vpce-0000000000000000c", "To fix: 2 accepted connection(s) the policy now rejects (the next sweep revokes them)"}, ""},
		{"a SERVICE_IDS entry the account does not own", map[string]string{"SERVICE_IDS": svc + ",vpce-svc-0ffffffffffffffff"}, nil, 2,
			[]string{"vpce-svc-0ffffffffffffffff: listed in SERVICE_IDS, but not an endpoint service of this account in us-east-1",
				"remove it from SERVICE_IDS", "1 service(s) in SERVICE_IDS not found"}, ""},
		{"principals not read: not complete", map[string]string{"SERVICE_IDS": svc}, func(_ *world, p *withPrincipals) {
			p.failing = map[string]bool{otherSvc: true}
		}, 1, []string{"? (not read)", "Not checked:", "UnauthorizedOperation", "Not complete: 1 service(s) whose allowed principals could not be read"},
			"the audit is not complete"},
		{"an account not looked up: unknown, exit 1", map[string]string{"SERVICE_IDS": svc}, func(w *world, _ *withPrincipals) {
			w.ssm.put("/pl/policy", `{"version": 1, "rules": [{"name": "partners", "action": "accept", "accounts": ["111111111111"]},
			  {"name": "no-partner-ou", "action": "reject", "organizationalUnits": ["ou-ab12-11111111"]}]}`)
			w.orgs.deny = true
		}, 1, []string{"(unknown):", "vpce-0000000000000000a", "no-partner-ou", "AccessDenied", "Not complete: 1 connection(s) unknown"},
			"the audit is not complete"},
		{"unknown and drift: exit 2", map[string]string{"SERVICE_IDS": svc}, func(w *world, _ *withPrincipals) {
			w.ssm.put("/pl/policy", `{"version": 1, "rules": [{"name": "partners", "action": "accept", "accounts": ["111111111111"]},
			  {"name": "no-partner-ou", "action": "reject", "organizationalUnits": ["ou-ab12-11111111"]}]}`)
			w.orgs.deny = true
			// Rejected whatever its place: by defaultAction, or by the OU's rule.
			w.ec2.Add(svc, "vpce-0000000000000000d", "444444444444", "available", "")
		}, 2, []string{"(drift):", "(unknown):", "To fix: 1 accepted connection(s) the policy now rejects (revoke is off: reject them with approverctl reject",
			"Not complete: 1 connection(s) unknown"}, ""},
		{"no policy: an error", map[string]string{"SERVICE_IDS": svc, "POLICY_PARAMETER": "/pl/none"}, nil, 1, nil, "/pl/none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, p := auditWorld()
			for k, v := range tt.env {
				w.vars[k] = v
			}
			if tt.setup != nil {
				tt.setup(w, &p)
			}
			out, stderr, code := w.audit(t, p)
			assert.Equal(t, tt.wantCode, code, "%s%s", out, stderr)
			for _, want := range tt.want {
				assert.Contains(t, out, want)
			}
			if tt.wantErr != "" {
				assert.Contains(t, stderr, tt.wantErr)
			}
			assert.Empty(t, w.ec2.Accepted, "an audit changes nothing")
			assert.Empty(t, w.ec2.Rejected)
			assert.Empty(t, w.ec2.TagCalls)
			assert.Empty(t, w.ssm.puts)
		})
	}
}

func TestAuditJSON(t *testing.T) {
	w, p := auditWorld()
	w.vars["SERVICE_TAG"] = "team=network"
	w.ec2.Add(openSvc, "vpce-0000000000000000d", "444444444444", "available", "")
	out, stderr, code := w.audit(t, p, "-o", "json")
	require.Equal(t, 2, code, stderr)
	var got struct {
		Region          string `json:"region"`
		PolicyParameter string `json:"policyParameter"`
		PolicyVersion   string `json:"policyVersion"`
		Revoke          bool   `json:"revoke"`
		Checked         int    `json:"checked"`
		ToFix           int    `json:"toFix"`
		Complete        bool   `json:"complete"`
		Summary         string `json:"summary"`
		Services        []struct {
			ServiceID          string   `json:"serviceId"`
			Managed            bool     `json:"managed"`
			Why                string   `json:"why"`
			Found              bool     `json:"found"`
			AcceptanceRequired bool     `json:"acceptanceRequired"`
			AllowedPrincipals  []string `json:"allowedPrincipals"`
			AllowsAnyone       bool     `json:"allowsAnyone"`
			Problem            string   `json:"problem"`
		} `json:"services"`
		Drift []struct {
			ServiceID, EndpointID, ConnectionID, Owner, Region, State, Rule, Reason string
		} `json:"drift"`
		Unknown   []json.RawMessage `json:"unknown"`
		Unchecked []json.RawMessage `json:"unchecked"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Equal(t, "us-east-1", got.Region)
	assert.Equal(t, "/pl/policy", got.PolicyParameter)
	assert.Equal(t, "1", got.PolicyVersion)
	assert.True(t, got.Revoke)
	assert.Equal(t, 2, got.Checked)
	assert.Equal(t, 2, got.ToFix, "the open managed service and one drift")
	assert.True(t, got.Complete)
	assert.Contains(t, got.Summary, "To fix: 1 managed service(s) not requiring acceptance")
	require.Len(t, got.Services, 3)
	assert.Equal(t, svc, got.Services[0].ServiceID)
	assert.True(t, got.Services[0].Managed)
	assert.Equal(t, []string{partner}, got.Services[0].AllowedPrincipals)
	assert.False(t, got.Services[0].AllowsAnyone)
	assert.Empty(t, got.Services[0].Problem)
	assert.Equal(t, openSvc, got.Services[1].ServiceID)
	assert.False(t, got.Services[1].AcceptanceRequired)
	assert.True(t, got.Services[1].AllowsAnyone)
	assert.Equal(t, []string{"*"}, got.Services[1].AllowedPrincipals)
	assert.NotEmpty(t, got.Services[1].Problem)
	assert.Equal(t, "not tagged team=network", got.Services[2].Why)
	assert.Equal(t, []string{}, got.Services[2].AllowedPrincipals, "none: [] not null")
	require.Len(t, got.Drift, 1)
	assert.Equal(t, openSvc, got.Drift[0].ServiceID)
	assert.Equal(t, "vpce-0000000000000000d", got.Drift[0].EndpointID)
	assert.Equal(t, approvertest.ConnectionID("vpce-0000000000000000d"), got.Drift[0].ConnectionID)
	assert.Equal(t, "default", got.Drift[0].Rule)
	assert.Equal(t, "available", got.Drift[0].State)
	assert.NotNil(t, got.Unknown, "[] not null")
	assert.NotNil(t, got.Unchecked)

	// A clean audit: exit 0 with the same shape.
	w.vars["SERVICE_TAG"] = ""
	out, _, code = w.audit(t, p, "--output", "json", "--service", svc)
	assert.Equal(t, 0, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	assert.Zero(t, got.ToFix)
	assert.True(t, got.Complete)
	assert.Contains(t, got.Summary, "Clean:")
}

func TestAuditHelp(t *testing.T) {
	out, _, code := newWorld().run(t, "audit", "--help")
	assert.Equal(t, 0, code)
	for _, want := range []string{"Usage:", "--parameter", "--service", "--role", "Exit status: 2"} {
		assert.Contains(t, out, want)
	}
}

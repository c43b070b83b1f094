package approver_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

var _ approver.PrincipalLister = (*vpcendpoints.Client)(nil)

// principalsFunc fakes the allowed principals of services.
type principalsFunc func(svc string) ([]string, error)

func (f principalsFunc) AllowedPrincipals(_ context.Context, svc string) ([]string, error) {
	return f(svc)
}

// stamp marks endpoint id's connection as accepted by rule (PersonRule for
// a person's accept).
func stamp(f *approvertest.EC2, id, rule string) {
	f.Tags[approvertest.ConnectionID(id)] = map[string]string{approver.TagDecision: approver.ResultAccepted, approver.TagRule: rule}
}

func TestManaged(t *testing.T) {
	config := func(svc string, acceptance bool, tags ...string) types.ServiceConfiguration {
		c := types.ServiceConfiguration{ServiceId: aws.String(svc), AcceptanceRequired: aws.Bool(acceptance)}
		for i := 0; i+1 < len(tags); i += 2 {
			c.Tags = append(c.Tags, types.Tag{Key: aws.String(tags[i]), Value: aws.String(tags[i+1])})
		}
		return c
	}
	team := &awsid.TagFilter{Key: "team", Value: "network"}
	anyTeam := &awsid.TagFilter{Key: "team", AnyValue: true}
	tests := []struct {
		name        string
		cfg         approver.Config
		service     types.ServiceConfiguration
		wantManaged bool
		wantWhy     string
	}{
		{"listed", approver.Config{ServiceIDs: []string{svcB, svcA}}, config(svcA, false), true, "listed in SERVICE_IDS"},
		{"not listed, though it requires acceptance and is tagged", approver.Config{ServiceIDs: []string{svcB}, ServiceTag: team},
			config(svcA, true, "team", "network"), false, "not in SERVICE_IDS"},
		{"tagged, acceptance off", approver.Config{ServiceTag: team}, config(svcA, false, "team", "network"), true, "tagged team=network"},
		{"another value", approver.Config{ServiceTag: team}, config(svcA, true, "team", "data"), false, "not tagged team=network"},
		{"a key alone: any value", approver.Config{ServiceTag: anyTeam}, config(svcA, true, "team", "data"), true, "tagged team"},
		{"untagged", approver.Config{ServiceTag: anyTeam}, config(svcA, true), false, "not tagged team"},
		{"requires acceptance", approver.Config{}, config(svcA, true), true, "requires acceptance"},
		{"does not require acceptance", approver.Config{}, config(svcA, false), false, "does not require acceptance: not managed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			managed, why := approver.New(nil, nil, tt.cfg).Managed(tt.service)
			assert.Equal(t, tt.wantManaged, managed)
			assert.Equal(t, tt.wantWhy, why)
		})
	}
}

func TestAuditServices(t *testing.T) {
	const svcC, svcD = "vpce-svc-0cccccccccccccccc", "vpce-svc-0dddddddddddddddd"
	partner := "arn:aws:iam::111111111111:root"
	allowed := principalsFunc(func(svc string) ([]string, error) {
		switch svc {
		case svcA:
			return []string{partner}, nil
		case svcB:
			return []string{vpcendpoints.AnyPrincipal}, nil
		case svcC:
			return nil, &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "no"}
		}
		return []string{}, nil
	})
	type service struct {
		managed, found, acceptance, anyone bool
		why, problem, principalsError      string
	}
	tests := []struct {
		name string
		cfg  approver.Config
		want map[string]service
		// wantFindings counts the services to fix.
		wantFindings int
	}{
		{"by acceptance: the open ones are not managed", approver.Config{}, map[string]service{
			svcA: {managed: true, found: true, acceptance: true, why: "requires acceptance"},
			svcB: {found: true, anyone: true, why: "does not require acceptance: not managed"},
			svcC: {managed: true, found: true, acceptance: true, why: "requires acceptance", principalsError: "UnauthorizedOperation"},
		}, 0},
		{"by tag: a managed service that accepts anyone at once", approver.Config{ServiceTag: &awsid.TagFilter{Key: "team", Value: "network"}}, map[string]service{
			svcA: {managed: true, found: true, acceptance: true, why: "tagged team=network"},
			svcB: {managed: true, found: true, anyone: true, why: "tagged team=network",
				problem: "managed, but does not require acceptance: EC2 accepts every request from an allowed principal at once, before the policy decides, and every AWS principal is allowed"},
			svcC: {found: true, acceptance: true, why: "not tagged team=network", principalsError: "UnauthorizedOperation"},
		}, 1},
		{"by ID: one listed that is not the account's", approver.Config{ServiceIDs: []string{svcA, svcD}}, map[string]service{
			svcA: {managed: true, found: true, acceptance: true, why: "listed in SERVICE_IDS"},
			svcB: {found: true, anyone: true, why: "not in SERVICE_IDS"},
			svcC: {found: true, acceptance: true, why: "not in SERVICE_IDS", principalsError: "UnauthorizedOperation"},
			svcD: {managed: true, why: "listed in SERVICE_IDS", problem: "listed in SERVICE_IDS, but not an endpoint service of this account in eu-west-1"},
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA, svcB, svcC)
			f.Open[svcB] = true
			f.ServiceTags[svcA] = map[string]string{"team": "network"}
			f.ServiceTags[svcB] = map[string]string{"team": "network"}
			f.ServiceTags[svcC] = map[string]string{"team": "data"}
			cfg := tt.cfg
			cfg.Region = "eu-west-1"
			au, err := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), cfg).Audit(context.Background(), allowed)
			require.NoError(t, err)
			got := map[string]service{}
			var order []string
			for _, s := range au.Services {
				order = append(order, s.ServiceID)
				g := service{managed: s.Managed, found: s.Found, acceptance: s.AcceptanceRequired, anyone: s.AllowsAnyone, why: s.Why, problem: s.Problem}
				if s.PrincipalsError != "" {
					g.principalsError = "UnauthorizedOperation"
					assert.Contains(t, s.PrincipalsError, "UnauthorizedOperation")
				}
				got[s.ServiceID] = g
			}
			assert.Equal(t, tt.want, got)
			assert.IsIncreasing(t, order, "by ID")
			assert.Equal(t, tt.wantFindings, au.Findings())
			assert.False(t, au.Complete(), "svcC's principals were not read")
			assert.Equal(t, "/test/policy", au.PolicyParameter)
			assert.Equal(t, "7", au.PolicyVersion)
			assert.Empty(t, f.Accepted, "an audit changes nothing")
			assert.Empty(t, f.Rejected)
			assert.Empty(t, f.TagCalls)
		})
	}
}

func TestAuditDrift(t *testing.T) {
	// a: accepted by the partners rule; b and d: a person's accepts; c:
	// accepted in the console (no stamp); e: a request, never audited.
	setup := func() *approvertest.EC2 {
		f := approvertest.NewEC2(svcA)
		f.Add(svcA, "vpce-0000000000000000a", "111111111111", "available", "")
		f.Add(svcA, "vpce-0000000000000000b", "222222222222", "available", "")
		f.Add(svcA, "vpce-0000000000000000c", "333333333333", "pending", "")
		f.Add(svcA, "vpce-0000000000000000d", "444444444444", "available", "")
		f.Add(svcA, "vpce-0000000000000000e", "555555555555", "pendingAcceptance", "")
		f.Add(svcA, "vpce-0000000000000000f", "555555555555", "rejected", "")
		stamp(f, "vpce-0000000000000000a", "partners")
		stamp(f, "vpce-0000000000000000b", approver.PersonRule)
		stamp(f, "vpce-0000000000000000d", approver.PersonRule)
		return f
	}
	type drift struct{ rule, reason, acceptedBy string }
	tests := []struct {
		name   string
		policy string
		want   map[string]drift
	}{
		{"the policy keeps every accepted connection", "111111111111,222222222222,333333333333,444444444444", map[string]drift{}},
		{"defaultAction rejects what no rule accepts, but not a person's accept", "111111111111", map[string]drift{
			"vpce-0000000000000000c": {"default", "no rule matched; defaultAction is reject", ""},
		}},
		{"the same when the policy revokes", `{"version": 1, "revoke": true, "rules": [{"name": "partners", "action": "accept", "accounts": ["111111111111"]}]}`,
			map[string]drift{"vpce-0000000000000000c": {"default", "no rule matched; defaultAction is reject", ""}}},
		{"a reject rule wins over a person's accept and an accept rule", `{"version": 1, "rules": [
			{"name": "partners", "action": "accept", "accounts": ["111111111111", "222222222222", "333333333333", "444444444444"]},
			{"name": "gone", "action": "reject", "accounts": ["111111111111", "222222222222"]}]}`, map[string]drift{
			"vpce-0000000000000000a": {"gone", "matched reject rule gone (a reject rule wins over any accept rule)", "partners"},
			"vpce-0000000000000000b": {"gone", "matched reject rule gone (a reject rule wins over any accept rule) (over a person's accept: a reject rule wins)", approver.PersonRule},
		}},
		{"manual never drifts", `{"version": 1, "defaultAction": "manual", "rules": []}`, map[string]drift{}},
		{"a rule for another service", `{"version": 1, "rules": [{"name": "elsewhere", "action": "accept", "accounts": ["111111111111"], "services": ["vpce-svc-0bbbbbbbbbbbbbbbb"]}]}`,
			map[string]drift{
				"vpce-0000000000000000a": {"default", "no rule matched; defaultAction is reject", "partners"},
				"vpce-0000000000000000c": {"default", "no rule matched; defaultAction is reject", ""},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup()
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, tt.policy), approver.Config{ServiceIDs: []string{svcA}, Region: "us-east-1"})
			au, err := a.Audit(context.Background(), nil)
			require.NoError(t, err)
			got := map[string]drift{}
			for _, d := range au.Drift {
				got[d.EndpointID] = drift{d.Rule, d.Reason, d.AcceptedBy}
				assert.Equal(t, svcA, d.ServiceID)
				assert.Equal(t, approvertest.ConnectionID(d.EndpointID), d.ConnectionID)
				assert.Equal(t, "us-east-1", d.Region)
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, len(tt.want), au.Findings())
			assert.Equal(t, 4, au.Checked, "the accepted connections (pending and available), not the request nor the rejected one")
			assert.Empty(t, au.Unknown)
			assert.True(t, au.Complete())
			assert.Empty(t, f.Accepted, "an audit changes nothing")
			assert.Empty(t, f.Rejected)
			assert.Empty(t, f.TagCalls)
		})
	}
}

func TestAuditDriftByOrganization(t *testing.T) {
	const (
		inOU     = "111111111111" // under ou-ab12-11111111
		outside  = "333333333333" // under the root only
		failing1 = "555555555555"
		failing2 = "666666666666"
	)
	type entry struct{ rule, errorCode, orgPath string }
	partnerPath := "o-abc1234567/r-ab12/ou-ab12-11111111/ou-ab12-22222222"
	rootPath := "o-abc1234567/r-ab12"
	tests := []struct {
		name        string
		policy      string
		people      []string // endpoints with a person's accept
		wantDrift   map[string]entry
		wantUnknown map[string]entry
	}{
		{"a reject rule by OU: drift inside, unknown where the lookup failed, a person's accept too", `{"version": 1, "rules": [
			{"name": "everyone", "action": "accept", "accounts": ["*"]},
			{"name": "no-partners", "action": "reject", "organizationalUnits": ["ou-ab12-11111111"]}]}`,
			[]string{"vpce-0000000000000000d"},
			map[string]entry{"vpce-0000000000000000a": {"no-partners", "", partnerPath}},
			map[string]entry{"vpce-0000000000000000c": {"no-partners", "TooManyRequestsException", ""}, "vpce-0000000000000000d": {"no-partners", "AccessDeniedException", ""}}},
		{"an accept rule by OU: defaultAction rejects outside; a person's accept stands whatever the lookup", `{"version": 1, "rules": [
			{"name": "partners", "action": "accept", "organizationalUnits": ["ou-ab12-11111111"]}]}`,
			[]string{"vpce-0000000000000000d"},
			map[string]entry{"vpce-0000000000000000b": {"default", "", rootPath}},
			map[string]entry{"vpce-0000000000000000c": {"partners", "TooManyRequestsException", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA)
			f.Add(svcA, "vpce-0000000000000000a", inOU, "available", "")
			f.Add(svcA, "vpce-0000000000000000b", outside, "available", "")
			f.Add(svcA, "vpce-0000000000000000c", failing1, "available", "")
			f.Add(svcA, "vpce-0000000000000000d", failing2, "available", "")
			f.Add(svcA, "vpce-0000000000000000e", "777777777777", "pendingAcceptance", "")
			for _, id := range tt.people {
				stamp(f, id, approver.PersonRule)
			}
			orgs := newMemberships()
			orgs.failing[failing1] = "TooManyRequestsException"
			orgs.failing[failing2] = "AccessDeniedException"
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, tt.policy), approver.Config{ServiceIDs: []string{svcA}, Membership: orgs})
			au, err := a.Audit(context.Background(), nil)
			require.NoError(t, err)
			entries := func(list []approver.ConnectionAudit) map[string]entry {
				out := map[string]entry{}
				for _, c := range list {
					out[c.EndpointID] = entry{c.Rule, c.ErrorCode, c.OrgPath}
				}
				return out
			}
			assert.Equal(t, tt.wantDrift, entries(au.Drift))
			assert.Equal(t, tt.wantUnknown, entries(au.Unknown))
			for _, c := range au.Unknown {
				assert.NotEmpty(t, c.Detail)
				assert.NotContains(t, c.Reason, "revoked")
			}
			assert.False(t, au.Complete())
			require.Len(t, orgs.asked, 1, "one lookup")
			assert.NotContains(t, orgs.asked[0], "777777777777", "a request's account is not looked up")
		})
	}
}

func TestAuditUncheckedAndFailures(t *testing.T) {
	t.Run("an unreadable service and a held part are unchecked, not clean", func(t *testing.T) {
		f := approvertest.NewEC2(svcA, svcB)
		f.Add(svcA, "vpce-0000000000000000a", "333333333333", "available", "")
		f.Add(svcB, "vpce-0000000000000000b", "333333333333", "available", "")
		f.FailDescribe[svcB] = &smithy.GenericAPIError{Code: "RequestLimitExceeded"}
		a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: []string{svcA, svcB}})
		au, err := a.Audit(context.Background(), nil)
		require.NoError(t, err)
		// Listed services are read together: one failed call leaves both
		// unread, and nothing is guessed of them.
		assert.Empty(t, au.Drift)
		require.Len(t, au.Unchecked, 2)
		assert.Equal(t, svcB, au.Unchecked[1].ServiceID)
		assert.Contains(t, au.Unchecked[1].Reason, "RequestLimitExceeded")
		assert.Zero(t, au.Checked)
		assert.False(t, au.Complete())

		held := composed(t, `{"version": 1, "delegate": [{"part": "team", "services": ["`+svcA+`"]}], "rules": []}`, nil) // the part is missing
		a = approver.New(vpcendpoints.New(f), held, approver.Config{ServiceIDs: []string{svcA}})
		au, err = a.Audit(context.Background(), nil)
		require.NoError(t, err)
		assert.Empty(t, au.Drift, "nothing is decided on a held service")
		require.Len(t, au.Unchecked, 1)
		assert.Equal(t, svcA, au.Unchecked[0].ServiceID)
		assert.NotEmpty(t, au.Parts)
	})
	t.Run("no policy: an error", func(t *testing.T) {
		f := approvertest.NewEC2(svcA)
		noPolicy := loaderFunc(func(context.Context, bool) (*policy.Loaded, error) {
			return nil, errors.Join(policy.ErrNoPolicy, errors.New("/test/policy not found"))
		})
		_, err := approver.New(vpcendpoints.New(f), noPolicy, approver.Config{}).Audit(context.Background(), nil)
		require.ErrorIs(t, err, policy.ErrNoPolicy)
	})
	t.Run("the services cannot be listed: an error", func(t *testing.T) {
		f := approvertest.NewEC2(svcA)
		f.FailCall["DescribeServices"] = &smithy.GenericAPIError{Code: "UnauthorizedOperation"}
		_, err := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{}).Audit(context.Background(), nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "list the account's endpoint services")
	})
	t.Run("a service not managed: its connections are not read", func(t *testing.T) {
		f := approvertest.NewEC2(svcA)
		f.Open[svcA] = true
		f.Add(svcA, "vpce-0000000000000000a", "333333333333", "available", "")
		au, err := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{}).Audit(context.Background(), nil)
		require.NoError(t, err)
		assert.Empty(t, au.Drift, "a service not managed is none of the policy's business")
		assert.NotContains(t, f.Calls, "Describe")
		assert.True(t, au.Complete())
		assert.Zero(t, au.Findings())
	})
}

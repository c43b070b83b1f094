package approver_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

var (
	_ vpcendpoints.EC2API = (*ec2.Client)(nil)
	_ approver.Endpoints  = (*vpcendpoints.Client)(nil)
)

const (
	svcA = "vpce-svc-0aaaaaaaaaaaaaaaa"
	svcB = "vpce-svc-0bbbbbbbbbbbbbbbb"
)

// loaderFunc adapts a function to approver.PolicyLoader.
type loaderFunc func(ctx context.Context, fresh bool) (*policy.Loaded, error)

func (f loaderFunc) Load(ctx context.Context, fresh bool) (*policy.Loaded, error) {
	return f(ctx, fresh)
}

func staticPolicy(t *testing.T, text string) loaderFunc {
	t.Helper()
	p, err := policy.Parse([]byte(text))
	require.NoError(t, err)
	return func(context.Context, bool) (*policy.Loaded, error) {
		return &policy.Loaded{Policy: p, Parameter: "/test/policy", Version: "7", Modified: approvertest.PolicyChanged}, nil
	}
}

const testPolicy = `{"version": 1, "rules": [
	{"name": "partners", "action": "accept", "accounts": ["111111111111", "222222222222"]},
	{"name": "eu-only", "action": "accept", "accounts": ["444444444444"], "regions": ["eu-west-1"]},
	{"name": "blocked", "action": "reject", "accounts": ["222222222222"], "services": ["vpce-svc-0bbbbbbbbbbbbbbbb"]}]}`

func results(r *approver.Report) map[string]string {
	out := map[string]string{}
	for _, d := range r.Decisions {
		out[d.EndpointID] = d.Result
	}
	return out
}

func TestReconcileDecidesAndBatches(t *testing.T) {
	f := approvertest.NewEC2(svcA, svcB)
	f.PageSize = 2 // several pages
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
	f.Add(svcA, "vpce-0000000000000000b", "333333333333", "pendingAcceptance", "")
	f.Add(svcA, "vpce-0000000000000000c", "444444444444", "pendingAcceptance", "eu-west-1")
	f.Add(svcA, "vpce-0000000000000000d", "444444444444", "pendingAcceptance", "")
	f.Add(svcA, "vpce-0000000000000000e", "222222222222", "pendingAcceptance", "")
	f.Add(svcA, "vpce-0000000000000000f", "333333333333", "available", "")
	f.Add(svcB, "vpce-00000000000000001", "222222222222", "pendingAcceptance", "")

	a := approver.New(vpcendpoints.New(f), staticPolicy(t, testPolicy), approver.Config{Region: "us-east-1"})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true})
	require.NoError(t, err)
	require.NoError(t, report.Err())

	assert.Equal(t, map[string]string{
		"vpce-0000000000000000a": "available",
		"vpce-0000000000000000b": "rejected",
		"vpce-0000000000000000c": "available",
		"vpce-0000000000000000d": "rejected",
		"vpce-0000000000000000e": "available",
		"vpce-0000000000000000f": "available", // not pending: never touched
		"vpce-00000000000000001": "rejected",
	}, map[string]string{
		"vpce-0000000000000000a": f.State("vpce-0000000000000000a"),
		"vpce-0000000000000000b": f.State("vpce-0000000000000000b"),
		"vpce-0000000000000000c": f.State("vpce-0000000000000000c"),
		"vpce-0000000000000000d": f.State("vpce-0000000000000000d"),
		"vpce-0000000000000000e": f.State("vpce-0000000000000000e"),
		"vpce-0000000000000000f": f.State("vpce-0000000000000000f"),
		"vpce-00000000000000001": f.State("vpce-00000000000000001"),
	})
	// One Accept and one Reject per service, never one per endpoint.
	assert.Equal(t, [][]string{{"vpce-0000000000000000a", "vpce-0000000000000000c", "vpce-0000000000000000e"}}, f.Accepted)
	assert.Equal(t, [][]string{{"vpce-0000000000000000b", "vpce-0000000000000000d"}, {"vpce-00000000000000001"}}, f.Rejected)
	assert.Equal(t, 3, report.Accepted)
	assert.Equal(t, 3, report.Rejected)
	assert.Equal(t, 0, report.Failed)
	assert.Equal(t, []string{svcA, svcB}, report.Services)

	byID := map[string]approver.Outcome{}
	for _, d := range report.Decisions {
		byID[d.EndpointID] = d
	}
	assert.Equal(t, "eu-only", byID["vpce-0000000000000000c"].Rule)
	assert.Equal(t, "us-east-1", byID["vpce-0000000000000000d"].Region, "no VpcEndpointRegion means the function's region")
	assert.Equal(t, policy.DefaultRuleName, byID["vpce-0000000000000000d"].Rule)
	assert.Equal(t, "blocked", byID["vpce-00000000000000001"].Rule)
	assert.Equal(t, "7", byID["vpce-00000000000000001"].PolicyVersion)
	assert.Equal(t, "schedule", byID["vpce-00000000000000001"].Trigger)

	// One read for every service: pending connections of the account, 1,000
	// a page (here the fake's 2), grouped by service in the approver.
	assert.Len(t, f.Filters, 3, "ceil(6 pending / 2 a page) calls, whatever the number of services")
	for _, flt := range f.Filters {
		assert.Equal(t, []types.Filter{{Name: aws.String("vpc-endpoint-state"), Values: []string{"pendingAcceptance"}}}, flt)
	}
}

func TestOneReadCoversTheListedServicesInChunksOf200(t *testing.T) {
	var services []string
	for i := range 450 {
		services = append(services, fmt.Sprintf("vpce-svc-%017x", i))
	}
	f := approvertest.NewEC2()
	f.Add(services[7], "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
	f.Add(services[420], "vpce-0000000000000000b", "111111111111", "pendingAcceptance", "")
	f.Add("vpce-svc-0ffffffffffffffff", "vpce-0000000000000000c", "111111111111", "pendingAcceptance", "") // not listed
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: services})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true})
	require.NoError(t, err)
	require.NoError(t, report.Err())
	require.Len(t, f.Filters, 3, "450 services: 3 calls of at most 200 service IDs")
	for i, want := range []int{200, 200, 50} {
		assert.Len(t, f.Filters[i][1].Values, want)
	}
	assert.Equal(t, "available", f.State("vpce-0000000000000000a"))
	assert.Equal(t, "available", f.State("vpce-0000000000000000b"))
	assert.Equal(t, "pendingAcceptance", f.State("vpce-0000000000000000c"), "a service not listed is never touched")
	assert.Equal(t, 2, len(f.Accepted), "Accept stays one call per service with decisions")
}

func TestReconcileOnlyTouchesManagedServices(t *testing.T) {
	tests := []struct {
		name       string
		configured []string
		req        approver.Request
		want       []string
		wantCalls  []string
	}{
		{"named and managed", []string{svcA}, approver.Request{Services: []string{svcA}}, []string{svcA}, []string{"Describe"}},
		{"named but not managed", []string{svcA}, approver.Request{Services: []string{svcB}}, []string{}, nil},
		{"all configured", []string{svcB, svcA}, approver.Request{All: true}, []string{svcA, svcB}, []string{"Describe", "Accept", "CreateTags"}},
		{"all owned when none configured", nil, approver.Request{All: true}, []string{svcA}, []string{"DescribeServices", "Describe"}},
		{"another provider's service when all owned are managed", nil, approver.Request{Services: []string{svcB}}, []string{}, []string{"DescribeServices"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA)
			f.Add(svcB, "vpce-00000000000000001", "111111111111", "pendingAcceptance", "")
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: tt.configured})
			report, err := a.Reconcile(context.Background(), tt.req)
			require.NoError(t, err)
			assert.Equal(t, tt.want, report.Services)
			assert.Equal(t, tt.wantCalls, f.Calls)
			if !slices.Contains(tt.want, svcB) {
				assert.Equal(t, "pendingAcceptance", f.State("vpce-00000000000000001"))
			}
		})
	}
}

func TestReconcileDryRunAndManualChangeNothing(t *testing.T) {
	tests := []struct {
		name       string
		policy     string
		dryRun     bool
		wantResult string
		wantAction policy.Action
	}{
		{"dry run", "111111111111", true, approver.ResultDryRun, policy.Accept},
		{"dry run reject", "222222222222", true, approver.ResultDryRun, policy.Reject},
		{"manual default", `{"version":1,"defaultAction":"manual","rules":[]}`, false, approver.ResultLeftPending, policy.Manual},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA)
			f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, tt.policy), approver.Config{ServiceIDs: []string{svcA}, DryRun: tt.dryRun})
			report, err := a.Reconcile(context.Background(), approver.Request{All: true})
			require.NoError(t, err)
			require.NoError(t, report.Err())
			assert.Equal(t, "pendingAcceptance", f.State("vpce-0000000000000000a"))
			assert.Empty(t, f.Accepted)
			assert.Empty(t, f.Rejected)
			require.Len(t, report.Decisions, 1)
			assert.Equal(t, tt.wantResult, report.Decisions[0].Result)
			assert.Equal(t, tt.wantAction, report.Decisions[0].Action)
			assert.Equal(t, tt.dryRun, report.Decisions[0].DryRun)
		})
	}
}

func TestReconcileSettlesUnsuccessfulItems(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "") // accepted
	f.Add(svcA, "vpce-0000000000000000b", "111111111111", "pendingAcceptance", "") // a person accepts it meanwhile
	f.Add(svcA, "vpce-0000000000000000c", "333333333333", "pendingAcceptance", "") // a person rejects it meanwhile
	f.Add(svcA, "vpce-0000000000000000d", "111111111111", "pendingAcceptance", "") // its consumer deletes it
	f.Add(svcA, "vpce-0000000000000000e", "111111111111", "pendingAcceptance", "") // EC2 fails it
	f.Add(svcA, "vpce-0000000000000000f", "333333333333", "pendingAcceptance", "") // rejected
	f.Unsuccessful["vpce-0000000000000000e"] = "InternalError"
	f.BeforeApply = func(f *approvertest.EC2) {
		f.Mu.Lock()
		defer f.Mu.Unlock()
		f.Conns["vpce-0000000000000000b"].VpcEndpointState = "available"
		f.Conns["vpce-0000000000000000c"].VpcEndpointState = "rejected"
		delete(f.Conns, "vpce-0000000000000000d")
	}
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: []string{svcA}})
	report, err := a.Reconcile(context.Background(), approver.Request{All: true})
	require.NoError(t, err)

	assert.Equal(t, map[string]string{
		"vpce-0000000000000000a": approver.ResultAccepted,
		"vpce-0000000000000000b": approver.ResultAlreadyAccepted,
		"vpce-0000000000000000c": approver.ResultAlreadyRejected,
		"vpce-0000000000000000d": approver.ResultGone,
		"vpce-0000000000000000e": approver.ResultFailed,
		"vpce-0000000000000000f": approver.ResultRejected,
	}, results(report))
	assert.Equal(t, 1, report.Failed)
	require.Error(t, report.Err())
	assert.Contains(t, report.Err().Error(), svcA)
	assert.True(t, report.ServiceFailed(svcA))
	for _, d := range report.Decisions {
		if d.EndpointID == "vpce-0000000000000000e" {
			assert.Equal(t, "InternalError", d.ErrorCode)
			assert.Contains(t, d.Detail, "pendingAcceptance")
		} else {
			assert.Empty(t, d.ErrorCode, d.EndpointID)
		}
	}
	assert.Equal(t, "pendingAcceptance", f.State("vpce-0000000000000000e"))
}

func TestReconcileFailures(t *testing.T) {
	apiErr := &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "not allowed"}
	tests := []struct {
		name      string
		loader    func(t *testing.T) approver.PolicyLoader
		failCall  map[string]error
		wantErr   string // from Reconcile: nothing decided
		wantSvcEr string // in the report
	}{
		{"policy cannot be loaded", func(*testing.T) approver.PolicyLoader {
			return loaderFunc(func(context.Context, bool) (*policy.Loaded, error) {
				return nil, fmt.Errorf("policy parameter /test/policy: not found: %w", policy.ErrNoPolicy)
			})
		}, nil, "policy parameter /test/policy: not found", ""},
		{"describe fails", func(t *testing.T) approver.PolicyLoader { return staticPolicy(t, "111111111111") },
			map[string]error{"Describe": apiErr}, "", "describe the connections of " + svcA},
		{"accept call fails", func(t *testing.T) approver.PolicyLoader { return staticPolicy(t, "111111111111") },
			map[string]error{"Accept": apiErr}, "", "1 of 1 decisions could not be applied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA)
			f.FailCall = tt.failCall
			f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
			a := approver.New(vpcendpoints.New(f), tt.loader(t), approver.Config{ServiceIDs: []string{svcA}})
			report, err := a.Reconcile(context.Background(), approver.Request{All: true})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Nil(t, report)
				assert.Empty(t, f.Calls, "nothing is described or decided without a policy")
			} else {
				require.NoError(t, err)
				require.Error(t, report.Err())
				assert.Contains(t, report.Err().Error(), tt.wantSvcEr)
			}
			assert.Equal(t, "pendingAcceptance", f.State("vpce-0000000000000000a"), "never accepted on error")
		})
	}
}

func TestReconcileSplitsPast1000(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	for i := range 2500 {
		f.Add(svcA, fmt.Sprintf("vpce-%017x", i), "111111111111", "pendingAcceptance", "")
	}
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: []string{svcA}})
	report, err := a.Reconcile(context.Background(), approver.Request{All: true})
	require.NoError(t, err)
	require.NoError(t, report.Err())
	assert.Equal(t, 2500, report.Accepted)
	require.Len(t, f.Accepted, 3)
	assert.Len(t, f.Accepted[0], 1000)
	assert.Len(t, f.Accepted[1], 1000)
	assert.Len(t, f.Accepted[2], 500)
	assert.Equal(t, []string{"Describe", "Describe", "Describe", "Accept", "Accept", "Accept", "CreateTags", "CreateTags", "CreateTags"}, f.Calls,
		"stamps too go 1,000 connections to a call")
}

func TestRevocation(t *testing.T) {
	const revoking = `{"version": 1, "revoke": true, "maxRevocations": 2, "defaultAction": "reject", "rules": [
		{"name": "partner", "action": "accept", "accounts": ["111111111111"]},
		{"name": "left", "action": "reject", "accounts": ["222222222222"]}]}`
	setup := func() *approvertest.EC2 {
		f := approvertest.NewEC2(svcA, svcB)
		f.Add(svcA, "vpce-0000000000000000a", "111111111111", "available", "")         // still allowed
		f.Add(svcA, "vpce-0000000000000000b", "222222222222", "available", "")         // revoked by a reject rule
		f.Add(svcB, "vpce-0000000000000000c", "333333333333", "pending", "")           // revoked by defaultAction
		f.Add(svcA, "vpce-0000000000000000d", "333333333333", "pendingAcceptance", "") // rejected as usual
		return f
	}
	tests := []struct {
		name        string
		policy      string
		sweep       bool
		want        map[string]string
		wantRevoked int
		wantErr     string
	}{
		{"a sweep revokes within the guard", revoking, true, map[string]string{
			"vpce-0000000000000000a": "available", "vpce-0000000000000000b": "rejected",
			"vpce-0000000000000000c": "rejected", "vpce-0000000000000000d": "rejected"}, 2, ""},
		{"a notification never revokes", revoking, false, map[string]string{
			"vpce-0000000000000000a": "available", "vpce-0000000000000000b": "available",
			"vpce-0000000000000000c": "pending", "vpce-0000000000000000d": "rejected"}, 0, ""},
		{"one over the guard revokes nothing", strings.Replace(revoking, `"maxRevocations": 2`, `"maxRevocations": 1`, 1), true, map[string]string{
			"vpce-0000000000000000a": "available", "vpce-0000000000000000b": "available",
			"vpce-0000000000000000c": "pending", "vpce-0000000000000000d": "rejected"}, 0, "2 revocations exceed maxRevocations 1"},
		{"manual never revokes", `{"version": 1, "revoke": true, "defaultAction": "manual", "rules": [
			{"name": "partner", "action": "accept", "accounts": ["111111111111"]}]}`, true, map[string]string{
			"vpce-0000000000000000a": "available", "vpce-0000000000000000b": "available",
			"vpce-0000000000000000c": "pending", "vpce-0000000000000000d": "pendingAcceptance"}, 0, ""},
		{"without revoke, accepted connections stay", `{"version": 1, "rules": []}`, true, map[string]string{
			"vpce-0000000000000000a": "available", "vpce-0000000000000000b": "available",
			"vpce-0000000000000000c": "pending", "vpce-0000000000000000d": "rejected"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup()
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, tt.policy), approver.Config{ServiceIDs: []string{svcA, svcB}})
			report, err := a.Reconcile(context.Background(), approver.Request{All: true, Sweep: tt.sweep})
			require.NoError(t, err)
			got := map[string]string{}
			for id := range tt.want {
				got[id] = f.State(id)
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantRevoked, report.Revoked)
			var describes int
			for _, c := range f.Calls {
				if c == "Describe" {
					describes++
				}
			}
			assert.Equal(t, 1, describes, "one Describe reads the pending and accepted connections of every service")
			if tt.wantErr != "" {
				require.Error(t, report.Err())
				assert.Contains(t, report.Err().Error(), tt.wantErr)
			} else {
				require.NoError(t, report.Err())
			}
			for _, d := range report.Decisions {
				if d.Revoked {
					assert.Equal(t, policy.Reject, d.Action)
					assert.Contains(t, []string{"vpce-0000000000000000b", "vpce-0000000000000000c"}, d.EndpointID)
				}
			}
		})
	}
}

func TestConnectionLimitsCountAcceptedAndEarlierDecisions(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-00000000000000001", "111111111111", "available", "")
	f.Add(svcA, "vpce-00000000000000002", "111111111111", "pendingAcceptance", "") // second: accepted
	f.Add(svcA, "vpce-00000000000000003", "111111111111", "pendingAcceptance", "") // third: over the limit
	f.Add(svcA, "vpce-00000000000000004", "222222222222", "pendingAcceptance", "") // another account: its own count
	f.Add(svcA, "vpce-00000000000000005", "111111111111", "pendingAcceptance", "") // fourth: over
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, `{"version": 1, "rules": [
		{"name": "two", "action": "accept", "accounts": ["111111111111", "222222222222"], "maxEndpoints": 2}]}`), approver.Config{ServiceIDs: []string{svcA}})
	report, err := a.Reconcile(context.Background(), approver.Request{All: true})
	require.NoError(t, err)
	require.NoError(t, report.Err())
	assert.Equal(t, "available", f.State("vpce-00000000000000001"), "a limit never revokes")
	assert.Equal(t, "available", f.State("vpce-00000000000000002"))
	assert.Equal(t, "rejected", f.State("vpce-00000000000000003"))
	assert.Equal(t, "available", f.State("vpce-00000000000000004"))
	assert.Equal(t, "rejected", f.State("vpce-00000000000000005"))
	for _, d := range report.Decisions {
		if d.EndpointID == "vpce-00000000000000003" {
			assert.Contains(t, d.Reason, "rule two did not apply: the account has 2 accepted connections to this service, its maxEndpoints is 2")
		}
	}
}

func TestAnApprovedPlanIsAppliedAsShown(t *testing.T) {
	const (
		shown    = "vpce-0aaaaaaaaaaaaaaa1" // in the plan, accept
		unseen   = "vpce-0aaaaaaaaaaaaaaa2" // made after the plan
		changed  = "vpce-0aaaaaaaaaaaaaaa3" // in the plan as accept, now rejected
		rejected = "vpce-0aaaaaaaaaaaaaaa4" // in the plan, reject
	)
	tests := []struct {
		name       string
		version    string
		wantErr    error
		wantStates map[string]string
		wantDetail map[string]string
	}{
		{name: "only what was shown, with the action shown", version: "7",
			wantStates: map[string]string{shown: "available", unseen: "pendingAcceptance", changed: "pendingAcceptance", rejected: "rejected"},
			wantDetail: map[string]string{unseen: "not in the plan that was approved", changed: "not in the plan that was approved"}},
		{name: "no plan version: the same", version: "",
			wantStates: map[string]string{shown: "available", unseen: "pendingAcceptance", changed: "pendingAcceptance", rejected: "rejected"}},
		{name: "a policy changed since the plan decides nothing", version: "6", wantErr: approver.ErrPlanStale,
			wantStates: map[string]string{shown: "pendingAcceptance", unseen: "pendingAcceptance", changed: "pendingAcceptance", rejected: "pendingAcceptance"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA)
			f.Add(svcA, shown, "111111111111", "pendingAcceptance", "")
			f.Add(svcA, unseen, "111111111111", "pendingAcceptance", "")
			f.Add(svcA, changed, "333333333333", "pendingAcceptance", "")
			f.Add(svcA, rejected, "333333333333", "pendingAcceptance", "")
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: []string{svcA}})
			report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "manual-sweep", All: true, Sweep: true,
				PolicyVersion: tt.version,
				Approved:      map[string]policy.Action{shown: policy.Accept, changed: policy.Accept, rejected: policy.Reject}})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
				for id, detail := range tt.wantDetail {
					for _, d := range report.Decisions {
						if d.EndpointID == id {
							assert.Equal(t, approver.ResultLeftPending, d.Result, id)
							assert.Contains(t, d.Detail, detail, id)
						}
					}
				}
			}
			for id, state := range tt.wantStates {
				assert.Equal(t, state, f.State(id), id)
			}
		})
	}
}

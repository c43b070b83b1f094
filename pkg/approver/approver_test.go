package approver_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/policystore"
)

var _ approver.EC2API = (*ec2.Client)(nil)

const (
	svcA = "vpce-svc-0aaaaaaaaaaaaaaaa"
	svcB = "vpce-svc-0bbbbbbbbbbbbbbbb"
)

// fakeEC2 is an in-memory provider: connections by endpoint ID, with hooks
// to fail calls. It records every call so tests can assert the requests.
type fakeEC2 struct {
	mu       sync.Mutex
	owned    []string
	conns    map[string]*types.VpcEndpointConnection
	pageSize int
	// unsuccessful makes Accept/Reject report these endpoints with a code.
	unsuccessful map[string]string
	// beforeApply runs at the start of Accept/Reject (a person acting).
	beforeApply func(f *fakeEC2)
	// failCall fails the named operation with an API error.
	failCall map[string]error
	// failDescribe fails the Describe of a service's connections from its
	// page number pagesBefore+1 on (0: every page).
	failDescribe map[string]error
	pagesBefore  int
	// applyThenFail makes Accept/Reject apply the decision, then fail the
	// call, as if the answer was lost.
	applyThenFail error
	calls         []string
	accepted      [][]string
	rejected      [][]string
	// filters holds the filters of each DescribeVpcEndpointConnections.
	filters [][]types.Filter
	// tags are the connections' tags, by connection ID; tagCalls the
	// CreateTags requests.
	tags       map[string]map[string]string
	tagCalls   []*ec2.CreateTagsInput
	untagCalls []*ec2.DeleteTagsInput
}

func newFake(owned ...string) *fakeEC2 {
	return &fakeEC2{owned: owned, conns: map[string]*types.VpcEndpointConnection{}, pageSize: 1000,
		unsuccessful: map[string]string{}, failCall: map[string]error{}, failDescribe: map[string]error{},
		tags: map[string]map[string]string{}}
}

// connID is the connection ID of endpoint id in the fake.
func connID(id string) string { return "vpce-conn-" + strings.TrimPrefix(id, "vpce-") }

var created = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func (f *fakeEC2) add(svc, id, owner, state, region string) {
	f.conns[id] = &types.VpcEndpointConnection{
		ServiceId: aws.String(svc), VpcEndpointId: aws.String(id), VpcEndpointConnectionId: aws.String(connID(id)), VpcEndpointOwner: aws.String(owner),
		VpcEndpointState: types.State(state), CreationTimestamp: aws.Time(created.Add(time.Duration(len(f.conns)) * time.Minute)),
		VpcEndpointRegion: aws.String(region),
	}
}

func (f *fakeEC2) state(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[id]; ok {
		return string(c.VpcEndpointState)
	}
	return "missing"
}

func (f *fakeEC2) DescribeVpcEndpointConnections(_ context.Context, in *ec2.DescribeVpcEndpointConnectionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointConnectionsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Describe")
	f.filters = append(f.filters, in.Filters)
	if err := f.failCall["Describe"]; err != nil {
		return nil, err
	}
	for _, flt := range in.Filters {
		if aws.ToString(flt.Name) != "service-id" {
			continue
		}
		for _, svc := range flt.Values {
			page := 1
			if in.NextToken != nil {
				page = 2 // any later page
			}
			if err := f.failDescribe[svc]; err != nil && page > f.pagesBefore {
				return nil, err
			}
		}
	}
	var ids []string
	for id := range f.conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var match []types.VpcEndpointConnection
	for _, id := range ids {
		c := f.conns[id]
		ok := true
		for _, flt := range in.Filters {
			var v string
			switch aws.ToString(flt.Name) {
			case "service-id":
				v = aws.ToString(c.ServiceId)
			case "vpc-endpoint-state":
				v = string(c.VpcEndpointState)
			case "vpc-endpoint-id":
				v = id
			default:
				return nil, fmt.Errorf("unexpected filter %s", aws.ToString(flt.Name))
			}
			ok = ok && slices.Contains(flt.Values, v)
		}
		if ok {
			cc := *c
			for _, k := range slices.Sorted(maps.Keys(f.tags[connID(id)])) {
				cc.Tags = append(cc.Tags, types.Tag{Key: aws.String(k), Value: aws.String(f.tags[connID(id)][k])})
			}
			match = append(match, cc)
		}
	}
	start := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &start)
	}
	end := min(start+f.pageSize, len(match))
	out := &ec2.DescribeVpcEndpointConnectionsOutput{VpcEndpointConnections: match[start:end]}
	if end < len(match) {
		out.NextToken = aws.String(fmt.Sprint(end))
	}
	return out, nil
}

func (f *fakeEC2) DescribeVpcEndpointServiceConfigurations(context.Context, *ec2.DescribeVpcEndpointServiceConfigurationsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServiceConfigurationsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "DescribeServices")
	out := &ec2.DescribeVpcEndpointServiceConfigurationsOutput{}
	for _, s := range f.owned {
		out.ServiceConfigurations = append(out.ServiceConfigurations, types.ServiceConfiguration{ServiceId: aws.String(s)})
	}
	return out, nil
}

func (f *fakeEC2) decide(op, svc string, ids []string, to string, from ...string) ([]types.UnsuccessfulItem, error) {
	if f.beforeApply != nil {
		f.beforeApply(f)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	if err := f.failCall[op]; err != nil {
		return nil, err
	}
	var bad []types.UnsuccessfulItem
	for _, id := range ids {
		c, ok := f.conns[id]
		code := f.unsuccessful[id]
		switch {
		case !ok || aws.ToString(c.ServiceId) != svc:
			code = "InvalidVpcEndpointId.NotFound"
		case code != "":
		case !slices.Contains(from, string(c.VpcEndpointState)):
			code = "InvalidState"
		default:
			c.VpcEndpointState = types.State(to)
			continue
		}
		bad = append(bad, types.UnsuccessfulItem{ResourceId: aws.String(id), Error: &types.UnsuccessfulItemError{Code: aws.String(code), Message: aws.String(code + " for " + id)}})
	}
	if f.applyThenFail != nil {
		return nil, f.applyThenFail
	}
	return bad, nil
}

func (f *fakeEC2) CreateTags(_ context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "CreateTags")
	f.tagCalls = append(f.tagCalls, in)
	if err := f.failCall["CreateTags"]; err != nil {
		return nil, err
	}
	for _, id := range in.Resources {
		if f.tags[id] == nil {
			f.tags[id] = map[string]string{}
		}
		for _, t := range in.Tags {
			f.tags[id][aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return &ec2.CreateTagsOutput{}, nil
}

func (f *fakeEC2) DeleteTags(_ context.Context, in *ec2.DeleteTagsInput, _ ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "DeleteTags")
	f.untagCalls = append(f.untagCalls, in)
	for _, id := range in.Resources {
		for _, t := range in.Tags {
			delete(f.tags[id], aws.ToString(t.Key))
		}
	}
	return &ec2.DeleteTagsOutput{}, nil
}

// stamp returns the privatelink-approver tags of endpoint id's connection.
func (f *fakeEC2) stamp(id string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.tags[connID(id)])
}

func (f *fakeEC2) AcceptVpcEndpointConnections(_ context.Context, in *ec2.AcceptVpcEndpointConnectionsInput, _ ...func(*ec2.Options)) (*ec2.AcceptVpcEndpointConnectionsOutput, error) {
	f.accepted = append(f.accepted, in.VpcEndpointIds)
	bad, err := f.decide("Accept", aws.ToString(in.ServiceId), in.VpcEndpointIds, "available", "pendingAcceptance")
	if err != nil {
		return nil, err
	}
	return &ec2.AcceptVpcEndpointConnectionsOutput{Unsuccessful: bad}, nil
}

func (f *fakeEC2) RejectVpcEndpointConnections(_ context.Context, in *ec2.RejectVpcEndpointConnectionsInput, _ ...func(*ec2.Options)) (*ec2.RejectVpcEndpointConnectionsOutput, error) {
	f.rejected = append(f.rejected, in.VpcEndpointIds)
	bad, err := f.decide("Reject", aws.ToString(in.ServiceId), in.VpcEndpointIds, "rejected", "pendingAcceptance", "pending", "available")
	if err != nil {
		return nil, err
	}
	return &ec2.RejectVpcEndpointConnectionsOutput{Unsuccessful: bad}, nil
}

// loaderFunc adapts a function to approver.PolicyLoader.
type loaderFunc func(ctx context.Context, fresh bool) (*policystore.Loaded, error)

func (f loaderFunc) Load(ctx context.Context, fresh bool) (*policystore.Loaded, error) {
	return f(ctx, fresh)
}

func staticPolicy(t *testing.T, text string) loaderFunc {
	t.Helper()
	p, err := policy.Parse([]byte(text))
	require.NoError(t, err)
	return func(context.Context, bool) (*policystore.Loaded, error) {
		return &policystore.Loaded{Policy: p, Parameter: "/test/policy", Version: "7"}, nil
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
	f := newFake(svcA, svcB)
	f.pageSize = 2 // several pages
	f.add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
	f.add(svcA, "vpce-0000000000000000b", "333333333333", "pendingAcceptance", "")
	f.add(svcA, "vpce-0000000000000000c", "444444444444", "pendingAcceptance", "eu-west-1")
	f.add(svcA, "vpce-0000000000000000d", "444444444444", "pendingAcceptance", "")
	f.add(svcA, "vpce-0000000000000000e", "222222222222", "pendingAcceptance", "")
	f.add(svcA, "vpce-0000000000000000f", "333333333333", "available", "")
	f.add(svcB, "vpce-00000000000000001", "222222222222", "pendingAcceptance", "")

	a := approver.New(f, staticPolicy(t, testPolicy), approver.Config{Region: "us-east-1"})
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
		"vpce-0000000000000000a": f.state("vpce-0000000000000000a"),
		"vpce-0000000000000000b": f.state("vpce-0000000000000000b"),
		"vpce-0000000000000000c": f.state("vpce-0000000000000000c"),
		"vpce-0000000000000000d": f.state("vpce-0000000000000000d"),
		"vpce-0000000000000000e": f.state("vpce-0000000000000000e"),
		"vpce-0000000000000000f": f.state("vpce-0000000000000000f"),
		"vpce-00000000000000001": f.state("vpce-00000000000000001"),
	})
	// One Accept and one Reject per service, never one per endpoint.
	assert.Equal(t, [][]string{{"vpce-0000000000000000a", "vpce-0000000000000000c", "vpce-0000000000000000e"}}, f.accepted)
	assert.Equal(t, [][]string{{"vpce-0000000000000000b", "vpce-0000000000000000d"}, {"vpce-00000000000000001"}}, f.rejected)
	assert.Equal(t, 3, report.Accepted)
	assert.Equal(t, 3, report.Rejected)
	assert.Equal(t, 0, report.Failed)
	assert.Equal(t, []string{svcA, svcB}, report.Services)

	byID := map[string]approver.Decision{}
	for _, d := range report.Decisions {
		byID[d.EndpointID] = d
	}
	assert.Equal(t, "eu-only", byID["vpce-0000000000000000c"].Rule)
	assert.Equal(t, "us-east-1", byID["vpce-0000000000000000d"].Region, "no VpcEndpointRegion means the function's region")
	assert.Equal(t, policy.DefaultRuleName, byID["vpce-0000000000000000d"].Rule)
	assert.Equal(t, "blocked", byID["vpce-00000000000000001"].Rule)
	assert.Equal(t, "7", byID["vpce-00000000000000001"].PolicyVersion)
	assert.Equal(t, "schedule", byID["vpce-00000000000000001"].Trigger)

	// Every describe asks for one service's pending connections at 1000.
	for _, flt := range f.filters {
		assert.Contains(t, flt, types.Filter{Name: aws.String("vpc-endpoint-state"), Values: []string{"pendingAcceptance"}})
	}
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
		{"all configured", []string{svcB, svcA}, approver.Request{All: true}, []string{svcA, svcB}, []string{"Describe", "Describe", "Accept", "CreateTags"}},
		{"all owned when none configured", nil, approver.Request{All: true}, []string{svcA}, []string{"DescribeServices", "Describe"}},
		{"another provider's service when all owned are managed", nil, approver.Request{Services: []string{svcB}}, []string{}, []string{"DescribeServices"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(svcA)
			f.add(svcB, "vpce-00000000000000001", "111111111111", "pendingAcceptance", "")
			a := approver.New(f, staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: tt.configured})
			report, err := a.Reconcile(context.Background(), tt.req)
			require.NoError(t, err)
			assert.Equal(t, tt.want, report.Services)
			assert.Equal(t, tt.wantCalls, f.calls)
			if !slices.Contains(tt.want, svcB) {
				assert.Equal(t, "pendingAcceptance", f.state("vpce-00000000000000001"))
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
			f := newFake(svcA)
			f.add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
			a := approver.New(f, staticPolicy(t, tt.policy), approver.Config{ServiceIDs: []string{svcA}, DryRun: tt.dryRun})
			report, err := a.Reconcile(context.Background(), approver.Request{All: true})
			require.NoError(t, err)
			require.NoError(t, report.Err())
			assert.Equal(t, "pendingAcceptance", f.state("vpce-0000000000000000a"))
			assert.Empty(t, f.accepted)
			assert.Empty(t, f.rejected)
			require.Len(t, report.Decisions, 1)
			assert.Equal(t, tt.wantResult, report.Decisions[0].Result)
			assert.Equal(t, tt.wantAction, report.Decisions[0].Action)
			assert.Equal(t, tt.dryRun, report.Decisions[0].DryRun)
		})
	}
}

func TestReconcileSettlesUnsuccessfulItems(t *testing.T) {
	f := newFake(svcA)
	f.add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "") // accepted
	f.add(svcA, "vpce-0000000000000000b", "111111111111", "pendingAcceptance", "") // a person accepts it meanwhile
	f.add(svcA, "vpce-0000000000000000c", "333333333333", "pendingAcceptance", "") // a person rejects it meanwhile
	f.add(svcA, "vpce-0000000000000000d", "111111111111", "pendingAcceptance", "") // its consumer deletes it
	f.add(svcA, "vpce-0000000000000000e", "111111111111", "pendingAcceptance", "") // EC2 fails it
	f.add(svcA, "vpce-0000000000000000f", "333333333333", "pendingAcceptance", "") // rejected
	f.unsuccessful["vpce-0000000000000000e"] = "InternalError"
	f.beforeApply = func(f *fakeEC2) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.conns["vpce-0000000000000000b"].VpcEndpointState = "available"
		f.conns["vpce-0000000000000000c"].VpcEndpointState = "rejected"
		delete(f.conns, "vpce-0000000000000000d")
	}
	a := approver.New(f, staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: []string{svcA}})
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
	assert.Equal(t, "pendingAcceptance", f.state("vpce-0000000000000000e"))
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
			return loaderFunc(func(context.Context, bool) (*policystore.Loaded, error) {
				return nil, &policystore.Error{Parameter: "/test/policy", Err: errors.New("not found")}
			})
		}, nil, "policy parameter /test/policy: not found", ""},
		{"describe fails", func(t *testing.T) approver.PolicyLoader { return staticPolicy(t, "111111111111") },
			map[string]error{"Describe": apiErr}, "", "describe the connections of " + svcA},
		{"accept call fails", func(t *testing.T) approver.PolicyLoader { return staticPolicy(t, "111111111111") },
			map[string]error{"Accept": apiErr}, "", "1 of 1 decisions could not be applied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(svcA)
			f.failCall = tt.failCall
			f.add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
			a := approver.New(f, tt.loader(t), approver.Config{ServiceIDs: []string{svcA}})
			report, err := a.Reconcile(context.Background(), approver.Request{All: true})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Nil(t, report)
				assert.Empty(t, f.calls, "nothing is described or decided without a policy")
			} else {
				require.NoError(t, err)
				require.Error(t, report.Err())
				assert.Contains(t, report.Err().Error(), tt.wantSvcEr)
			}
			assert.Equal(t, "pendingAcceptance", f.state("vpce-0000000000000000a"), "never accepted on error")
		})
	}
}

func TestReconcileSplitsPast1000(t *testing.T) {
	f := newFake(svcA)
	for i := range 2500 {
		f.add(svcA, fmt.Sprintf("vpce-%017x", i), "111111111111", "pendingAcceptance", "")
	}
	a := approver.New(f, staticPolicy(t, "111111111111"), approver.Config{ServiceIDs: []string{svcA}})
	report, err := a.Reconcile(context.Background(), approver.Request{All: true})
	require.NoError(t, err)
	require.NoError(t, report.Err())
	assert.Equal(t, 2500, report.Accepted)
	require.Len(t, f.accepted, 3)
	assert.Len(t, f.accepted[0], 1000)
	assert.Len(t, f.accepted[1], 1000)
	assert.Len(t, f.accepted[2], 500)
	assert.Equal(t, []string{"Describe", "Describe", "Describe", "Accept", "Accept", "Accept", "CreateTags", "CreateTags", "CreateTags"}, f.calls,
		"stamps too go 1,000 connections to a call")
}

func TestRevocation(t *testing.T) {
	const revoking = `{"version": 1, "revoke": true, "maxRevocations": 2, "defaultAction": "reject", "rules": [
		{"name": "partner", "action": "accept", "accounts": ["111111111111"]},
		{"name": "left", "action": "reject", "accounts": ["222222222222"]}]}`
	setup := func() *fakeEC2 {
		f := newFake(svcA, svcB)
		f.add(svcA, "vpce-0000000000000000a", "111111111111", "available", "")         // still allowed
		f.add(svcA, "vpce-0000000000000000b", "222222222222", "available", "")         // revoked by a reject rule
		f.add(svcB, "vpce-0000000000000000c", "333333333333", "pending", "")           // revoked by defaultAction
		f.add(svcA, "vpce-0000000000000000d", "333333333333", "pendingAcceptance", "") // rejected as usual
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
			a := approver.New(f, staticPolicy(t, tt.policy), approver.Config{ServiceIDs: []string{svcA, svcB}})
			report, err := a.Reconcile(context.Background(), approver.Request{All: true, Sweep: tt.sweep})
			require.NoError(t, err)
			got := map[string]string{}
			for id := range tt.want {
				got[id] = f.state(id)
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantRevoked, report.Revoked)
			var describes int
			for _, c := range f.calls {
				if c == "Describe" {
					describes++
				}
			}
			assert.Equal(t, 2, describes, "one Describe per service reads pending and accepted connections")
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
	f := newFake(svcA)
	f.add(svcA, "vpce-00000000000000001", "111111111111", "available", "")
	f.add(svcA, "vpce-00000000000000002", "111111111111", "pendingAcceptance", "") // second: accepted
	f.add(svcA, "vpce-00000000000000003", "111111111111", "pendingAcceptance", "") // third: over the limit
	f.add(svcA, "vpce-00000000000000004", "222222222222", "pendingAcceptance", "") // another account: its own count
	f.add(svcA, "vpce-00000000000000005", "111111111111", "pendingAcceptance", "") // fourth: over
	a := approver.New(f, staticPolicy(t, `{"version": 1, "rules": [
		{"name": "two", "action": "accept", "accounts": ["111111111111", "222222222222"], "maxEndpoints": 2}]}`), approver.Config{ServiceIDs: []string{svcA}})
	report, err := a.Reconcile(context.Background(), approver.Request{All: true})
	require.NoError(t, err)
	require.NoError(t, report.Err())
	assert.Equal(t, "available", f.state("vpce-00000000000000001"), "a limit never revokes")
	assert.Equal(t, "available", f.state("vpce-00000000000000002"))
	assert.Equal(t, "rejected", f.state("vpce-00000000000000003"))
	assert.Equal(t, "available", f.state("vpce-00000000000000004"))
	assert.Equal(t, "rejected", f.state("vpce-00000000000000005"))
	for _, d := range report.Decisions {
		if d.EndpointID == "vpce-00000000000000003" {
			assert.Contains(t, d.Reason, "rule two did not apply: the account has 2 accepted connections to this service, its maxEndpoints is 2")
		}
	}
}

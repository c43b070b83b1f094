package approver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

// regional adds SupportedRegions to the fake's service configurations.
type regional struct {
	*approvertest.EC2
	supported map[string][]string
	fail      bool
}

func (r *regional) DescribeVpcEndpointServiceConfigurations(ctx context.Context, in *ec2.DescribeVpcEndpointServiceConfigurationsInput, o ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServiceConfigurationsOutput, error) {
	if r.fail && len(in.ServiceIds) > 0 {
		return nil, fmt.Errorf("injected: %w", assert.AnError)
	}
	out, err := r.EC2.DescribeVpcEndpointServiceConfigurations(ctx, in, o...)
	if err != nil {
		return nil, err
	}
	for i, c := range out.ServiceConfigurations {
		for _, region := range r.supported[aws.ToString(c.ServiceId)] {
			out.ServiceConfigurations[i].SupportedRegions = append(out.ServiceConfigurations[i].SupportedRegions,
				types.SupportedRegionDetail{Region: aws.String(region), ServiceState: aws.String("Available")})
		}
	}
	return out, nil
}

func TestARequestWithNoRegion(t *testing.T) {
	const euOnly = `{"version": 1, "rules": [{"name": "eu-only", "action": "accept", "accounts": ["111111111111"], "regions": ["eu-west-1"]},
		{"name": "home", "action": "accept", "accounts": ["222222222222"]}]}`
	const anyRegion = `{"version": 1, "rules": [{"name": "all", "action": "accept", "accounts": ["111111111111", "222222222222"]}]}`
	tests := []struct {
		name      string
		policy    string
		supported []string
		fail      bool
		want      string // the request's state after the reconcile
		unknown   bool
		region    string
	}{
		{name: "the service accepts no other Region: the provider's", policy: euOnly, want: "rejected", region: "us-east-1"},
		{name: "the service accepts only the provider's Region", policy: euOnly, supported: []string{"us-east-1"}, want: "rejected", region: "us-east-1"},
		{name: "a region rule, and the service accepts eu-west-1 too: left pending", policy: euOnly, supported: []string{"us-east-1", "eu-west-1"},
			want: "pendingAcceptance", unknown: true},
		{name: "no rule names a Region: it does not matter", policy: anyRegion, supported: []string{"us-east-1", "eu-west-1"}, want: "available", region: "us-east-1"},
		{name: "the configuration cannot be read: any Region", policy: euOnly, fail: true, want: "pendingAcceptance", unknown: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &regional{EC2: approvertest.NewEC2(svcA), supported: map[string][]string{svcA: tt.supported}, fail: tt.fail}
			f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
			f.Add(svcA, "vpce-0000000000000000b", "111111111111", "pendingAcceptance", "eu-west-1")
			f.Add(svcA, "vpce-0000000000000000c", "222222222222", "pendingAcceptance", "")
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, tt.policy), approver.Config{Region: "us-east-1", ServiceIDs: []string{svcA}})
			report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
			require.NoError(t, err)
			assert.Equal(t, tt.want, f.State("vpce-0000000000000000a"))
			assert.Equal(t, "available", f.State("vpce-0000000000000000c"), "accepted in every Region: decided, Region or not")
			d := byEndpoint(report)["vpce-0000000000000000a"]
			assert.Equal(t, tt.unknown, d.RegionUnknown)
			if tt.unknown {
				assert.Equal(t, approver.ResultLeftPending, d.Result)
				assert.Contains(t, d.Detail, "Region is unknown")
				assert.Empty(t, string(d.Action))
				assert.Equal(t, 1, report.RegionUnknown)
				assert.Equal(t, "available", f.State("vpce-0000000000000000b"), "EC2 gave its Region")
			} else {
				assert.Equal(t, tt.region, d.Region)
			}
		})
	}
}

// An accepted connection with no Region is never revoked when the Region
// could make the difference.
func TestNoRevocationOnAnUnknownRegion(t *testing.T) {
	const euOnly = `{"version": 1, "revoke": true, "rules": [{"name": "eu-only", "action": "accept", "accounts": ["111111111111"], "regions": ["eu-west-1"]}]}`
	f := &regional{EC2: approvertest.NewEC2(svcA), supported: map[string][]string{svcA: {"eu-west-1"}}}
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "available", "")
	f.Add(svcA, "vpce-0000000000000000b", "333333333333", "available", "")
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, euOnly), approver.Config{Region: "us-east-1", ServiceIDs: []string{svcA}})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	assert.Equal(t, "available", f.State("vpce-0000000000000000a"))
	assert.Equal(t, "rejected", f.State("vpce-0000000000000000b"), "rejected in every Region: revoked")
	assert.Equal(t, 1, report.Revoked)
}

// A notification naming thousands of services that are not the account's
// costs at most MaxServiceLookups lookups; the IDs found unmanaged are not
// looked up again.
func TestUnknownServiceLookupsAreBounded(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, testPolicy), approver.Config{SweepPeriod: 300e9})
	named := []string{svcA}
	for i := range 500 {
		named = append(named, fmt.Sprintf("vpce-svc-%017x", i+1))
	}
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "notification", Services: named})
	require.NoError(t, err)
	assert.Equal(t, "available", f.State("vpce-0000000000000000a"))
	assert.Equal(t, len(named)-approver.MaxServiceLookups, report.UnknownServiceIDs)
	calls := func() int {
		n := 0
		for _, c := range f.Calls {
			if c == "DescribeServices" {
				n++
			}
		}
		return n
	}
	// One call for the 20, then one each (a call naming one that is not
	// the account's fails whole): 21.
	assert.Equal(t, 1+approver.MaxServiceLookups, calls())

	before := calls()
	report, err = a.Reconcile(context.Background(), approver.Request{Trigger: "notification", Services: named[:approver.MaxServiceLookups]})
	require.NoError(t, err)
	assert.Zero(t, report.UnknownServiceIDs)
	assert.Equal(t, before+1, calls(), "found unmanaged: remembered, not looked up again (only the managed one is confirmed: no sweep listed it)")
}

// Sweeps name the managed services that do not require acceptance: EC2
// accepts every allowed principal there without the approver.
func TestSweepsNameServicesNotRequiringAcceptance(t *testing.T) {
	tests := []struct {
		name string
		cfg  approver.Config
		req  approver.Request
		want []string
	}{
		{"tagged, acceptance off", approver.Config{ServiceTag: &awsid.TagFilter{Key: "team", Value: "network"}},
			approver.Request{Trigger: "schedule", All: true, Sweep: true}, []string{svcB}},
		{"listed, acceptance off", approver.Config{ServiceIDs: []string{svcA, svcB}},
			approver.Request{Trigger: "schedule", All: true, Sweep: true}, []string{svcB}},
		{"by acceptance: none can be", approver.Config{}, approver.Request{Trigger: "schedule", All: true, Sweep: true}, []string{}},
		{"not a sweep: not counted", approver.Config{ServiceIDs: []string{svcA, svcB}}, approver.Request{Trigger: "notification", Services: []string{svcA}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA, svcB)
			f.Open[svcB] = true
			f.ServiceTags[svcA] = map[string]string{"team": "network"}
			f.ServiceTags[svcB] = map[string]string{"team": "network"}
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, testPolicy), tt.cfg)
			report, err := a.Reconcile(context.Background(), tt.req)
			require.NoError(t, err)
			assert.Equal(t, tt.want, report.ServicesNotRequiringAcceptance)
		})
	}
}

// A configuration read before a connection was created may predate a
// Region added for it: it is read again.
func TestSupportedRegionsReadBeforeTheConnectionAreReadAgain(t *testing.T) {
	const euOnly = `{"version": 1, "rules": [{"name": "home", "action": "accept", "accounts": ["111111111111"], "regions": ["us-east-1"]}]}`
	f := &regional{EC2: approvertest.NewEC2(svcA), supported: map[string][]string{}}
	// The fake's first connection is created 2026-11-01T00:00:00Z; the
	// sweep reads the configuration a minute before it.
	clock := time.Date(2026, 10, 31, 23, 59, 0, 0, time.UTC)
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, euOnly), approver.Config{Region: "us-east-1", SweepPeriod: time.Hour,
		Now: func() time.Time { return clock }})
	_, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)

	f.supported[svcA] = []string{"eu-west-1"} // a Region added after the sweep
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
	clock = clock.Add(2 * time.Minute)
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "notification", Services: []string{svcA}})
	require.NoError(t, err)
	assert.Equal(t, "pendingAcceptance", f.State("vpce-0000000000000000a"), "not accepted as us-east-1 on a configuration older than the request")
	assert.True(t, byEndpoint(report)["vpce-0000000000000000a"].RegionUnknown)
}

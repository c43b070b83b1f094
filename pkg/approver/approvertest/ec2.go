// Package approvertest provides an in-memory EC2 provider for tests of code
// that reconciles through package approver: connections by endpoint ID, with
// hooks to fail calls, and a record of every call so tests can assert the
// requests they receive.
package approvertest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

var _ vpcendpoints.EC2API = (*EC2)(nil)

// EC2 is an in-memory provider: connections by endpoint ID, with hooks
// to fail calls. It records every call so tests can assert the requests.
type EC2 struct {
	Mu       sync.Mutex
	Owned    []string
	Conns    map[string]*types.VpcEndpointConnection
	PageSize int
	// Unsuccessful makes Accept/Reject report these endpoints with a code.
	Unsuccessful map[string]string
	// BeforeApply runs at the start of Accept/Reject (a person acting).
	BeforeApply func(f *EC2)
	// Open are owned services that do not require acceptance; ServiceTags
	// the tags of owned services.
	Open        map[string]bool
	ServiceTags map[string]map[string]string
	// FailCall fails the named operation with an API error.
	FailCall map[string]error
	// FailDescribe fails the Describe of a service's connections from its
	// page number PagesBefore+1 on (0: every page).
	FailDescribe map[string]error
	PagesBefore  int
	// ApplyThenFail makes Accept/Reject apply the decision, then fail the
	// call, as if the answer was lost.
	ApplyThenFail error
	Calls         []string
	Accepted      [][]string
	Rejected      [][]string
	// Filters holds the filters of each DescribeVpcEndpointConnections.
	Filters [][]types.Filter
	// Tags are the connections' tags, by connection ID; TagCalls and
	// UntagCalls the CreateTags and DeleteTags requests.
	Tags       map[string]map[string]string
	TagCalls   []*ec2.CreateTagsInput
	UntagCalls []*ec2.DeleteTagsInput
	// Notifications are the connection notifications, by service ID: their
	// topic ARNs.
	Notifications map[string][]string
}

// NewEC2 returns a provider that owns the services owned.
func NewEC2(owned ...string) *EC2 {
	return &EC2{Owned: owned, Conns: map[string]*types.VpcEndpointConnection{}, PageSize: 1000,
		Unsuccessful: map[string]string{}, FailCall: map[string]error{}, FailDescribe: map[string]error{},
		Tags: map[string]map[string]string{}, Open: map[string]bool{}, ServiceTags: map[string]map[string]string{},
		Notifications: map[string][]string{}}
}

// ConnectionID is the connection ID of endpoint id in the fake.
func ConnectionID(id string) string { return "vpce-conn-" + strings.TrimPrefix(id, "vpce-") }

// created is the creation time of the first connection; each next one is a
// minute younger.
var created = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// PolicyChanged is a time before every connection Add makes: a policy last
// changed then left none of them waiting through the change.
var PolicyChanged = created.Add(-24 * time.Hour)

// Created is when the nth connection Add makes (from 0) was created.
func Created(n int) time.Time { return created.Add(time.Duration(n) * time.Minute) }

// Add adds a connection of svc from endpoint id of owner, in state, from
// region ("" for the provider's own).
func (f *EC2) Add(svc, id, owner, state, region string) {
	f.Conns[id] = &types.VpcEndpointConnection{
		ServiceId: aws.String(svc), VpcEndpointId: aws.String(id), VpcEndpointConnectionId: aws.String(ConnectionID(id)), VpcEndpointOwner: aws.String(owner),
		VpcEndpointState: types.State(state), CreationTimestamp: aws.Time(Created(len(f.Conns))),
		VpcEndpointRegion: aws.String(region),
	}
}

// State returns the state of endpoint id's connection, "missing" when
// there is none.
func (f *EC2) State(id string) string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if c, ok := f.Conns[id]; ok {
		return string(c.VpcEndpointState)
	}
	return "missing"
}

// States returns the state of every connection, by endpoint ID.
func (f *EC2) States() map[string]string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	out := make(map[string]string, len(f.Conns))
	for id, c := range f.Conns {
		out[id] = string(c.VpcEndpointState)
	}
	return out
}

// DescribeVpcEndpointConnections is the EC2 API call, on the fake's connections.
func (f *EC2) DescribeVpcEndpointConnections(_ context.Context, in *ec2.DescribeVpcEndpointConnectionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointConnectionsOutput, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Calls = append(f.Calls, "Describe")
	f.Filters = append(f.Filters, in.Filters)
	if err := f.FailCall["Describe"]; err != nil {
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
			if err := f.FailDescribe[svc]; err != nil && page > f.PagesBefore {
				return nil, err
			}
		}
	}
	var ids []string
	for id := range f.Conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var match []types.VpcEndpointConnection
	for _, id := range ids {
		c := f.Conns[id]
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
			for _, k := range slices.Sorted(maps.Keys(f.Tags[ConnectionID(id)])) {
				cc.Tags = append(cc.Tags, types.Tag{Key: aws.String(k), Value: aws.String(f.Tags[ConnectionID(id)][k])})
			}
			match = append(match, cc)
		}
	}
	start := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &start)
	}
	end := min(start+f.PageSize, len(match))
	out := &ec2.DescribeVpcEndpointConnectionsOutput{VpcEndpointConnections: match[start:end]}
	if end < len(match) {
		out.NextToken = aws.String(fmt.Sprint(end))
	}
	return out, nil
}

// DescribeVpcEndpointServiceConfigurations is the EC2 API call, on the fake's connections.
func (f *EC2) DescribeVpcEndpointServiceConfigurations(_ context.Context, in *ec2.DescribeVpcEndpointServiceConfigurationsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServiceConfigurationsOutput, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Calls = append(f.Calls, "DescribeServices")
	if err := f.FailCall["DescribeServices"]; err != nil {
		return nil, err
	}
	ids := in.ServiceIds
	if len(ids) == 0 {
		ids = f.Owned
	}
	out := &ec2.DescribeVpcEndpointServiceConfigurationsOutput{}
	for _, s := range ids {
		if !slices.Contains(f.Owned, s) {
			return nil, &smithy.GenericAPIError{Code: "InvalidVpcEndpointServiceId.NotFound", Message: s + " does not exist"}
		}
		c := types.ServiceConfiguration{ServiceId: aws.String(s), AcceptanceRequired: aws.Bool(!f.Open[s])}
		for _, k := range slices.Sorted(maps.Keys(f.ServiceTags[s])) {
			c.Tags = append(c.Tags, types.Tag{Key: aws.String(k), Value: aws.String(f.ServiceTags[s][k])})
		}
		out.ServiceConfigurations = append(out.ServiceConfigurations, c)
	}
	return out, nil
}

func (f *EC2) decide(op, svc string, ids []string, to string, from ...string) ([]types.UnsuccessfulItem, error) {
	if f.BeforeApply != nil {
		f.BeforeApply(f)
	}
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Calls = append(f.Calls, op)
	if err := f.FailCall[op]; err != nil {
		return nil, err
	}
	var bad []types.UnsuccessfulItem
	for _, id := range ids {
		c, ok := f.Conns[id]
		code := f.Unsuccessful[id]
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
	if f.ApplyThenFail != nil {
		return nil, f.ApplyThenFail
	}
	return bad, nil
}

// CreateTags is the EC2 API call, on the fake's connections.
func (f *EC2) CreateTags(_ context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Calls = append(f.Calls, "CreateTags")
	f.TagCalls = append(f.TagCalls, in)
	if err := f.FailCall["CreateTags"]; err != nil {
		return nil, err
	}
	for _, id := range in.Resources {
		if f.Tags[id] == nil {
			f.Tags[id] = map[string]string{}
		}
		for _, t := range in.Tags {
			f.Tags[id][aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return &ec2.CreateTagsOutput{}, nil
}

// DeleteTags is the EC2 API call, on the fake's connections.
func (f *EC2) DeleteTags(_ context.Context, in *ec2.DeleteTagsInput, _ ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Calls = append(f.Calls, "DeleteTags")
	f.UntagCalls = append(f.UntagCalls, in)
	for _, id := range in.Resources {
		for _, t := range in.Tags {
			delete(f.Tags[id], aws.ToString(t.Key))
		}
	}
	return &ec2.DeleteTagsOutput{}, nil
}

// Stamp returns the tags of endpoint id's connection.
func (f *EC2) Stamp(id string) map[string]string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return maps.Clone(f.Tags[ConnectionID(id)])
}

// AcceptVpcEndpointConnections is the EC2 API call, on the fake's connections.
func (f *EC2) AcceptVpcEndpointConnections(_ context.Context, in *ec2.AcceptVpcEndpointConnectionsInput, _ ...func(*ec2.Options)) (*ec2.AcceptVpcEndpointConnectionsOutput, error) {
	f.Accepted = append(f.Accepted, in.VpcEndpointIds)
	bad, err := f.decide("Accept", aws.ToString(in.ServiceId), in.VpcEndpointIds, "available", "pendingAcceptance")
	if err != nil {
		return nil, err
	}
	return &ec2.AcceptVpcEndpointConnectionsOutput{Unsuccessful: bad}, nil
}

// RejectVpcEndpointConnections is the EC2 API call, on the fake's connections.
func (f *EC2) RejectVpcEndpointConnections(_ context.Context, in *ec2.RejectVpcEndpointConnectionsInput, _ ...func(*ec2.Options)) (*ec2.RejectVpcEndpointConnectionsOutput, error) {
	f.Rejected = append(f.Rejected, in.VpcEndpointIds)
	bad, err := f.decide("Reject", aws.ToString(in.ServiceId), in.VpcEndpointIds, "rejected", "pendingAcceptance", "pending", "available")
	if err != nil {
		return nil, err
	}
	return &ec2.RejectVpcEndpointConnectionsOutput{Unsuccessful: bad}, nil
}

// DescribeVpcEndpointConnectionNotifications is the EC2 API call, on the
// fake's notifications (every one for Connect events).
func (f *EC2) DescribeVpcEndpointConnectionNotifications(context.Context, *ec2.DescribeVpcEndpointConnectionNotificationsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointConnectionNotificationsOutput, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Calls = append(f.Calls, "DescribeNotifications")
	if err := f.FailCall["DescribeNotifications"]; err != nil {
		return nil, err
	}
	out := &ec2.DescribeVpcEndpointConnectionNotificationsOutput{}
	for _, svc := range slices.Sorted(maps.Keys(f.Notifications)) {
		for i, topic := range f.Notifications[svc] {
			out.ConnectionNotificationSet = append(out.ConnectionNotificationSet, types.ConnectionNotification{
				ConnectionNotificationId: aws.String(notificationID(svc, i)),
				ServiceId:                aws.String(svc), ConnectionNotificationArn: aws.String(topic), ConnectionEvents: []string{"Connect"}})
		}
	}
	return out, nil
}

// CreateVpcEndpointConnectionNotification is the EC2 API call, on the
// fake's notifications.
func (f *EC2) CreateVpcEndpointConnectionNotification(_ context.Context, in *ec2.CreateVpcEndpointConnectionNotificationInput, _ ...func(*ec2.Options)) (*ec2.CreateVpcEndpointConnectionNotificationOutput, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Calls = append(f.Calls, "CreateNotification")
	if err := f.FailCall["CreateNotification"]; err != nil {
		return nil, err
	}
	svc := aws.ToString(in.ServiceId)
	f.Notifications[svc] = append(f.Notifications[svc], aws.ToString(in.ConnectionNotificationArn))
	return &ec2.CreateVpcEndpointConnectionNotificationOutput{}, nil
}

// notificationID is the ID the fake gives svc's i-th notification.
func notificationID(svc string, i int) string {
	return fmt.Sprintf("vpce-nfn-%s-%d", strings.TrimPrefix(svc, "vpce-svc-"), i)
}

// DeleteVpcEndpointConnectionNotifications is the EC2 API call, on the
// fake's notifications: an unknown ID is an unsuccessful item.
func (f *EC2) DeleteVpcEndpointConnectionNotifications(_ context.Context, in *ec2.DeleteVpcEndpointConnectionNotificationsInput, _ ...func(*ec2.Options)) (*ec2.DeleteVpcEndpointConnectionNotificationsOutput, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Calls = append(f.Calls, "DeleteNotifications")
	if err := f.FailCall["DeleteNotifications"]; err != nil {
		return nil, err
	}
	doomed := map[string]bool{}
	for _, id := range in.ConnectionNotificationIds {
		doomed[id] = true
	}
	for svc, topics := range f.Notifications {
		var kept []string
		for i, topic := range topics {
			if id := notificationID(svc, i); doomed[id] {
				delete(doomed, id)
				continue
			}
			kept = append(kept, topic)
		}
		f.Notifications[svc] = kept
	}
	out := &ec2.DeleteVpcEndpointConnectionNotificationsOutput{}
	for _, id := range slices.Sorted(maps.Keys(doomed)) {
		out.Unsuccessful = append(out.Unsuccessful, types.UnsuccessfulItem{ResourceId: aws.String(id),
			Error: &types.UnsuccessfulItemError{Code: aws.String("InvalidConnectionNotification"), Message: aws.String("no such notification")}})
	}
	return out, nil
}

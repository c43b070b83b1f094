package approver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

// serviceRead is what EC2 said of one service's connections: the pending
// requests and, when asked for, the accepted connections. A read that
// failed (any page of it) yields no connections at all, never a part.
type serviceRead struct {
	svc      string
	pending  []types.VpcEndpointConnection
	accepted []types.VpcEndpointConnection
	err      error
	// regions are the Regions its service supports, when the policy names
	// Regions and a connection has no VpcEndpointRegion (learnRegions);
	// regionsUnknown when they could not be read.
	regions        *[]string
	regionsUnknown bool
}

// coverage is the managed services one reconcile covers, sorted, and how
// their connections are read.
type coverage struct {
	services []string
	// byID reads with a service-id filter, 200 services a call: the
	// services were listed (SERVICE_IDS) or named by an event. Otherwise
	// every connection of the account is read, and those of services not
	// managed are dropped.
	byID bool
	// unknownDropped counts the service IDs an event named that were
	// neither known nor looked up (beyond MaxServiceLookups).
	unknownDropped int
	// open are the managed services that do not require acceptance, when
	// this reconcile read their configurations (openCounted).
	open        []string
	openCounted bool
}

// readAll reads the connections of every covered service in as few calls
// as EC2 allows: DescribeVpcEndpointConnections filtered by state (and by
// service-id when byID), every page, grouped by service here. Pending
// requests only, or, withAccepted, the accepted connections too (EC2 states
// pending and available), in the same call. A failed call (any page of it)
// leaves every service it covered unread.
func (a *Approver) readAll(ctx context.Context, cov coverage, withAccepted bool) []serviceRead {
	states := []string{statePendingAcceptance}
	if withAccepted {
		states = append(states, statePending, stateAvailable)
	}
	reads := make([]serviceRead, len(cov.services))
	index := make(map[string]int, len(cov.services))
	for i, svc := range cov.services {
		reads[i] = serviceRead{svc: svc}
		index[svc] = i
	}
	if len(cov.services) == 0 {
		return reads
	}
	calls := [][]string{cov.services}
	if cov.byID {
		calls = slices.Collect(slices.Chunk(cov.services, vpcendpoints.MaxFilterValues))
	}
	for _, covered := range calls {
		filters := []types.Filter{{Name: aws.String("vpc-endpoint-state"), Values: states}}
		if cov.byID {
			filters = append(filters, types.Filter{Name: aws.String("service-id"), Values: covered})
		}
		conns, err := a.ec2.Connections(ctx, filters)
		if err != nil {
			for _, svc := range covered {
				reads[index[svc]].err = fmt.Errorf("describe the connections of %s: %w", svc, err)
			}
			continue
		}
		inCall := make(map[string]bool, len(covered))
		for _, svc := range covered {
			inCall[svc] = true
		}
		for _, c := range conns {
			svc := aws.ToString(c.ServiceId)
			// Trust, but verify: never act on a connection of another
			// service or state because a filter was ignored, nor twice on
			// one that several calls returned.
			if !inCall[svc] || !inStates(states, c.VpcEndpointState) {
				continue
			}
			i := index[svc]
			if strings.EqualFold(string(c.VpcEndpointState), statePendingAcceptance) {
				reads[i].pending = append(reads[i].pending, c)
			} else {
				reads[i].accepted = append(reads[i].accepted, c)
			}
		}
	}
	return reads
}

func inStates(states []string, state types.State) bool {
	return slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, string(state)) })
}

// connections describes connections of svc, only the endpoints ids (200 a
// call), in any state.
func (a *Approver) connections(ctx context.Context, svc string, ids []string) ([]types.VpcEndpointConnection, error) {
	var out []types.VpcEndpointConnection
	for batch := range slices.Chunk(ids, vpcendpoints.MaxFilterValues) {
		conns, err := a.ec2.Connections(ctx, []types.Filter{
			{Name: aws.String("service-id"), Values: []string{svc}},
			{Name: aws.String("vpc-endpoint-id"), Values: batch},
		})
		if err != nil {
			return nil, err
		}
		for _, c := range conns {
			if aws.ToString(c.ServiceId) == svc {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

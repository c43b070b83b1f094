package approver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// serviceRead is what EC2 said of one service's connections: the pending
// requests and, when asked for, the accepted connections. A read that
// failed (any page of it) yields no connections at all, never a part.
type serviceRead struct {
	svc      string
	pending  []types.VpcEndpointConnection
	accepted []types.VpcEndpointConnection
	err      error
}

// readAll reads every service's connections: pending requests only, or,
// withAccepted, the accepted ones too (EC2 states pending and available), in
// the same Describe.
func (a *Approver) readAll(ctx context.Context, services []string, withAccepted bool) []serviceRead {
	states := []string{statePendingAcceptance}
	if withAccepted {
		states = append(states, statePending, stateAvailable)
	}
	reads := make([]serviceRead, 0, len(services))
	for _, svc := range services {
		r := serviceRead{svc: svc}
		conns, err := a.connections(ctx, svc, states, nil)
		if err != nil {
			r.err = fmt.Errorf("describe the connections of %s: %w", svc, err)
			reads = append(reads, r)
			continue
		}
		for _, c := range conns {
			if strings.EqualFold(string(c.VpcEndpointState), statePendingAcceptance) {
				r.pending = append(r.pending, c)
			} else {
				r.accepted = append(r.accepted, c)
			}
		}
		reads = append(reads, r)
	}
	return reads
}

// ownedServices lists every endpoint service of the account and region.
func (a *Approver) ownedServices(ctx context.Context) ([]string, error) {
	var ids []string
	pages := ec2.NewDescribeVpcEndpointServiceConfigurationsPaginator(a.ec2, &ec2.DescribeVpcEndpointServiceConfigurationsInput{
		MaxResults: aws.Int32(maxPage),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the account's endpoint services: %w", err)
		}
		for _, s := range page.ServiceConfigurations {
			ids = append(ids, aws.ToString(s.ServiceId))
		}
	}
	return ids, nil
}

// connections describes connections of svc, only those in states when
// given, and only the endpoints ids when given, following every page. Any
// failed page fails the whole read.
func (a *Approver) connections(ctx context.Context, svc string, states, ids []string) ([]types.VpcEndpointConnection, error) {
	filters := []types.Filter{{Name: aws.String("service-id"), Values: []string{svc}}}
	if len(states) > 0 {
		filters = append(filters, types.Filter{Name: aws.String("vpc-endpoint-state"), Values: states})
	}
	idBatches := [][]string{nil}
	if len(ids) > 0 {
		idBatches = slices.Collect(slices.Chunk(ids, maxFilterValues))
	}
	inStates := func(state types.State) bool {
		return len(states) == 0 || slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, string(state)) })
	}
	var out []types.VpcEndpointConnection
	for _, batch := range idBatches {
		f := filters
		if batch != nil {
			f = append(slices.Clip(filters), types.Filter{Name: aws.String("vpc-endpoint-id"), Values: batch})
		}
		pages := ec2.NewDescribeVpcEndpointConnectionsPaginator(a.ec2, &ec2.DescribeVpcEndpointConnectionsInput{
			Filters:    f,
			MaxResults: aws.Int32(maxPage),
		})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, c := range page.VpcEndpointConnections {
				// Trust, but verify: never act on a connection of another
				// service or state because a filter was ignored.
				if aws.ToString(c.ServiceId) != svc || !inStates(c.VpcEndpointState) {
					continue
				}
				out = append(out, c)
			}
		}
	}
	return out, nil
}

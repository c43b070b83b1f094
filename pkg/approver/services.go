package approver

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
)

// hasTag reports whether tags carry the filter's tag.
func hasTag(f awsid.TagFilter, tags []types.Tag) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == f.Key && (f.AnyValue || aws.ToString(t.Value) == f.Value) {
			return true
		}
	}
	return false
}

// serviceCache is the list of managed services a sweep read, kept for the
// invocations between sweeps in this execution environment.
type serviceCache struct {
	mu  sync.Mutex
	ids map[string]bool
	at  time.Time
}

// servicesFor returns the managed services the request asks for, sorted,
// and how to read them. Which services are managed: SERVICE_IDS; or those
// of the account and region that carry ServiceTag (whatever their
// acceptance setting: the owner opted in); or, without either, those that
// require acceptance. A service the request names that is not managed is
// left alone.
func (a *Approver) servicesFor(ctx context.Context, req Request) (coverage, error) {
	if len(a.cfg.ServiceIDs) > 0 {
		listed := slices.Sorted(slices.Values(a.cfg.ServiceIDs))
		listed = slices.Compact(listed)
		if req.All {
			return coverage{services: listed, byID: true}, nil
		}
		return coverage{services: a.named(ctx, req, func(svc string) bool { _, ok := slices.BinarySearch(listed, svc); return ok }), byID: true}, nil
	}
	if req.All {
		ids, err := a.listManaged(ctx, req.Sweep)
		if err != nil {
			return coverage{}, err
		}
		return coverage{services: ids}, nil
	}
	managed, err := a.confirmManaged(ctx, req.Services)
	if err != nil {
		return coverage{}, err
	}
	return coverage{services: a.named(ctx, req, func(svc string) bool { return managed[svc] }), byID: true}, nil
}

// named returns the services the request names that are managed, sorted,
// logging the others.
func (a *Approver) named(ctx context.Context, req Request, managed func(string) bool) []string {
	out := []string{} // never nil: "services": [] in the summary
	for _, svc := range req.Services {
		if managed(svc) {
			out = append(out, svc)
		} else {
			a.log.InfoContext(ctx, "service not managed: left alone", "serviceId", svc, "trigger", req.Trigger)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// listManaged lists the managed services of the account and region (one
// DescribeVpcEndpointServiceConfigurations per 1,000 services), sorted. A
// sweep always reads the list; other invocations use the one the last
// sweep read when it is younger than a sweep period.
func (a *Approver) listManaged(ctx context.Context, sweep bool) ([]string, error) {
	a.managed.mu.Lock()
	defer a.managed.mu.Unlock()
	if !sweep && a.managed.ids != nil && a.now().Sub(a.managed.at) < a.cfg.SweepPeriod {
		return slices.Sorted(maps.Keys(a.managed.ids)), nil
	}
	configs, err := a.ec2.ServiceConfigurations(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("list the account's endpoint services: %w", err)
	}
	ids := map[string]bool{}
	for _, c := range configs {
		if a.isManaged(c) {
			ids[aws.ToString(c.ServiceId)] = true
		}
	}
	a.managed.ids, a.managed.at = ids, a.now()
	return slices.Sorted(maps.Keys(ids)), nil
}

// confirmManaged says which of the named services are managed: those in
// the list the last sweep read, and, for the others, what their own
// configurations say. It never lists every service.
func (a *Approver) confirmManaged(ctx context.Context, named []string) (map[string]bool, error) {
	a.managed.mu.Lock()
	defer a.managed.mu.Unlock()
	fresh := a.managed.ids != nil && a.now().Sub(a.managed.at) < a.cfg.SweepPeriod
	managed := map[string]bool{}
	var unknown []string
	for _, svc := range named {
		if fresh && a.managed.ids[svc] {
			managed[svc] = true
		} else {
			unknown = append(unknown, svc)
		}
	}
	slices.Sort(unknown)
	unknown = slices.Compact(unknown)
	if len(unknown) == 0 {
		return managed, nil
	}
	configs, err := a.ec2.ServiceConfigurations(ctx, unknown)
	if err != nil {
		return nil, fmt.Errorf("describe the endpoint services %s: %w", strings.Join(unknown, ", "), err)
	}
	for _, c := range configs {
		if a.isManaged(c) {
			svc := aws.ToString(c.ServiceId)
			managed[svc] = true
			if a.managed.ids != nil {
				a.managed.ids[svc] = true
			}
		}
	}
	return managed, nil
}

// isManaged applies the rule to one service configuration.
func (a *Approver) isManaged(c types.ServiceConfiguration) bool {
	if a.cfg.ServiceTag != nil {
		return hasTag(*a.cfg.ServiceTag, c.Tags)
	}
	return aws.ToBool(c.AcceptanceRequired)
}

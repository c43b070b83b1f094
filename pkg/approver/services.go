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
	// regions are the SupportedRegions of the services whose
	// configurations were read, managed or not.
	regions map[string]supportedRegions
	// unmanaged are the services named by events that were looked up and
	// are not managed (or not the account's), with when: not looked up
	// again for a sweep period.
	unmanaged map[string]time.Time
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
			cov := coverage{services: listed, byID: true}
			if req.Sweep {
				cov.open, cov.openCounted = a.openListed(ctx, listed)
			}
			return cov, nil
		}
		return coverage{services: a.named(ctx, req, func(svc string) bool { _, ok := slices.BinarySearch(listed, svc); return ok }), byID: true}, nil
	}
	if req.All {
		ids, open, err := a.listManaged(ctx, req.Sweep)
		if err != nil {
			return coverage{}, err
		}
		return coverage{services: ids, open: open, openCounted: req.Sweep}, nil
	}
	managed, dropped, err := a.confirmManaged(ctx, req.Services)
	if err != nil {
		return coverage{}, err
	}
	if dropped > 0 {
		a.log.WarnContext(ctx, "service IDs not looked up: more unknown IDs than one invocation looks up", "trigger", req.Trigger,
			"unknownServiceIds", dropped, "maxServiceLookups", MaxServiceLookups)
	}
	return coverage{services: a.named(ctx, req, func(svc string) bool { return managed[svc] }), byID: true, unknownDropped: dropped}, nil
}

// named returns the services the request names that are managed, sorted,
// logging the others.
func (a *Approver) named(ctx context.Context, req Request, managed func(string) bool) []string {
	out := []string{} // never nil: "services": [] in the summary
	var others []string
	for _, svc := range req.Services {
		if managed(svc) {
			out = append(out, svc)
		} else {
			others = append(others, svc)
		}
	}
	// One line, however many IDs an event names (a forged message may name
	// thousands): not managed, not the account's, or not looked up.
	switch {
	case len(others) == 1:
		a.log.InfoContext(ctx, "service not managed: left alone", "serviceId", others[0], "trigger", req.Trigger)
	case len(others) > 1:
		a.log.InfoContext(ctx, "services not managed: left alone", "serviceIds", others[:min(len(others), 10)], "count", len(others), "trigger", req.Trigger)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// listManaged lists the managed services of the account and region (one
// DescribeVpcEndpointServiceConfigurations per 1,000 services), sorted. A
// sweep always reads the list; other invocations use the one the last
// sweep read when it is younger than a sweep period.
// It also returns, when it read the list, the managed services that do not
// require acceptance (with ServiceTag, a tagged service may not).
func (a *Approver) listManaged(ctx context.Context, sweep bool) ([]string, []string, error) {
	a.managed.mu.Lock()
	defer a.managed.mu.Unlock()
	if !sweep && a.managed.ids != nil && a.now().Sub(a.managed.at) < a.cfg.SweepPeriod {
		return slices.Sorted(maps.Keys(a.managed.ids)), nil, nil
	}
	configs, err := a.ec2.ServiceConfigurations(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("list the account's endpoint services: %w", err)
	}
	a.regionsOf(configs, a.now())
	ids := map[string]bool{}
	open := []string{}
	for _, c := range configs {
		if a.isManaged(c) {
			ids[aws.ToString(c.ServiceId)] = true
			if !aws.ToBool(c.AcceptanceRequired) {
				open = append(open, aws.ToString(c.ServiceId))
			}
		}
	}
	a.managed.ids, a.managed.at = ids, a.now()
	slices.Sort(open)
	return slices.Sorted(maps.Keys(ids)), open, nil
}

// openListed reads the configurations of the services SERVICE_IDS lists
// (once a sweep) and returns those that do not require acceptance; ok is
// false when they could not be read.
func (a *Approver) openListed(ctx context.Context, listed []string) ([]string, bool) {
	a.managed.mu.Lock()
	defer a.managed.mu.Unlock()
	configs, err := a.ec2.ServiceConfigurations(ctx, listed)
	if err != nil {
		a.log.WarnContext(ctx, "the listed services' configurations could not be read: whether they require acceptance is not known", "error", err.Error())
		return nil, false
	}
	a.regionsOf(configs, a.now())
	open := []string{}
	for _, c := range configs {
		if !aws.ToBool(c.AcceptanceRequired) {
			open = append(open, aws.ToString(c.ServiceId))
		}
	}
	slices.Sort(open)
	return open, true
}

// MaxServiceLookups is the most service IDs one invocation looks up that it
// does not already know as managed or not: anyone who can publish to the
// notification topic can name thousands, and each costs a
// DescribeVpcEndpointServiceConfigurations call when it is not the
// account's.
const MaxServiceLookups = 20

// confirmManaged says which of the named services are managed: those in
// the list the last sweep read, and, for the others, what their own
// configurations say, for at most MaxServiceLookups of them, taken in the
// order named (the invocation interleaves its messages' IDs, so that one
// message naming thousands cannot crowd out the others). IDs found
// unmanaged are remembered for a sweep period; those beyond the budget are
// dropped (the count is returned). It never lists every service.
func (a *Approver) confirmManaged(ctx context.Context, named []string) (map[string]bool, int, error) {
	a.managed.mu.Lock()
	defer a.managed.mu.Unlock()
	now := a.now()
	fresh := a.managed.ids != nil && now.Sub(a.managed.at) < a.cfg.SweepPeriod
	for svc, at := range a.managed.unmanaged {
		if now.Sub(at) >= a.cfg.SweepPeriod {
			delete(a.managed.unmanaged, svc)
		}
	}
	managed := map[string]bool{}
	var unknown []string
	seen := map[string]bool{}
	dropped := 0
	for _, svc := range named {
		if seen[svc] {
			continue
		}
		seen[svc] = true
		_, unmanaged := a.managed.unmanaged[svc]
		switch {
		case fresh && a.managed.ids[svc]:
			managed[svc] = true
		case unmanaged:
		case len(unknown) < MaxServiceLookups:
			unknown = append(unknown, svc)
		default:
			dropped++
		}
	}
	slices.Sort(unknown)
	if len(unknown) == 0 {
		return managed, dropped, nil
	}
	configs, err := a.ec2.ServiceConfigurations(ctx, unknown)
	if err != nil {
		return nil, dropped, fmt.Errorf("describe the endpoint services %s: %w", strings.Join(unknown, ", "), err)
	}
	a.regionsOf(configs, now)
	for _, c := range configs {
		if a.isManaged(c) {
			svc := aws.ToString(c.ServiceId)
			managed[svc] = true
			if a.managed.ids != nil {
				a.managed.ids[svc] = true
			}
		}
	}
	if a.cfg.SweepPeriod > 0 {
		if a.managed.unmanaged == nil {
			a.managed.unmanaged = map[string]time.Time{}
		}
		for _, svc := range unknown {
			if !managed[svc] {
				a.managed.unmanaged[svc] = now
			}
		}
	}
	return managed, dropped, nil
}

// isManaged applies the rule to one service configuration.
func (a *Approver) isManaged(c types.ServiceConfiguration) bool {
	if a.cfg.ServiceTag != nil {
		return hasTag(*a.cfg.ServiceTag, c.Tags)
	}
	return aws.ToBool(c.AcceptanceRequired)
}

package approver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// A connection's Region is VpcEndpointRegion. The EC2 API reference does
// not say that EC2 always sends it for a connection from another Region, so
// a connection without it is from the provider's own Region only when its
// service accepts no other Region (SupportedRegions, from
// DescribeVpcEndpointServiceConfigurations). Otherwise it is decided only
// when the policy decides it alike in every Region it could be from; else
// it is left pending until EC2 reports the Region.

// supportedRegions is what one service's configuration says of the Regions
// it accepts connections from, and when it was read.
type supportedRegions struct {
	regions []string
	at      time.Time
}

// regionsOf records the SupportedRegions of each configuration read.
// Called with a.managed.mu held.
func (a *Approver) regionsOf(configs []types.ServiceConfiguration, at time.Time) {
	if a.managed.regions == nil {
		a.managed.regions = map[string]supportedRegions{}
	}
	for _, c := range configs {
		var regions []string
		for _, r := range c.SupportedRegions {
			if name := aws.ToString(r.Region); name != "" {
				regions = append(regions, name)
			}
		}
		slices.Sort(regions)
		a.managed.regions[aws.ToString(c.ServiceId)] = supportedRegions{regions: slices.Compact(regions), at: at}
	}
}

// learnRegions sets, on each read, the Regions a connection of its service
// with no VpcEndpointRegion could be from. Only when the policy names
// Regions and such a connection is read: otherwise nothing is read and the
// Region does not matter. A sweep uses what it read in this invocation
// (listing the services reads them) or reads the configurations once;
// other invocations use what the last sweep read, if it is younger than a
// sweep period. A configuration that cannot be read leaves every Region
// possible.
func (a *Approver) learnRegions(ctx context.Context, loaded *policy.Loaded, reads []serviceRead, sweep bool, start time.Time) {
	if len(loaded.Policy.Regions()) == 0 {
		return
	}
	var need []int
	// newest is, by service, the creation of its newest connection with no
	// Region: a configuration read before it may predate a Region added
	// for it.
	newest := map[string]time.Time{}
	for i, r := range reads {
		if r.err != nil {
			continue
		}
		for _, c := range slices.Concat(r.pending, r.accepted) {
			if noRegion(c) {
				newest[r.svc] = latest(newest[r.svc], aws.ToTime(c.CreationTimestamp))
			}
		}
		if _, ok := newest[r.svc]; ok {
			need = append(need, i)
		}
	}
	if len(need) == 0 {
		return
	}
	a.managed.mu.Lock()
	defer a.managed.mu.Unlock()
	fresh := func(svc string) bool {
		k, ok := a.managed.regions[svc]
		return ok && !k.at.Before(newest[svc]) && (!k.at.Before(start) || !sweep && a.now().Sub(k.at) < a.cfg.SweepPeriod)
	}
	var unknown []string
	for _, i := range need {
		if !fresh(reads[i].svc) {
			unknown = append(unknown, reads[i].svc)
		}
	}
	if len(unknown) > 0 {
		configs, err := a.ec2.ServiceConfigurations(ctx, unknown)
		if err != nil {
			a.log.WarnContext(ctx, "endpoint service configurations not read: a connection with no VpcEndpointRegion may be from any Region",
				"services", unknown, "error", err.Error())
		} else {
			a.regionsOf(configs, a.now())
		}
	}
	for _, i := range need {
		svc := reads[i].svc
		if k, ok := a.managed.regions[svc]; ok && fresh(svc) {
			reads[i].regions, reads[i].regionsUnknown = &k.regions, false
		} else {
			reads[i].regions = nil
			reads[i].regionsUnknown = true
		}
	}
}

func noRegion(c types.VpcEndpointConnection) bool { return aws.ToString(c.VpcEndpointRegion) == "" }

// candidateRegions are the Regions a connection of r with no
// VpcEndpointRegion could be from: the provider's, and the others its
// service supports; or, when its configuration could not be read, every
// Region the policy names and one it does not ("").
func (a *Approver) candidateRegions(r serviceRead, p *policy.Policy) []string {
	switch {
	case r.regionsUnknown:
		return append([]string{a.cfg.Region, ""}, p.Regions()...)
	case r.regions == nil:
		return nil // the policy names no Region: it does not matter
	}
	out := []string{a.cfg.Region}
	for _, region := range *r.regions {
		if region != a.cfg.Region {
			out = append(out, region)
		}
	}
	if len(out) == 1 {
		return nil // the provider's Region is the only one
	}
	return out
}

// regionUnknownDetail says why a request is left pending.
func regionUnknownDetail(candidates []string) string {
	named := make([]string, 0, len(candidates))
	other := false
	for _, c := range candidates {
		if c == "" {
			other = true
			continue
		}
		named = append(named, c)
	}
	where := strings.Join(named, ", ")
	if other {
		where = fmt.Sprintf("any Region (the service's configuration could not be read; the policy names %s)", where)
	}
	return "left pending: the consumer endpoint's Region is unknown (EC2 gave no VpcEndpointRegion), it could be from " + where +
		", and the policy decides differently among them; a later reconcile decides it once EC2 reports the Region"
}

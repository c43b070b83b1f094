package approver

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// plan is what one service's reconcile will do: its decisions, and which of
// them call Accept or Reject (those whose Result is still empty).
type plan struct {
	svc       string
	decisions []Outcome
	// err is a failure to read the service's connections: nothing is
	// decided for it.
	err error
}

// decideAll decides every service's read with the policy.
func (a *Approver) decideAll(loaded *LoadedPolicy, reads []serviceRead, req Request, now time.Time) []*plan {
	revoking := req.Sweep && loaded.Policy.Revoke
	plans := make([]*plan, 0, len(reads))
	for _, r := range reads {
		plans = append(plans, a.decide(loaded, r, req.Trigger, revoking, now))
	}
	return plans
}

// decide decides one service's connections, changing nothing: every pending
// request, and, when revoking, every accepted connection whose decision is
// now reject. It calls no AWS API.
func (a *Approver) decide(loaded *LoadedPolicy, r serviceRead, trigger string, revoking bool, now time.Time) *plan {
	pl := &plan{svc: r.svc, err: r.err}
	if r.err != nil {
		return pl
	}
	// Oldest first, then by ID: connection limits go to the earliest.
	pending, accepted := slices.Clone(r.pending), slices.Clone(r.accepted)
	slices.SortFunc(pending, byAge)
	slices.SortFunc(accepted, byAge)
	acceptedBy := map[string]int{}
	for _, c := range accepted {
		acceptedBy[aws.ToString(c.VpcEndpointOwner)]++
	}

	p := loaded.Policy
	pl.decisions = make([]Outcome, 0, len(pending))
	for _, c := range pending {
		d := a.newDecision(r.svc, trigger, c)
		d.PolicyParameter, d.PolicyVersion = loaded.Parameter, loaded.Version
		pd := p.Decide(policy.Request{Account: d.Owner, ServiceID: r.svc, EndpointID: d.EndpointID, Region: d.Region,
			Accepted: acceptedBy[d.Owner]}, now)
		d.Action, d.Rule, d.Reason = pd.Action, pd.Rule, pd.Reason()
		switch {
		case pd.Action == policy.Manual:
			d.Result = ResultLeftPending
		case a.cfg.DryRun:
			d.Result = ResultDryRun
		}
		if pd.Action == policy.Accept {
			acceptedBy[d.Owner]++ // counts toward the limit of later requests
		}
		pl.decisions = append(pl.decisions, d)
	}
	if !revoking {
		return pl
	}
	for _, c := range accepted {
		d := a.newDecision(r.svc, trigger, c)
		d.PolicyParameter, d.PolicyVersion = loaded.Parameter, loaded.Version
		pd := p.Decide(policy.Request{Account: d.Owner, ServiceID: r.svc, EndpointID: d.EndpointID, Region: d.Region,
			Existing: true}, now)
		switch {
		case pd.Action != policy.Reject:
			continue // accept keeps it; manual never revokes
		case d.acceptedByPerson() && pd.Rule == policy.DefaultRuleName:
			continue // a person's accept stands unless a reject rule names it
		}
		d.Action, d.Rule, d.Reason, d.Revoked = pd.Action, pd.Rule, "revoked: "+pd.Reason(), true
		if d.acceptedByPerson() {
			d.Reason += " (over a person's accept: a reject rule wins)"
		}
		if a.cfg.DryRun {
			d.Result = ResultDryRun
		}
		pl.decisions = append(pl.decisions, d)
	}
	return pl
}

func byAge(x, y types.VpcEndpointConnection) int {
	return cmp.Or(
		aws.ToTime(x.CreationTimestamp).Compare(aws.ToTime(y.CreationTimestamp)),
		strings.Compare(aws.ToString(x.VpcEndpointId), aws.ToString(y.VpcEndpointId)),
	)
}

// newDecision is the undecided outcome for connection c of svc.
func (a *Approver) newDecision(svc, trigger string, c types.VpcEndpointConnection) Outcome {
	d := Outcome{
		ServiceID:    svc,
		EndpointID:   aws.ToString(c.VpcEndpointId),
		ConnectionID: aws.ToString(c.VpcEndpointConnectionId),
		Owner:        aws.ToString(c.VpcEndpointOwner),
		Region:       cmp.Or(aws.ToString(c.VpcEndpointRegion), a.cfg.Region),
		Created:      aws.ToTime(c.CreationTimestamp),
		State:        string(c.VpcEndpointState),
		DryRun:       a.cfg.DryRun,
		Trigger:      trigger,
		tags:         ourTags(c.Tags),
	}
	d.AnnouncedAt = d.tags[TagAnnouncedAt]
	return d
}

// acts reports whether any plan calls Accept or Reject.
func acts(plans []*plan) bool {
	for _, pl := range plans {
		for _, d := range pl.decisions {
			if d.Result == "" {
				return true
			}
		}
	}
	return false
}

// revocations counts the plan's revocations, applied or not (dry run).
func (pl *plan) revocations() int {
	n := 0
	for _, d := range pl.decisions {
		if d.Revoked {
			n++
		}
	}
	return n
}

// holdRevocations marks the plan's revocations as not to be applied. A dry
// run's revocations are held too, so that it shows what a real sweep would
// do.
func (pl *plan) holdRevocations(why string) {
	for i := range pl.decisions {
		if d := &pl.decisions[i]; d.Revoked && (d.Result == "" || d.Result == ResultDryRun) {
			d.Result, d.Detail = ResultHeld, why
		}
	}
}

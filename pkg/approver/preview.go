package approver

import (
	"context"
	"errors"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// Verdicts of a policy on an accepted connection, in a PolicyChange.
const (
	VerdictKeep   = "keep"
	VerdictRevoke = "revoke"
)

// PolicyPlan is what storing a proposed policy would change, compared with
// the stored one, for the live connections of the managed services: like
// terraform plan, it changes nothing.
type PolicyPlan struct {
	Services []string `json:"services"`
	// CurrentVersion is the stored policy's version; empty when nothing
	// valid is stored (then every action the proposed policy takes is a
	// change, leaving a request to a person included).
	CurrentVersion string `json:"currentVersion,omitempty"`
	// Pending and Accepted count the connections read.
	Pending  int `json:"pending"`
	Accepted int `json:"accepted"`
	// Changes are the pending requests whose action would differ, and the
	// accepted connections the proposed policy would revoke that the stored
	// one would not.
	Changes []PolicyChange `json:"changes"`
	// Revocations is every revocation the next sweep would make under the
	// proposed policy; GuardHolds is whether they exceed its maxRevocations,
	// so that the sweep would revoke nothing and fail.
	Revocations    int  `json:"revocations"`
	MaxRevocations int  `json:"maxRevocations"`
	GuardHolds     bool `json:"guardHolds"`
	// Rejections is every pending request the next reconcile would reject
	// under the proposed policy; RejectionGuardHolds is whether they exceed
	// its maxRejections, so that it would reject none and fail.
	Rejections          int  `json:"rejections"`
	MaxRejections       int  `json:"maxRejections"`
	RejectionGuardHolds bool `json:"rejectionGuardHolds"`
	// Parts are the parts under the path the proposed policy would refuse,
	// miss or ignore; the services of a refused or missing one are held.
	Parts   []policy.PartIssue `json:"parts,omitempty"`
	Summary PlanSummary        `json:"summary"`
}

// PlanSummary counts the changes by what the proposed policy would do.
type PlanSummary struct {
	Accept int `json:"accept"`
	Reject int `json:"reject"`
	Manual int `json:"manual"`
	Revoke int `json:"revoke"`
}

// Changed reports whether storing the proposed policy would change anything.
func (p *PolicyPlan) Changed() bool { return len(p.Changes) > 0 }

// PolicyChange is one connection the proposed policy treats differently.
type PolicyChange struct {
	ServiceID  string `json:"serviceId"`
	EndpointID string `json:"endpointId"`
	Owner      string `json:"owner"`
	Region     string `json:"region"`
	State      string `json:"state"`
	// Current is the stored policy's verdict; nil when nothing valid is
	// stored.
	Current  *Verdict `json:"current"`
	Proposed Verdict  `json:"proposed"`
}

// Verdict is what a policy does with a connection: accept, reject or manual
// for a pending request, keep or revoke for an accepted connection, and by
// which rule.
type Verdict struct {
	Action string `json:"action"`
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// PlanPolicy compares what the proposed policy would do with the live
// connections of every managed service against what the current one does
// (nil when nothing valid is stored), as the sweep after storing it would:
// pending requests decided, and, when the proposed policy says revoke,
// accepted connections revoked. It fails when any service cannot be read,
// or any account a rule by organization or OU could decide cannot be looked
// up: a plan that misses connections would say "no change" wrongly.
func (a *Approver) PlanPolicy(ctx context.Context, current, proposed *policy.Loaded) (*PolicyPlan, error) {
	start := a.now()
	cov, err := a.servicesFor(ctx, Request{All: true})
	if err != nil {
		return nil, err
	}
	services := cov.services
	reads := a.readAll(ctx, cov, true)
	var errs []error
	out := &PolicyPlan{Services: services, Changes: []PolicyChange{}, MaxRevocations: proposed.Policy.MaxRevocations,
		MaxRejections: proposed.Policy.MaxRejections, Parts: proposed.Policy.Issues}
	for _, r := range reads {
		if r.err != nil {
			errs = append(errs, r.err)
		}
		out.Pending += len(r.pending)
		out.Accepted += len(r.accepted)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	now := a.now()
	sweep := Request{Trigger: "plan", All: true, Sweep: true}
	verdicts := map[string]Verdict{} // by endpoint ID, revocation or not
	key := func(d Outcome) string {
		if d.Revoked {
			return "revoke:" + d.EndpointID
		}
		return d.EndpointID
	}
	orgs := lookups{}
	var lookupErrs []error
	decideAll := func(loaded *policy.Loaded) []*plan {
		a.learnRegions(ctx, loaded, reads, true, start)
		if err := a.resolve(ctx, loaded, reads, sweep, now, orgs); err != nil {
			lookupErrs = append(lookupErrs, err)
			return nil
		}
		plans := a.decideAll(loaded, reads, sweep, now, orgs)
		for _, pl := range plans {
			if pl.lookupErr != nil {
				lookupErrs = append(lookupErrs, pl.lookupErr)
			}
		}
		return plans
	}
	var currentPlans []*plan
	if current != nil {
		out.CurrentVersion = current.Version
		currentPlans = decideAll(current)
	}
	proposedPlans := decideAll(proposed)
	if err := errors.Join(lookupErrs...); err != nil {
		// A plan that guessed where accounts are would say "no change"
		// wrongly.
		return nil, err
	}
	for _, pl := range currentPlans {
		for _, d := range pl.decisions {
			verdicts[key(d)] = verdictOf(d)
		}
	}
	for _, pl := range proposedPlans {
		for _, d := range pl.decisions {
			switch d.choice {
			case chooseRevoke:
				out.Revocations++
			case chooseReject:
				out.Rejections++
			}
			cur, known := verdicts[key(d)]
			var change bool
			switch {
			case current == nil:
				change = true // every action the proposed policy takes
			case d.Revoked:
				change = !known
			default:
				change = cur.Action != string(d.Action)
			}
			if !change {
				continue
			}
			c := PolicyChange{ServiceID: d.ServiceID, EndpointID: d.EndpointID, Owner: d.Owner, Region: d.Region, State: d.State,
				Proposed: verdictOf(d)}
			if current != nil {
				if d.Revoked {
					cur = Verdict{Action: VerdictKeep, Rule: "", Reason: "the stored policy does not revoke it"}
				}
				c.Current = &cur
			}
			out.Changes = append(out.Changes, c)
			switch {
			case d.Revoked:
				out.Summary.Revoke++
			case d.Action == policy.Accept:
				out.Summary.Accept++
			case d.Action == policy.Reject:
				out.Summary.Reject++
			default:
				out.Summary.Manual++
			}
		}
	}
	out.GuardHolds = out.Revocations > out.MaxRevocations
	out.RejectionGuardHolds = out.Rejections > out.MaxRejections
	return out, nil
}

func verdictOf(d Outcome) Verdict {
	if d.Revoked {
		return Verdict{Action: VerdictRevoke, Rule: d.Rule, Reason: d.Reason}
	}
	return Verdict{Action: string(d.Action), Rule: d.Rule, Reason: d.Reason}
}

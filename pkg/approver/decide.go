package approver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/privatelink-approver/privatelink-approver/pkg/membership"
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
	// lookupErr is the first failed membership lookup that left a
	// decision of the service undecided.
	lookupErr error
}

// lookups are the memberships one invocation looked up, by account.
type lookups map[string]membership.Result

// CodeNoMembership is the error code of an undecided request when the
// approver has no AWS Organizations client.
const CodeNoMembership = "NoOrganizationsClient"

// resolve looks up, once per invocation, the accounts whose decisions under
// loaded could depend on their place in the organization (known holds those
// looked up already). None when the policy has no rule by organization or
// OU; none for an account a reject rule naming it decides anyway.
func (a *Approver) resolve(ctx context.Context, loaded *policy.Loaded, reads []serviceRead, req Request, now time.Time, known lookups) {
	p := loaded.Policy
	if !p.HasOrganizationRules() {
		return
	}
	revoking := req.Sweep && p.Revoke
	var need []string
	asked := map[string]bool{}
	consider := func(svc string, c types.VpcEndpointConnection, existing bool) {
		d := a.newDecision(svc, "", c)
		if _, ok := known[d.Owner]; ok || asked[d.Owner] {
			return
		}
		if p.NeedsMembership(policy.Request{Account: d.Owner, ServiceID: svc, EndpointID: d.EndpointID, Region: d.Region, Existing: existing}, now) {
			asked[d.Owner] = true
			need = append(need, d.Owner)
		}
	}
	for _, r := range reads {
		for _, c := range r.pending {
			consider(r.svc, c, false)
		}
		if revoking {
			for _, c := range r.accepted {
				consider(r.svc, c, true)
			}
		}
	}
	if len(need) == 0 {
		return
	}
	if a.cfg.Membership == nil {
		for _, account := range need {
			known[account] = membership.Result{Err: &membership.LookupError{Account: account, Code: CodeNoMembership,
				Err: errors.New("the approver has no AWS Organizations client")}}
		}
		return
	}
	failed := 0
	for account, res := range a.cfg.Membership.Lookup(ctx, need) {
		known[account] = res
		if res.Err != nil {
			failed++
			a.log.WarnContext(ctx, "membership lookup failed", "trigger", req.Trigger, "owner", account, "error", res.Err.Error())
		}
	}
	a.log.DebugContext(ctx, "memberships looked up", "trigger", req.Trigger, "accounts", len(need), "failed", failed)
}

// decideAll decides every service's read with the policy and the
// memberships looked up.
func (a *Approver) decideAll(loaded *policy.Loaded, reads []serviceRead, req Request, now time.Time, orgs lookups) []*plan {
	revoking := req.Sweep && loaded.Policy.Revoke
	plans := make([]*plan, 0, len(reads))
	for _, r := range reads {
		plans = append(plans, a.decide(loaded, r, req.Trigger, revoking, now, orgs))
	}
	return plans
}

// memberOf is the account's membership as looked up: nil, with why, when
// the lookup failed (or the account was not looked up: nil, nil).
func (orgs lookups) memberOf(account string) (*policy.Membership, error) {
	res, ok := orgs[account]
	switch {
	case !ok:
		return nil, nil
	case res.Err != nil:
		return nil, res.Err
	}
	m := res.Membership
	return &m, nil
}

// undecided marks d as left undecided by a failed membership lookup: it
// stays as it is (pending, or accepted), and fails the invocation.
func (pl *plan) undecided(d *Outcome, pd policy.Decision, lookupErr error) {
	if lookupErr == nil {
		// Not looked up although needed: never happens, but never decide
		// on it either.
		lookupErr = &membership.LookupError{Account: d.Owner, Code: membership.CodeLookupFailed, Err: errors.New("the account was not looked up")}
	}
	d.Rule, d.Reason, d.Result, d.MembershipFailed = pd.UnresolvedRule, pd.Reason(), ResultFailed, true
	d.ErrorCode, d.Detail = membership.CodeLookupFailed, lookupErr.Error()
	var lerr *membership.LookupError
	if errors.As(lookupErr, &lerr) {
		d.ErrorCode = lerr.Code
	}
	if pl.lookupErr == nil {
		pl.lookupErr = fmt.Errorf("%s: requests left undecided: %w", pl.svc, lookupErr)
	}
}

// decide decides one service's connections, changing nothing: every pending
// request, and, when revoking, every accepted connection whose decision is
// now reject. It calls no AWS API.
func (a *Approver) decide(loaded *policy.Loaded, r serviceRead, trigger string, revoking bool, now time.Time, orgs lookups) *plan {
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
		org, lookupErr := orgs.memberOf(d.Owner)
		pd := p.Decide(policy.Request{Account: d.Owner, ServiceID: r.svc, EndpointID: d.EndpointID, Region: d.Region,
			Accepted: acceptedBy[d.Owner], Org: org}, now)
		d.OrgPath = orgPath(org)
		if pd.Unresolved {
			// Neither accepted nor rejected: it stays pending.
			pl.undecided(&d, pd, lookupErr)
			pl.decisions = append(pl.decisions, d)
			continue
		}
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
		org, lookupErr := orgs.memberOf(d.Owner)
		pd := p.Decide(policy.Request{Account: d.Owner, ServiceID: r.svc, EndpointID: d.EndpointID, Region: d.Region,
			Existing: true, Org: org}, now)
		d.OrgPath = orgPath(org)
		// A person's accept is revoked only by a rule; anything else, by
		// the default too.
		couldRevoke := pd.RuleCould(policy.Reject) || pd.Could(policy.Reject) && !d.acceptedByPerson()
		switch {
		case (pd.Unresolved || d.acceptedByPerson() && pd.Rule == policy.DefaultRuleName && lookupErr != nil) && couldRevoke:
			// It could be revoked: never on a failed lookup. It stays
			// accepted, and the sweep fails.
			// (A person's accept and a default reject: only a reject rule
			// by organization or OU could revoke it, and it is unknown.)
			pd.Unresolved = true
			d.Action, d.Revoked = policy.Reject, true
			pl.undecided(&d, pd, lookupErr)
			d.Reason = "not revoked: " + d.Reason
			pl.decisions = append(pl.decisions, d)
			continue
		case pd.Unresolved:
			continue // no revocation whatever the membership
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

// orgPath is the path of a membership looked up, "" for none.
func orgPath(m *policy.Membership) string {
	if m == nil {
		return ""
	}
	return m.Path()
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

// undecidedRevocations counts the revocations a failed membership lookup
// left undecided.
func (pl *plan) undecidedRevocations() int {
	n := 0
	for _, d := range pl.decisions {
		if d.Revoked && d.MembershipFailed {
			n++
		}
	}
	return n
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

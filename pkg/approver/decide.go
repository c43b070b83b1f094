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
	// held says why nothing on the service is decided: a part delegated
	// it is refused or missing.
	held string
}

// lookups are the memberships one invocation looked up, by account.
type lookups map[string]membership.Result

// CodeNoMembership is the error code of an undecided request when the
// approver has no AWS Organizations client.
const CodeNoMembership = "NoOrganizationsClient"

// resolve looks up, once per invocation, the accounts whose decisions under
// loaded could depend on their place in the organization (known holds those
// looked up already). None when the policy has no rule by organization or
// OU; none for an account a reject rule naming it decides anyway; none on a
// service a refused or missing part holds (nothing there is decided).
//
// Before the first lookup, the organizations and OUs the policy names are
// checked against the organization (the resolver keeps what it found valid
// for its cache period): a policy naming another organization, or an OU
// not in it, is not usable, and nothing is decided (an error matching
// policy.ErrNoPolicy). When the check itself fails, every account needed
// fails with it: their requests stay undecided.
func (a *Approver) resolve(ctx context.Context, loaded *policy.Loaded, reads []serviceRead, req Request, now time.Time, known lookups) error {
	p := loaded.Policy
	if !p.HasOrganizationRules() {
		return nil
	}
	revoking := req.Sweep && p.Revoke
	var need []string
	asked := map[string]bool{}
	consider := func(r serviceRead, c types.VpcEndpointConnection, existing bool) {
		d := a.newDecision(r.svc, "", c)
		if _, ok := known[d.Owner]; ok || asked[d.Owner] {
			return
		}
		regions := []string{d.Region}
		if noRegion(c) {
			regions = append(regions, a.candidateRegions(r, p)...)
		}
		for _, region := range regions {
			if p.NeedsMembership(policy.Request{Account: d.Owner, ServiceID: r.svc, EndpointID: d.EndpointID, Region: region, Existing: existing}, now) {
				asked[d.Owner] = true
				need = append(need, d.Owner)
				return
			}
		}
	}
	for _, r := range reads {
		if _, held := p.Held(r.svc); held {
			continue
		}
		for _, c := range r.pending {
			consider(r, c, false)
		}
		if revoking {
			for _, c := range r.accepted {
				consider(r, c, true)
			}
		}
	}
	if len(need) == 0 {
		return nil
	}
	if a.cfg.Membership == nil {
		for _, account := range need {
			known[account] = membership.Result{Err: &membership.LookupError{Account: account, Code: CodeNoMembership,
				Err: errors.New("the approver has no AWS Organizations client")}}
		}
		return nil
	}
	if err := a.cfg.Membership.Check(ctx, p.References()); err != nil {
		var rerr *membership.ReferenceError
		if errors.As(err, &rerr) {
			return fmt.Errorf("%w: policy %s version %s: %w", policy.ErrNoPolicy, loaded.Parameter, loaded.Version, err)
		}
		code := membership.CodeLookupFailed
		var lerr *membership.LookupError
		if errors.As(err, &lerr) {
			code = lerr.Code
		}
		a.log.WarnContext(ctx, "policy's organizations and OUs not checked", "trigger", req.Trigger, "error", err.Error())
		for _, account := range need {
			known[account] = membership.Result{Err: &membership.LookupError{Account: account, Code: code, Err: err}}
		}
		return nil
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
	return nil
}

// decideAll decides every service's read with the policy and the
// memberships looked up.
func (a *Approver) decideAll(loaded *policy.Loaded, reads []serviceRead, req Request, now time.Time, orgs lookups) []*plan {
	plans := make([]*plan, 0, len(reads))
	for _, r := range reads {
		plans = append(plans, a.decide(loaded, r, req, now, orgs))
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
// request, and, when revoking, every accepted connection. What each comes
// to is the decision table's (choose); the guards may hold some later. It
// calls no AWS API.
func (a *Approver) decide(loaded *policy.Loaded, r serviceRead, req Request, now time.Time, orgs lookups) *plan {
	revoking := req.Sweep && loaded.Policy.Revoke
	pl := &plan{svc: r.svc, err: r.err}
	if r.err != nil {
		return pl
	}
	p := loaded.Policy
	why, partHeld := p.Held(r.svc)
	if partHeld {
		pl.held = why
	}
	// Oldest first, then by ID: connection limits go to the earliest.
	pending, accepted := slices.Clone(r.pending), slices.Clone(r.accepted)
	slices.SortFunc(pending, byAge)
	slices.SortFunc(accepted, byAge)
	acceptedBy := map[string]int{}
	for _, c := range accepted {
		acceptedBy[aws.ToString(c.VpcEndpointOwner)]++
	}

	// evaluate decides one connection and records what the table chooses.
	evaluate := func(c types.VpcEndpointConnection, existing bool) {
		d := a.newDecision(r.svc, req.Trigger, c)
		d.PolicyParameter, d.PolicyVersion = loaded.Parameter, loaded.Version
		var pd policy.Decision
		var lookupErr error
		var candidates []string
		regionUnknown := false
		if !partHeld {
			var org *policy.Membership
			org, lookupErr = orgs.memberOf(d.Owner)
			asked := policy.Request{Account: d.Owner, ServiceID: r.svc, EndpointID: d.EndpointID, Region: d.Region, Existing: existing, Org: org}
			if !existing {
				asked.Accepted = acceptedBy[d.Owner]
			}
			pd = p.Decide(asked, now)
			d.OrgPath = orgPath(org)
			if noRegion(c) {
				candidates = a.candidateRegions(r, p)
			}
			if len(candidates) > 0 {
				// From the provider's Region or another: decided only
				// when every Region it could be from is decided alike.
				d.Region = ""
				for _, region := range candidates {
					asked.Region = region
					if other := p.Decide(asked, now); policyVerdict(other) != policyVerdict(pd) || other.Rule != pd.Rule || other.UnresolvedRule != pd.UnresolvedRule {
						regionUnknown = true
						break
					}
				}
			}
		}
		v := policyVerdict(pd)
		if regionUnknown {
			v = verdictRegionUnknown
		}
		d.situation = situation{Accepted: existing, PartHeld: partHeld, Verdict: v, Person: d.acceptedByPerson(),
			Predates: !req.Sweep && predates(d.Created, a.settledBefore(loaded, now))}
		ch := choose(d.situation)
		if ch == chooseKeep {
			return
		}
		if ch == chooseRegionUnknown {
			d.Detail = regionUnknownDetail(candidates)
		}
		pl.record(&d, ch, pd, lookupErr, a.cfg.DryRun)
		if req.Approved != nil && !a.cfg.DryRun && d.Result == "" && req.Approved[d.EndpointID] != d.Action {
			d.Result, d.Detail = ResultLeftPending, "not in the plan that was approved: nothing done; it is in the next plan"
		}
		if ch == chooseAccept {
			acceptedBy[d.Owner]++ // counts toward the limit of later requests
		}
		pl.decisions = append(pl.decisions, d)
	}
	pl.decisions = make([]Outcome, 0, len(pending))
	for _, c := range pending {
		evaluate(c, false)
	}
	if revoking {
		for _, c := range accepted {
			evaluate(c, true)
		}
	}
	return pl
}

// record sets what d's line says, and whether it is still to be applied
// (Result empty), for the table's choice ch.
func (pl *plan) record(d *Outcome, ch choice, pd policy.Decision, lookupErr error, dryRun bool) {
	d.choice = ch
	switch ch {
	case chooseHeldByPart:
		d.Result, d.Detail = ResultLeftPending, pl.held
		return
	case chooseRegionUnknown:
		d.Result, d.RegionUnknown = ResultLeftPending, true
		return
	case chooseUndecided:
		if d.situation.Accepted {
			// It could be revoked: never on a failed lookup. It stays
			// accepted, and the sweep fails.
			pd.Unresolved = true
			d.Action, d.Revoked = policy.Reject, true
			pl.undecided(d, pd, lookupErr)
			d.Reason = notRevokedPrefix + d.Reason
			return
		}
		pl.undecided(d, pd, lookupErr)
		return
	}
	d.Action, d.Rule, d.Reason = pd.Action, pd.Rule, pd.Reason()
	switch ch {
	case chooseLeftPending:
		d.Result = ResultLeftPending
		return
	case chooseDeferred:
		d.Result, d.Detail = ResultLeftPending, "left for the next sweep: it was pending before the policy last changed, and only a sweep, which sees every service, counts all the rejections a change makes against maxRejections"
		return
	case chooseRevoke:
		d.Revoked, d.Reason = true, revokedPrefix+d.Reason
		if d.situation.Person {
			d.Reason += " (over a person's accept: a reject rule wins)"
		}
	}
	if dryRun {
		d.Result = ResultDryRun
	}
}

// settledBefore is the time before which a request should have been decided
// by a sweep: the policy's last change, or one sweep period ago when that is
// later (a backlog that a sweep held or left undecided, an account moved in
// the organization, a rule expired: changes that move no parameter). A
// request created before it is rejected only by a sweep. Zero when the
// policy's change time is unknown.
func (a *Approver) settledBefore(loaded *policy.Loaded, now time.Time) time.Time {
	if loaded.Modified.IsZero() {
		return time.Time{}
	}
	if a.cfg.SweepPeriod > 0 {
		return latest(loaded.Modified, now.Add(-a.cfg.SweepPeriod))
	}
	return loaded.Modified
}

func latest(x, y time.Time) time.Time {
	if x.After(y) {
		return x
	}
	return y
}

// predates reports whether a request created at created was already
// waiting when the policy last changed at modified; when either time is
// unknown, it may have been. EC2 gives creation times to the second, so
// the change counts from the start of its second: a request of that second
// is not known to have waited through it.
func predates(created, modified time.Time) bool {
	return created.IsZero() || modified.IsZero() || created.Before(modified.Truncate(time.Second))
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

// due counts the plan's decisions the table chose ch for and that are still
// to be made (or shown, in a dry run).
func (pl *plan) due(ch choice) int {
	n := 0
	for _, d := range pl.decisions {
		if d.choice == ch && (d.Result == "" || d.Result == ResultDryRun) {
			n++
		}
	}
	return n
}

// hold asks the table again, with the guard holding, for the decisions it
// chose ch for: they are held, with why. A dry run's are held too, so that
// it shows what a real reconcile would do.
func (pl *plan) hold(ch choice, why string) {
	for i := range pl.decisions {
		d := &pl.decisions[i]
		if d.choice != ch || (d.Result != "" && d.Result != ResultDryRun) {
			continue
		}
		s := d.situation
		s.Guard = true
		if choose(s) == chooseHeld {
			d.choice, d.Result, d.Detail = chooseHeld, ResultHeld, why
		}
	}
}

package approver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// PersonDecision is a decision a person makes, with approverctl accept or
// reject, whatever the policy says.
type PersonDecision struct {
	ServiceID   string
	EndpointIDs []string
	// Action is policy.Accept or policy.Reject.
	Action policy.Action
	// By is the person's ARN (STS GetCallerIdentity).
	By string
	// Reason says why; it is cut to what a tag value holds.
	Reason string
	// Shown, when not nil, is each connection's state as the person was
	// shown it, by endpoint ID: a connection found in another state (the
	// function decided it meanwhile) is not touched, and fails.
	Shown map[string]string
}

// TriggerPerson is the trigger of a person's decisions.
const TriggerPerson = "person"

// DecideByPerson applies a person's decision to connections of one service,
// in one batched Accept or Reject call: accept takes pending requests;
// reject takes pending requests and accepted connections (revoking them).
// Each applied decision is stamped with rule "person", by and reason, and a
// sweep never revokes a connection a person accepted unless a reject rule
// names it. Connections in any other state are reported, not touched.
//
// It returns an error, and changes nothing, when the decision is malformed
// or the connections cannot be read.
func (a *Approver) DecideByPerson(ctx context.Context, pd PersonDecision) (*Report, error) {
	reason := tagValue(pd.Reason)
	var problems []error
	if pd.Action != policy.Accept && pd.Action != policy.Reject {
		problems = append(problems, fmt.Errorf("action %q: must be accept or reject", pd.Action))
	}
	if !awsid.IsServiceID(pd.ServiceID) {
		problems = append(problems, fmt.Errorf("service %q is not an endpoint service ID (vpce-svc-...)", pd.ServiceID))
	}
	if len(pd.EndpointIDs) == 0 {
		problems = append(problems, errors.New("no endpoint named"))
	}
	ids := make([]string, 0, len(pd.EndpointIDs))
	for _, id := range pd.EndpointIDs {
		if !awsid.IsEndpointID(id) {
			problems = append(problems, fmt.Errorf("endpoint %q is not a VPC endpoint ID (vpce-...)", id))
		}
		ids = append(ids, awsid.NormalizeEndpointID(id))
	}
	if reason == "" {
		problems = append(problems, errors.New("a reason is required: it is stamped on the connection"))
	}
	if pd.By == "" {
		problems = append(problems, errors.New("who decides is unknown (no caller ARN)"))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	now := a.now()
	conns, err := a.connections(ctx, pd.ServiceID, ids)
	if err != nil {
		return nil, fmt.Errorf("describe the connections of %s: %w", pd.ServiceID, err)
	}
	found := map[string]Outcome{}
	for _, c := range conns {
		d := a.newDecision(pd.ServiceID, TriggerPerson, c)
		found[d.EndpointID] = d
	}
	pl := &plan{svc: pd.ServiceID}
	for _, id := range ids {
		d, ok := found[id]
		if !ok {
			d = Outcome{ServiceID: pd.ServiceID, EndpointID: id, Region: a.cfg.Region, Trigger: TriggerPerson,
				Result: ResultFailed, ErrorCode: "InvalidVpcEndpointId.NotFound", Detail: "no connection from this endpoint to " + pd.ServiceID}
		}
		d.Action, d.Rule, d.Reason, d.By, d.DryRun = pd.Action, PersonRule, reason, tagValue(pd.By), false
		shown, wasShown := pd.Shown[id]
		switch {
		case ok && pd.Shown != nil && (!wasShown || !strings.EqualFold(shown, d.State)):
			d.Result, d.ErrorCode = ResultFailed, "StateChanged"
			d.Detail = fmt.Sprintf("%s when shown, %s now: nothing done; look again and decide again", cmp.Or(shown, "not found"), d.State)
		case ok:
			personOutcome(&d)
		}
		pl.decisions = append(pl.decisions, d)
	}

	report := newReport(TriggerPerson, false, nil, []string{pd.ServiceID})
	a.applyAll(ctx, report, []*plan{pl}, false, now, now)
	return report, nil
}

// personOutcome sets what a person's decision does to a connection in its
// current state: nothing yet (Result empty) when a call will apply it.
func personOutcome(d *Outcome) {
	state := d.State
	is := func(states ...string) bool {
		return slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, state) })
	}
	switch {
	case is(statePendingAcceptance):
	case d.Action == policy.Reject && is(statePending, stateAvailable):
		d.Revoked = true
	case d.Action == policy.Accept && is(statePending, stateAvailable):
		d.Result, d.Detail = ResultAlreadyAccepted, "the connection is already "+state
	case d.Action == policy.Reject && is(stateRejected):
		d.Result, d.Detail = ResultAlreadyRejected, "the connection is already rejected"
	case d.Action == policy.Accept && is(stateRejected):
		d.Result, d.ErrorCode = ResultFailed, "InvalidState"
		d.Detail = "a rejected request cannot be accepted: its consumer must create a new endpoint"
	case isGone(state):
		d.Result, d.Detail = ResultGone, "the connection is "+state
	default:
		d.Result, d.ErrorCode, d.Detail = ResultFailed, "InvalidState", "the connection is "+state
	}
}

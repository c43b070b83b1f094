package approver

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

// apply accepts and rejects what the plan decided (one Accept and one
// Reject call, split only past 1,000 IDs) and settles every outcome. The
// error reports a failure of the service as a whole or of any decision;
// every other decision is still applied. Accept and Reject are called with
// calls, which ends StampReserve before ctx; the calls cut there are read
// back with ctx.
func (a *Approver) apply(calls, ctx context.Context, pl *plan) error {
	if pl.err != nil {
		return pl.err
	}
	var acceptIDs, rejectIDs []string
	for _, d := range pl.decisions {
		switch {
		case d.Result != "": // manual, dry run, held
		case d.Action == policy.Accept:
			acceptIDs = append(acceptIDs, d.EndpointID)
		case d.Action == policy.Reject:
			rejectIDs = append(rejectIDs, d.EndpointID)
		}
	}
	failures := a.ec2.Accept(calls, pl.svc, acceptIDs)
	maps.Copy(failures, a.ec2.Reject(calls, pl.svc, rejectIDs))
	a.settle(ctx, pl.svc, pl.decisions, failures)
	return failedDecisions(pl.svc, pl.decisions)
}

// failedDecisions is the error for the decisions of svc that failed, or nil.
func failedDecisions(svc string, decisions []Outcome) error {
	failed := 0
	codes := map[string]int{}
	for _, d := range decisions {
		// Undecided by a failed lookup: reported once, by the plan's
		// lookupErr.
		if d.Result == ResultFailed && !d.MembershipFailed {
			failed++
			codes[cmp.Or(d.ErrorCode, "no error code")]++
		}
	}
	if failed == 0 {
		return nil
	}
	var why []string
	for _, code := range slices.Sorted(maps.Keys(codes)) {
		why = append(why, fmt.Sprintf("%s x%d", code, codes[code]))
	}
	return fmt.Errorf("%s: %d of %d decisions could not be applied (%s)", svc, failed, len(decisions), strings.Join(why, ", "))
}

// settle records the outcome of each applied decision. A failure whose
// connection is already where the decision wanted it (a person acted
// meanwhile) or gone (its consumer deleted it, or it expired) is no error:
// the state is right. When the call's answer was lost after EC2 may have
// applied it, and nobody stamped the connection since it was read, the
// decision is its own. Anything else is an error on that decision.
func (a *Approver) settle(ctx context.Context, svc string, decisions []Outcome, failures map[string]vpcendpoints.Failure) {
	failedIDs := slices.Sorted(maps.Keys(failures))
	current := map[string]types.VpcEndpointConnection{}
	var readErr error
	if len(failedIDs) > 0 {
		var conns []types.VpcEndpointConnection
		conns, readErr = a.connections(ctx, svc, failedIDs)
		for _, c := range conns {
			current[aws.ToString(c.VpcEndpointId)] = c
		}
	}

	for i := range decisions {
		d := &decisions[i]
		if d.Result != "" {
			continue // manual, dry run or held: nothing was applied
		}
		f, failed := failures[d.EndpointID]
		if !failed {
			d.Result = d.applied()
			continue
		}
		c, present := current[d.EndpointID]
		state := string(c.VpcEndpointState)
		wanted := d.Action == policy.Accept && (strings.EqualFold(state, statePending) || strings.EqualFold(state, stateAvailable)) ||
			d.Action == policy.Reject && strings.EqualFold(state, stateRejected)
		switch {
		case readErr != nil:
			d.Result, d.ErrorCode = ResultFailed, f.Code
			d.Detail = fmt.Sprintf("%s (and its current state could not be read: %v)", f.Message, readErr)
		case wanted && f.Ambiguous && !restamped(d.tags, ourTags(c.Tags)):
			d.Result = d.applied()
			d.Detail = "EC2's answer was lost and the call retried; the connection is " + state + ", as this decision asked, and no one else stamped it"
		case wanted && d.Action == policy.Accept:
			d.Result, d.Detail = ResultAlreadyAccepted, "the connection is already "+state+": someone accepted it meanwhile"
		case wanted:
			d.Result, d.Detail = ResultAlreadyRejected, "the connection is already rejected: someone rejected it meanwhile"
		case !present || isGone(state):
			d.Result = ResultGone
			d.Detail = "the connection is " + cmp.Or(state, "no longer listed") + ": its consumer deleted it, or it expired"
		default:
			d.Result, d.ErrorCode = ResultFailed, f.Code
			d.Detail = fmt.Sprintf("%s (connection is %s)", f.Message, state)
		}
	}
}

// restamped reports whether a decision was stamped on the connection since
// it was read (before, when it was read; now, after the call): someone else
// applied a decision to it meanwhile.
func restamped(before, now map[string]string) bool {
	return before[TagDecision] != now[TagDecision] || before[TagDecidedAt] != now[TagDecidedAt]
}

// isGone reports whether a connection in state can no longer be decided.
func isGone(state string) bool {
	for _, s := range []string{stateDeleting, stateDeleted, stateExpired, stateFailed} {
		if strings.EqualFold(state, s) {
			return true
		}
	}
	return false
}

package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

// decideCmd is approverctl accept or approverctl reject: a person's
// decision, stamped on the connections as theirs.
func (a *app) decideCmd(action policy.Action) *cobra.Command {
	var service, reason string
	var yes bool
	verb := string(action)
	long := `Accept pending connection requests of one endpoint service, in one batched
call, whatever the policy says, and stamp each connection as a person's
decision: privatelink-approver:decision accepted, rule person, by (your ARN,
from STS GetCallerIdentity), reason and decided-at. A sweep never revokes a
connection a person accepted, unless a reject rule of the policy names it.`
	if action == policy.Reject {
		long = `Reject connections of one endpoint service, in one batched call: pending
requests (decision rejected) and accepted connections (decision revoked: the
consumer is cut off at once). Each is stamped as a person's decision: rule
person, by (your ARN, from STS GetCallerIdentity), reason and decided-at.`
	}
	cmd := &cobra.Command{
		Use:   verb + " --service ID --reason TEXT ENDPOINT...",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " connection requests as a person, stamped with your ARN and reason",
		Long: long + `

First each connection is shown with its current state and what will be
done to it` + map[policy.Action]string{policy.Accept: "", policy.Reject: ` (an accepted, live connection is called out: rejecting it
cuts its consumer off)`}[action] + `; then, on a terminal, the question: only "yes" goes
ahead. --yes does not ask (and shows nothing first); without a terminal on
stdin and without --yes, nothing is changed. When nothing is to be done
(every connection already ` + pastTense(action) + `), it says so, without asking.

The reason is required; it is cut to 256 characters (a tag value) and
control characters become spaces. Connections in another state are reported
and left alone. An interrupt (Ctrl-C, SIGTERM) lets the call in flight
finish and be stamped, then exits 1. Exit 1 when any endpoint could not be
` + pastTense(action) + `, or the change was not approved.`,
		Example: fmt.Sprintf("  approverctl %s --service vpce-svc-0123456789abcdef0 --reason \"NET-1234, approved by the partner team\" vpce-0a1b2c3d4e5f67890", verb),
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, endpoints []string) error {
			// Every argument is checked before any AWS call.
			var bad []string
			if strings.TrimSpace(reason) == "" {
				bad = append(bad, "--reason is required: say why, it is stamped on the connection")
			}
			if !awsid.IsServiceID(service) {
				bad = append(bad, fmt.Sprintf("--service %q: want an endpoint service ID (vpce-svc-...)", service))
			}
			ids := make([]string, 0, len(endpoints))
			for _, e := range endpoints {
				if !awsid.IsEndpointID(e) {
					bad = append(bad, fmt.Sprintf("endpoint %q: want a VPC endpoint ID (vpce-...)", e))
				}
				ids = append(ids, awsid.NormalizeEndpointID(e))
			}
			if len(bad) > 0 {
				return errors.New(strings.Join(bad, "; "))
			}
			slices.Sort(ids)
			ids = slices.Compact(ids)

			c, err := a.aws(cmd.Context())
			if err != nil {
				return err
			}
			me, err := c.sts.GetCallerIdentity(cmd.Context(), &sts.GetCallerIdentityInput{})
			if err != nil {
				return fmt.Errorf("who are you (STS GetCallerIdentity): %w", err)
			}
			by := aws.ToString(me.Arn)
			var shown map[string]string
			{
				pv, err := previewPerson(cmd.Context(), vpcendpoints.New(c.ec2), service, ids, action)
				if err != nil {
					return fmt.Errorf("describe the connections of %s: %w", service, err)
				}
				if err := a.showPlan(pv.view(by)); err != nil {
					return err
				}
				switch {
				case pv.acts() == 0 && pv.fails > 0:
					if a.g.output == "json" {
						_ = a.show(view{JSON: pv.json(by)})
					}
					err := fmt.Errorf("nothing to %s: %d endpoint(s) cannot be %s (see above)", verb, pv.fails, pastTense(action))
					fmt.Fprintln(a.stderr, "approverctl:", err)
					return reportedError{err}
				case pv.acts() == 0:
					if a.g.output == "json" {
						return a.show(view{JSON: pv.json(by)})
					}
					return nil
				}
				if err := a.confirm(yes, pv.what()); err != nil {
					return err
				}
				shown = map[string]string{}
				for _, r := range pv.rows {
					shown[r.EndpointID] = r.State
				}
			}
			var report *approver.Report
			err = a.applying(cmd.Context(), func(ctx context.Context) error {
				var err error
				report, err = c.approver(scope{}, false).DecideByPerson(ctx, approver.PersonDecision{
					ServiceID: service, EndpointIDs: ids, Action: action, By: by, Reason: reason, Shown: shown})
				return err
			})
			if errors.Is(err, errAborted) || report == nil {
				return err // aborted: the call may still be running
			}
			if err := a.show(decisionsView(report, " by "+by)); err != nil {
				return err
			}
			if rerr := report.Err(); rerr != nil {
				fmt.Fprintln(a.stderr, "approverctl:", rerr)
				if err == nil {
					err = reportedError{rerr}
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "the endpoint service ID (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why: stamped on each connection (required)")
	cmd.Flags().BoolVar(&yes, "yes", false, yesUsage)
	_ = cmd.MarkFlagRequired("service")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

// personPreview is what a person's accept or reject will do to each
// connection named, from their current states, before anything is asked.
type personPreview struct {
	service string
	action  policy.Action
	rows    []personRow
	// pending counts pending requests to accept or reject; revoke the
	// accepted connections a reject cuts off; fails those it cannot
	// decide (unknown, or in a state that does not allow it).
	pending, revoke, fails int
}

// personRow is one connection of a personPreview.
type personRow struct {
	EndpointID string `json:"endpointId"`
	Owner      string `json:"owner,omitempty"`
	State      string `json:"state"`
	// Will is what will be done: accept, reject, revoke, or nothing and
	// why (already-accepted, already-rejected, gone), or fails and why.
	Will string `json:"will"`
}

// previewPerson reads the connections ids of service, in any state, and
// says what a person's action will do to each. It mirrors what
// approver.DecideByPerson does by state (a pending request is decided; a
// reject revokes an accepted connection; a connection already where the
// action wants it, or gone, is left alone; anything else fails).
func previewPerson(ctx context.Context, ec2 *vpcendpoints.Client, service string, ids []string, action policy.Action) (*personPreview, error) {
	found := map[string]types.VpcEndpointConnection{}
	for batch := range slices.Chunk(ids, vpcendpoints.MaxFilterValues) {
		conns, err := ec2.Connections(ctx, []types.Filter{
			{Name: aws.String("service-id"), Values: []string{service}},
			{Name: aws.String("vpc-endpoint-id"), Values: batch},
		})
		if err != nil {
			return nil, err
		}
		for _, c := range conns {
			if aws.ToString(c.ServiceId) == service {
				found[awsid.NormalizeEndpointID(aws.ToString(c.VpcEndpointId))] = c
			}
		}
	}
	pv := &personPreview{service: service, action: action}
	for _, id := range ids {
		c, ok := found[id]
		state := string(c.VpcEndpointState)
		row := personRow{EndpointID: id, Owner: aws.ToString(c.VpcEndpointOwner), State: state}
		is := func(states ...string) bool {
			return slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, state) })
		}
		switch {
		case !ok:
			row.State, row.Will = "-", "fails: no connection from this endpoint to "+service
			pv.fails++
		case is("pendingAcceptance"):
			row.Will = string(action)
			pv.pending++
		case action == policy.Reject && is("pending", "available"):
			row.Will = "revoke: cuts off this live connection"
			pv.revoke++
		case action == policy.Accept && is("pending", "available"):
			row.Will = "nothing: " + approver.ResultAlreadyAccepted
		case action == policy.Reject && is("rejected"):
			row.Will = "nothing: " + approver.ResultAlreadyRejected
		case action == policy.Accept && is("rejected"):
			row.Will = "fails: a rejected request cannot be accepted (its consumer must create a new endpoint)"
			pv.fails++
		case is("deleting", "deleted", "expired", "failed"):
			row.Will = "nothing: " + approver.ResultGone
		default:
			row.Will = "fails: the connection is " + state
			pv.fails++
		}
		pv.rows = append(pv.rows, row)
	}
	return pv, nil
}

// acts counts the connections the action will change.
func (pv *personPreview) acts() int { return pv.pending + pv.revoke }

// what completes "approverctl will ...".
func (pv *personPreview) what() string {
	var parts []string
	if pv.pending > 0 {
		parts = append(parts, fmt.Sprintf("%s %d pending request(s)", pv.action, pv.pending))
	}
	if pv.revoke > 0 {
		parts = append(parts, fmt.Sprintf("revoke %d accepted connection(s), cutting their consumers off", pv.revoke))
	}
	return strings.Join(parts, " and ") + " on " + pv.service
}

func (pv *personPreview) view(by string) view {
	v := view{Header: []string{"ENDPOINT", "OWNER", "STATE", "WILL"}}
	for _, r := range pv.rows {
		v.Rows = append(v.Rows, []string{r.EndpointID, orDash(r.Owner), r.State, r.Will})
	}
	v.Notes = append(v.Notes, "")
	if pv.revoke > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("WARNING: %d accepted connection(s) are live: rejecting them cuts their consumers off at once.", pv.revoke))
	}
	if pv.acts() == 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("Nothing to do on %s: no connection named can be %s.", pv.service, pastTense(pv.action)))
		return v
	}
	v.Notes = append(v.Notes, fmt.Sprintf("Plan: %s, as %s.", pv.what(), by))
	return v
}

func (pv *personPreview) json(by string) map[string]any {
	return map[string]any{"serviceId": pv.service, "action": pv.action, "by": by, "changes": pv.acts(), "connections": pv.rows}
}

func pastTense(a policy.Action) string {
	if a == policy.Accept {
		return "accepted"
	}
	return "rejected"
}

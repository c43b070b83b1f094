package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

func (a *app) sweepCmd() *cobra.Command {
	var flags scopeFlags
	var dryRun, yes bool
	cmd := &cobra.Command{
		Use:   "sweep [--parameter NAME] [--service ID]... [--dry-run | --yes]",
		Short: "Run the function's reconcile now, with your credentials, after showing its plan",
		Long: `Run the same reconcile as the function's scheduled sweep, with your
credentials: decide every pending request and accept or reject it (and, when
the policy says "revoke", revoke what it now rejects, within maxRevocations),
stamping each applied decision on its connection as the function does.

First the plan: the decisions a dry run makes, each connection to accept,
reject or revoke (a revocation cuts off a live connection). Then, on a
terminal, the question: only "yes" goes ahead; the sweep then decides again
and applies what the plan showed, and each decision is printed. A decision
the plan did not show (a request made meanwhile) is left for the next
sweep, and if the policy changed meanwhile nothing is applied. --yes shows
the plan and does not ask; without a terminal on stdin and without --yes,
nothing is changed. When nothing is to be done, it says so, without
asking. --dry-run decides and prints, changing nothing.

An interrupt (Ctrl-C, SIGTERM) lets the Accept or Reject call in flight
finish and its decisions be stamped, starts nothing after it, and exits 1;
a second one aborts at once.

Exit 1 when any decision could not be applied or the guard held, when the
plan was not approved, or when interrupted.`,
		Example: "  approverctl sweep --parameter /privatelink-approver/policy --dry-run\n  approverctl sweep --service vpce-svc-0123456789abcdef0\n" +
			"  approverctl sweep --service vpce-svc-0123456789abcdef0 --yes",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dryRun && yes {
				return errors.New("--dry-run and --yes: a dry run changes nothing, there is nothing to approve")
			}
			sc, err := a.scope(flags)
			if err != nil {
				return err
			}
			c, err := a.aws(cmd.Context())
			if err != nil {
				return err
			}
			req := approver.Request{Trigger: "manual-sweep", All: true, Sweep: true}
			if !dryRun {
				plan, err := c.approver(sc, true).Reconcile(cmd.Context(), req)
				if err != nil {
					return err
				}
				if err := a.showPlan(sweepPlanView(plan)); err != nil {
					return err
				}
				if sweepActions(plan) == 0 {
					if a.g.output == "json" {
						if err := a.show(view{JSON: plan}); err != nil {
							return err
						}
					}
					if err := plan.Err(); err != nil {
						fmt.Fprintln(a.stderr, "approverctl:", err)
						return reportedError{err}
					}
					return nil
				}
				if err := a.confirm(yes, "sweep: "+sweepPlanLine(plan)); err != nil {
					return err
				}
				// Apply what was shown, with the policy it was shown with.
				req.PolicyVersion, req.Approved = plan.PolicyVersion, map[string]policy.Action{}
				for _, d := range plan.Decisions {
					if d.Result == approver.ResultDryRun {
						req.Approved[d.EndpointID] = d.Action
					}
				}
			}
			var report *approver.Report
			reconcile := func(ctx context.Context) error {
				var err error
				report, err = c.approver(sc, dryRun).Reconcile(ctx, req)
				return err
			}
			if dryRun {
				err = reconcile(cmd.Context()) // changes nothing: an interrupt may end it
			} else {
				err = a.applying(cmd.Context(), reconcile)
			}
			if errors.Is(err, errAborted) || report == nil {
				return err // aborted: the reconcile may still be running
			}
			if err := a.show(decisionsView(report, fmt.Sprintf(" on %d service(s)", len(report.Services)))); err != nil {
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
	flags.bind(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "decide and print, but change nothing")
	cmd.Flags().BoolVar(&yes, "yes", false, yesUsage)
	return cmd
}

// sweepActions counts what a dry-run sweep would apply: accept, reject or
// revoke (a decision a guard held is not applied).
func sweepActions(plan *approver.Report) int {
	return plan.Counts.DryRunDecisions
}

// sweepPlanView shows what a sweep would apply: the decisions of a dry run
// that call EC2, then the count of each kind, and the guards.
func sweepPlanView(plan *approver.Report) view {
	v := view{
		Header: []string{"SERVICE", "ENDPOINT", "OWNER", "STATE", "WILL", "RULE", "REASON"},
		Empty:  fmt.Sprintf("Nothing to do: no connection to accept, reject or revoke on %d service(s).", len(plan.Services)),
	}
	for _, d := range plan.Decisions {
		if d.Result != approver.ResultDryRun {
			continue
		}
		will := string(d.Action)
		if d.Revoked {
			will = "revoke: cuts off this live connection"
		}
		v.Rows = append(v.Rows, []string{d.ServiceID, d.EndpointID, d.Owner, d.State, will, d.Rule, d.Reason})
	}
	if len(v.Rows) > 0 {
		v.Notes = append(v.Notes, "", "Plan: "+sweepPlanLine(plan)+".")
	}
	c := plan.Counts
	if c.Manual > 0 || c.Held > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("Left as they are: %d left to a person, %d held by a guard.", c.Manual, c.Held))
	}
	if plan.Guard != "" {
		v.Notes = append(v.Notes, "Guard: "+plan.Guard)
	}
	if plan.RejectionGuard != "" {
		v.Notes = append(v.Notes, "Guard: "+plan.RejectionGuard)
	}
	return v
}

// sweepPlanLine counts what a sweep would apply, by kind.
func sweepPlanLine(plan *approver.Report) string {
	accept, reject, revoke := 0, 0, 0
	for _, d := range plan.Decisions {
		switch {
		case d.Result != approver.ResultDryRun:
		case d.Revoked:
			revoke++
		case d.Action == policy.Accept:
			accept++
		default:
			reject++
		}
	}
	line := fmt.Sprintf("accept %d, reject %d and revoke %d connection(s) on %d service(s)", accept, reject, revoke, len(plan.Services))
	if revoke > 0 {
		line += fmt.Sprintf(", cutting off %d live connection(s)", revoke)
	}
	return line
}

// decisionsView shows a report's decisions, then their counts.
func decisionsView(report *approver.Report, where string) view {
	v := view{JSON: report, Header: []string{"SERVICE", "ENDPOINT", "OWNER", "STATE", "ACTION", "RULE", "RESULT", "DETAIL"}}
	for _, d := range report.Decisions {
		v.Rows = append(v.Rows, []string{d.ServiceID, d.EndpointID, d.Owner, d.State, string(d.Action), d.Rule, d.Result,
			joinDetail(d.ErrorCode, d.Detail, d.StampError)})
	}
	line := countsLine(report.Counts) + where
	if report.DryRun {
		line += " (dry run: nothing changed)"
	}
	v.Notes = []string{"", line}
	if report.Guard != "" {
		v.Notes = append(v.Notes, "Guard: "+report.Guard)
	}
	if report.RejectionGuard != "" {
		v.Notes = append(v.Notes, "Guard: "+report.RejectionGuard)
	}
	return v
}

func joinDetail(code, detail, stampErr string) string {
	out := detail
	if code != "" {
		out = code + ": " + out
	}
	if stampErr != "" {
		out += " (not stamped: " + stampErr + ")"
	}
	return out
}

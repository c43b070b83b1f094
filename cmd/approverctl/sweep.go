package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
)

func (a *app) sweepCmd() *cobra.Command {
	var flags scopeFlags
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "sweep [--parameter NAME] [--service ID]... [--dry-run]",
		Short: "Run the function's reconcile now, with your credentials",
		Long: `Run the same reconcile as the function's scheduled sweep, with your
credentials: decide every pending request and accept or reject it (and, when
the policy says "revoke", revoke what it now rejects, within maxRevocations),
stamping each applied decision on its connection as the function does.
Each decision is printed. --dry-run decides and prints, changing nothing.
Exit 1 when any decision could not be applied or the guard held.`,
		Example: "  approverctl sweep --parameter /privatelink-approver/policy --dry-run\n  approverctl sweep --service vpce-svc-0123456789abcdef0",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			report, err := a.reconcile(cmd.Context(), flags, dryRun, approver.Request{Trigger: "manual-sweep", All: true, Sweep: true})
			if err != nil {
				return err
			}
			if err := a.show(decisionsView(report, fmt.Sprintf(" on %d service(s)", len(report.Services)))); err != nil {
				return err
			}
			if err := report.Err(); err != nil {
				fmt.Fprintln(a.stderr, "approverctl:", err)
				return reportedError{err}
			}
			return nil
		},
	}
	flags.bind(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "decide and print, but change nothing")
	return cmd
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

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
)

func (a *app) pendingCmd() *cobra.Command {
	var flags scopeFlags
	cmd := &cobra.Command{
		Use:   "pending [--parameter NAME] [--service ID]...",
		Short: "List pending connection requests and what the policy would decide",
		Long: `List the connection requests still pendingAcceptance, with their age, owner,
and what the current policy would decide (like terraform plan: nothing is
changed), on the services the function manages in the Region: those --service
names, else those SERVICE_IDS lists, else the account's endpoint services
with SERVICE_TAG's tag, else every endpoint service of the account in the
Region that requires acceptance (one that does not has no pending requests:
EC2 accepts them at once). Accepted connections are not listed: see
approverctl audit. When the policy has rules by organization or OU,
the accounts they could decide are looked up in AWS Organizations (see
--role), and ORG PATH shows where each sits; "undecided" means the lookup
failed, and the command exits 1.`,
		Example: "  approverctl pending --parameter /privatelink-approver/policy\n  approverctl pending --service vpce-svc-0123456789abcdef0 --output json",
		Args:    cobra.NoArgs,
		RunE:    a.inAccount(&flags, pendingIn),
	}
	flags.bind(cmd)
	return cmd
}

// pendingIn lists the requests pending in c's account and Region, and what
// the policy would decide (a reconcile in dry run): the work of pending in
// one account and Region. Its status is the requests left undecided.
func pendingIn(ctx context.Context, c *clients, sc scope) (outcome, error) {
	report, err := c.approver(sc, true).Reconcile(ctx, approver.Request{Trigger: "pending", All: true})
	if err != nil {
		return outcome{}, err
	}
	now := time.Now()
	rows := []map[string]any{}
	v := view{
		Header: []string{"SERVICE", "ENDPOINT", "OWNER", "ORG PATH", "REGION", "AGE", "WOULD", "RULE", "REASON", "ANNOUNCED"},
		Empty:  fmt.Sprintf("No pending connection requests on %d service(s).", len(report.Services)),
	}
	for _, d := range report.Decisions {
		would, reason := string(d.Action), d.Reason
		if d.MembershipFailed {
			would, reason = "undecided", d.Reason+": "+joinDetail(d.ErrorCode, d.Detail, "")
		}
		rows = append(rows, map[string]any{"serviceId": d.ServiceID, "endpointId": d.EndpointID, "connectionId": d.ConnectionID,
			"owner": d.Owner, "orgPath": d.OrgPath, "region": d.Region, "created": d.Created, "ageSeconds": int64(now.Sub(d.Created).Seconds()),
			"wouldDecide": would, "rule": d.Rule, "reason": reason, "announcedAt": d.AnnouncedAt})
		v.Rows = append(v.Rows, []string{d.ServiceID, d.EndpointID, d.Owner, orDash(d.OrgPath), d.Region, age(now.Sub(d.Created)), would, d.Rule, reason,
			orDash(d.AnnouncedAt)})
	}
	v.JSON = map[string]any{"policyParameter": report.PolicyParameter, "policyVersion": report.PolicyVersion,
		"services": report.Services, "pending": rows}
	o := outcome{view: v}
	if report.MembershipErrors > 0 {
		o.status = fmt.Errorf("%d request(s) undecided: their accounts could not be looked up in AWS Organizations", report.MembershipErrors)
	}
	return o, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

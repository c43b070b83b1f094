package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/settings"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

// errFindings is audit's "something to fix": exit status 2, as policy
// plan's changes.
var errFindings = fmt.Errorf("the audit found something to fix: %w", errChanges)

func (a *app) auditCmd() *cobra.Command {
	var flags scopeFlags
	cmd := &cobra.Command{
		Use:   "audit [--parameter NAME] [--service ID]... [--role ARN]",
		Short: "List the account's endpoint services and what to fix: managed services open to all, accepted connections the policy now rejects",
		Long: `List every endpoint service of the account in the Region: whether the
function manages it and why (SERVICE_IDS, SERVICE_TAG's tag, or acceptance
required), whether it requires acceptance, and who may connect to it
(allowed principals; "*" lets every AWS principal connect).

Then read the accepted connections of the managed services and decide each
with the stored policy as a revoking sweep would, whatever the policy's
revoke says: a connection the policy now rejects is drift. A person's accept
(approverctl accept) that only defaultAction rejects is not drift: a sweep
never revokes it. When the policy has rules by organization or OU, the
accounts they could decide are looked up in AWS Organizations (see --role);
a connection whose account could not be looked up is listed as unknown.
Nothing is changed.

Exit status: 2 when there is something to fix (a managed service that does
not require acceptance, a service SERVICE_IDS lists that the account does
not own in the Region, or drift); else 1 when something could not be
checked (an unknown connection, an unread service, principals not read) or
on an error (no policy); 0 when all is clean.`,
		Example: "  approverctl audit --parameter /privatelink-approver/policy\n  approverctl audit --region eu-west-1 --output json",
		Args:    cobra.NoArgs,
		RunE:    a.inAccount(&flags, auditIn),
	}
	flags.bind(cmd)
	return cmd
}

// auditIn audits the endpoint services of c's account and Region: the work
// of audit in one account and Region. Its status is errFindings when there
// is something to fix, else what could not be checked.
func auditIn(ctx context.Context, c *clients, sc scope) (outcome, error) {
	au, err := c.approver(sc, true).Audit(ctx, vpcendpoints.New(c.ec2))
	if err != nil {
		return outcome{}, err
	}
	o := outcome{view: auditView(au)}
	switch {
	case au.Findings() > 0:
		o.status = errFindings
	case !au.Complete():
		o.status = errors.New("the audit is not complete: " + strings.Join(incomplete(au), ", "))
	}
	return o, nil
}

// auditJSON is audit's --output json: approver.Audit's fields, and what
// the exit status says.
type auditJSON struct {
	*approver.Audit
	// ToFix counts what there is to fix (exit status 2 when not 0):
	// services with a problem, and drift.
	ToFix int `json:"toFix"`
	// IsComplete is false when something could not be checked (exit
	// status 1 when nothing is to fix).
	IsComplete bool `json:"complete"`
	// Summary is the text output's last line.
	Summary string `json:"summary"`
}

func auditView(au *approver.Audit) view {
	v := view{
		JSON:   auditJSON{Audit: au, ToFix: au.Findings(), IsComplete: au.Complete(), Summary: auditSummary(au)},
		Header: []string{"SERVICE", "MANAGED", "WHY", "ACCEPTANCE", "ALLOWED PRINCIPALS"},
		Empty:  "No endpoint services in " + au.Region + ".",
	}
	var fix, unread []string
	for _, s := range au.Services {
		managed, acceptance := "no", "not required"
		if s.Managed {
			managed = "yes"
		}
		switch {
		case !s.Found:
			acceptance = "-"
		case s.AcceptanceRequired:
			acceptance = "required"
		}
		v.Rows = append(v.Rows, []string{s.ServiceID, managed, s.Why, acceptance, principalsText(s)})
		if s.Problem != "" {
			fix = append(fix, fmt.Sprintf("  %s: %s; %s", s.ServiceID, s.Problem, remedy(s, au.Region)))
		}
		if s.PrincipalsError != "" {
			unread = append(unread, "  "+s.PrincipalsError)
		}
	}
	if len(fix) > 0 {
		v.Notes = append(v.Notes, "", "Services to fix:")
		v.Notes = append(v.Notes, fix...)
	}
	if len(au.Drift) > 0 {
		rows := make([][]string, 0, len(au.Drift))
		for _, d := range au.Drift {
			rows = append(rows, []string{d.ServiceID, d.EndpointID, d.Owner, orDash(d.AcceptedBy), d.Rule, d.Reason})
		}
		v.Notes = append(v.Notes, "", "Accepted connections the policy now rejects (drift):")
		v.Notes = append(v.Notes, table([]string{"SERVICE", "ENDPOINT", "OWNER", "ACCEPTED BY", "RULE", "REASON"}, rows)...)
	}
	if len(au.Unknown) > 0 {
		rows := make([][]string, 0, len(au.Unknown))
		for _, d := range au.Unknown {
			rows = append(rows, []string{d.ServiceID, d.EndpointID, d.Owner, orDash(d.AcceptedBy), d.Rule, joinDetail(d.ErrorCode, d.Detail, "")})
		}
		v.Notes = append(v.Notes, "", "Accepted connections a rule by organization or OU could reject, their accounts not looked up (unknown):")
		v.Notes = append(v.Notes, table([]string{"SERVICE", "ENDPOINT", "OWNER", "ACCEPTED BY", "RULE", "DETAIL"}, rows)...)
	}
	if len(au.Unchecked) > 0 || len(unread) > 0 {
		v.Notes = append(v.Notes, "", "Not checked:")
		for _, u := range au.Unchecked {
			v.Notes = append(v.Notes, fmt.Sprintf("  %s: connections not checked: %s", u.ServiceID, u.Reason))
		}
		v.Notes = append(v.Notes, unread...)
	}
	if parts := partLines(au.Parts); len(parts) > 0 {
		v.Notes = append(v.Notes, "")
		v.Notes = append(v.Notes, parts...)
	}
	v.Notes = append(v.Notes, "", auditSummary(au))
	return v
}

// principalsText shows who may connect, "*" marked.
func principalsText(s approver.ServiceAudit) string {
	switch {
	case !s.Found:
		return "-"
	case s.PrincipalsError != "":
		return "? (not read)"
	case len(s.AllowedPrincipals) == 0:
		return "none"
	}
	out := make([]string, len(s.AllowedPrincipals))
	for i, p := range s.AllowedPrincipals {
		out[i] = p
		if p == vpcendpoints.AnyPrincipal {
			out[i] = "* (anyone)"
		}
	}
	return strings.Join(out, ", ")
}

// remedy says how to fix a service's problem.
func remedy(s approver.ServiceAudit, region string) string {
	if !s.Found {
		return fmt.Sprintf("remove it from %s, or audit the Region it is in (--region)", settings.EnvServiceIDs)
	}
	return fmt.Sprintf("turn acceptance on (aws ec2 modify-vpc-endpoint-service-configuration --region %s --service-id %s --acceptance-required), or stop managing it", region, s.ServiceID)
}

// table renders rows under header as the commands' tables are, one line
// each.
func table(header []string, rows [][]string) []string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush() // a strings.Builder does not fail
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// auditSummary is the audit in one line: what to fix, or that all is clean.
func auditSummary(au *approver.Audit) string {
	managed, open, missing := 0, 0, 0
	for _, s := range au.Services {
		switch {
		case !s.Managed:
		case !s.Found:
			managed++
			missing++
		case !s.AcceptanceRequired:
			managed++
			open++
		default:
			managed++
		}
	}
	line := fmt.Sprintf("%d endpoint service(s), %d managed; %d accepted connection(s) of the managed services checked against policy %s version %s.",
		len(au.Services), managed, au.Checked, au.PolicyParameter, au.PolicyVersion)
	var fix []string
	if open > 0 {
		fix = append(fix, fmt.Sprintf("%d managed service(s) not requiring acceptance (turn it on)", open))
	}
	if missing > 0 {
		fix = append(fix, fmt.Sprintf("%d service(s) in %s not found (remove them)", missing, settings.EnvServiceIDs))
	}
	if n := len(au.Drift); n > 0 {
		what := fmt.Sprintf("%d accepted connection(s) the policy now rejects", n)
		switch {
		case !au.Revoke:
			what += " (revoke is off: reject them with approverctl reject, or accept them in the policy)"
		case n > au.MaxRevocations:
			what += fmt.Sprintf(" (more than maxRevocations %d: the guard holds them, and every sweep fails)", au.MaxRevocations)
		default:
			what += " (the next sweep revokes them)"
		}
		fix = append(fix, what)
	}
	if len(fix) > 0 {
		line = "To fix: " + strings.Join(fix, "; ") + ". " + line
	} else if au.Complete() {
		line = "Clean: every managed service requires acceptance, and the policy keeps every accepted connection. " + line
	}
	if !au.Complete() {
		line += " Not complete: " + strings.Join(incomplete(au), ", ") + "."
	}
	return line
}

// incomplete says what the audit could not check.
func incomplete(au *approver.Audit) []string {
	var out []string
	if n := len(au.Unknown); n > 0 {
		out = append(out, fmt.Sprintf("%d connection(s) unknown (accounts not looked up in AWS Organizations)", n))
	}
	if n := len(au.Unchecked); n > 0 {
		out = append(out, fmt.Sprintf("%d managed service(s) whose connections were not checked", n))
	}
	n := 0
	for _, s := range au.Services {
		if s.PrincipalsError != "" {
			n++
		}
	}
	if n > 0 {
		out = append(out, fmt.Sprintf("%d service(s) whose allowed principals could not be read", n))
	}
	return out
}

package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/spf13/cobra"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/awserr"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/membership"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/policystore"
	"github.com/privatelink-approver/privatelink-approver/pkg/settings"
)

func (a *app) validateCmd() *cobra.Command {
	var root bool
	var role string
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a policy file; exit 1 listing every problem by field path",
		Long: `Check a policy file (a JSON document or a plain list of account IDs) as the
function would. Exit 0 when it is valid; otherwise exit 1 and list every
problem (the first 50, then how many more), located by its field path, e.g.
  rules[2].accounts[0]: "12345" is not a 12-digit account ID or "*"
A JSON syntax error says its line and column. The form is told by the first
character: "{" is a JSON document; a JSON array ("[") or YAML is refused,
never read as account IDs. A UTF-8 byte-order mark is ignored.

Warnings do not fail the file (exit 0): a rule that has already expired, a
policy that accepts nobody, and a file past 4096 bytes, which SSM stores
only in the Advanced tier (policy push chooses it). Past 8192 bytes SSM
cannot store it at all: a problem.

A root part (a document that sets delegate, or any file with --root) is
checked as the root of a path policy: its delegations too (each part named
once, services as service IDs, actions accept or reject), and its rule
names (no /). FILE may be - for standard input.

With --role, the organizations and OUs the rules name are also checked
against AWS Organizations as the function checks them (acting as that
role): an organization other than the role's own, or an OU not in it, is a
problem, since the function would decide nothing with such a policy.

--output json lists the problems as objects:
  {"path": "rules[2].accounts[0]", "message": "...", "severity": "error"}
with severity "error" or "warning".`,
		Example: "  approverctl policy validate policy.json\n  approverctl policy validate root.json --output json\n" +
			"  approverctl policy validate policy.json --role arn:aws:iam::999988887777:role/privatelink-approver-org-reader",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			text, err := a.readPolicyFile(args[0])
			if err != nil {
				return err
			}
			parse, what := policy.Parse, ""
			if root || policy.IsRoot(text) {
				parse, what = policy.ParseRoot, "root part, "
			}
			p, err := parse(text)
			var list []policy.Problem
			more := 0
			switch {
			case err != nil:
				list, more = problems(err)
			case cmd.Flags().Changed("role"):
				rerr := a.checkReferences(cmd, role, p)
				var ref *membership.ReferenceError
				if rerr != nil && !errors.As(rerr, &ref) {
					return rerr // could not check: an error, not a verdict on the file
				}
				if rerr != nil {
					list = referenceProblems(p, rerr)
				}
			}
			list = append(list, sizeProblems(len(text))...)
			if err == nil {
				list = append(list, p.Warnings(time.Now())...)
			}
			// Errors left out by the parser (more) make the file invalid;
			// warnings left out here do not.
			invalid := more > 0 || slices.ContainsFunc(list, func(pr policy.Problem) bool { return pr.Severity != policy.SeverityWarning })
			if len(list) > policy.MaxProblems {
				list, more = list[:policy.MaxProblems], more+len(list)-policy.MaxProblems
			}
			lines := problemLines(list, more)
			out := map[string]any{"file": args[0], "valid": !invalid, "problems": orEmpty(list)}
			if more > 0 {
				out["moreProblems"] = more
			}
			if invalid {
				notes := append([]string{fmt.Sprintf("%s: invalid, %d problem(s):", args[0], len(list)+more)}, lines...)
				_ = a.show(view{JSON: out, Notes: notes})
				return reportedError{fmt.Errorf("%s is invalid", args[0])}
			}
			line := fmt.Sprintf("%s: valid, %s%d rule(s), defaultAction %s", args[0], what, len(p.Rules), p.DefaultAction)
			if p.Revoke {
				line += fmt.Sprintf(", revoke (at most %d per invocation)", p.MaxRevocations)
			}
			line += fmt.Sprintf(", at most %d rejections per invocation", p.MaxRejections)
			notes := []string{line}
			for _, d := range p.Delegations {
				notes = append(notes, fmt.Sprintf("  delegates %s: %s on %s", d.Part, d.ActionsText(), strings.Join(d.Services, ", ")))
			}
			notes = append(notes, lines...)
			out["rules"], out["defaultAction"], out["revoke"] = len(p.Rules), p.DefaultAction, p.Revoke
			out["maxRevocations"], out["maxRejections"], out["delegate"] = p.MaxRevocations, p.MaxRejections, p.Delegations
			return a.show(view{JSON: out, Notes: notes})
		},
	}
	cmd.Flags().BoolVar(&root, "root", false, "check FILE as the root part of a path policy (the parameter root under the path)")
	cmd.Flags().StringVar(&role, "role", "", "also check the organizations and OUs the rules name in AWS Organizations, acting as this role (the function's ORGANIZATION_ROLE_ARN)")
	return cmd
}

// SSM's limits on a parameter's value, by tier.
const (
	// standardTierBytes is the most a Standard parameter holds.
	standardTierBytes = 4096
	// advancedTierBytes is the most an Advanced parameter holds.
	advancedTierBytes = 8192
)

// sizeProblems says what SSM's limits make of a policy of size bytes: past
// the Standard tier's, a warning (it needs the Advanced tier); past the
// Advanced tier's, an error (it cannot be stored).
func sizeProblems(size int) []policy.Problem {
	switch {
	case size > advancedTierBytes:
		return []policy.Problem{{Severity: policy.SeverityError, Message: fmt.Sprintf(
			"the policy is %d bytes: an SSM parameter holds at most %d (Advanced tier), so it cannot be stored; shorten it, or split it into parts under a path (POLICY_PARAMETER ending in /)",
			size, advancedTierBytes)}}
	case size > standardTierBytes:
		return []policy.Problem{{Severity: policy.SeverityWarning, Message: fmt.Sprintf(
			"the policy is %d bytes: past %d it needs the Advanced tier (policy push chooses it; aws ssm put-parameter --tier Advanced), which is charged, and a parameter cannot go back to Standard",
			size, standardTierBytes)}}
	}
	return nil
}

// problemLines lists problems as the text output does, indented, warnings
// marked, then how many more there are.
func problemLines(list []policy.Problem, more int) []string {
	var lines []string
	for _, pr := range list {
		mark := ""
		if pr.Severity == policy.SeverityWarning {
			mark = "warning: "
		}
		lines = append(lines, "  "+mark+pr.String())
	}
	if more > 0 {
		lines = append(lines, "  "+strings.TrimPrefix(policy.MoreText(more), "; "))
	}
	return lines
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// referenceProblems lists what checkReferences found wrong (joined
// *membership.ReferenceError), each at the field path of the ID it names:
// rules[i].organizations[j] or rules[i].organizationalUnits[j].
func referenceProblems(p *policy.Policy, err error) []policy.Problem {
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	out := make([]policy.Problem, 0, len(errs))
	for _, e := range errs {
		pr := policy.Problem{Message: e.Error(), Severity: policy.SeverityError}
		var rerr *membership.ReferenceError
		if errors.As(e, &rerr) {
			pr.Path = referencePath(p, rerr.Rule, rerr.ID)
		}
		out = append(out, pr)
	}
	return out
}

// referencePath is the field path of the organization or OU id in rule
// name's lists, or "".
func referencePath(p *policy.Policy, name, id string) string {
	for i, r := range p.Rules {
		if r.Name != name {
			continue
		}
		if j := slices.Index(r.Organizations, id); j >= 0 {
			return fmt.Sprintf("rules[%d].organizations[%d]", i, j)
		}
		if j := slices.Index(r.OrganizationalUnits, id); j >= 0 {
			return fmt.Sprintf("rules[%d].organizationalUnits[%d]", i, j)
		}
	}
	return ""
}

// checkReferences checks the organizations and OUs p names in AWS
// Organizations, as the function does before its first lookup: every one
// that is not of the organization is a problem (joined errors).
func (a *app) checkReferences(cmd *cobra.Command, roleFlag string, p *policy.Policy) error {
	refs := p.References()
	if len(refs) == 0 {
		return nil
	}
	role, err := a.orgRole(roleFlag)
	if err != nil {
		return err
	}
	c, err := a.aws(cmd.Context())
	if err != nil {
		return err
	}
	r := c.memberships(role)
	if r == nil {
		return errors.New("no AWS Organizations client")
	}
	err = r.Check(cmd.Context(), refs)
	var lerr *membership.LookupError
	if errors.As(err, &lerr) {
		return fmt.Errorf("%w%s", err, orgHint(err))
	}
	return err
}

func (a *app) explainCmd() *cobra.Command {
	var account, service, endpoint, endpointRegion, at, orgPath, role string
	var accepted int
	cmd := &cobra.Command{
		Use:   "explain FILE --account ID --service ID",
		Short: "Say what a policy file decides for one connection request, and why",
		Long: `Evaluate a policy file for one connection request and print the decision,
the rule and the reason. --endpoint-region is the consumer endpoint's Region
(VpcEndpointRegion, for a cross-region connection); without it, the
connection is in --region's Region. --at evaluates at another time (RFC 3339),
for rules that expire. --accepted is how many connections the account already
has to the service, for rules with maxEndpoints.

For rules by organization or OU, the account is looked up live in AWS
Organizations, as the function does (as --role, else ORGANIZATION_ROLE_ARN,
else with your own credentials); --org-path explains offline with the
account's place given as the function logs it (orgPath), or "" for an
account outside the organization.`,
		Example: `  approverctl policy explain policy.json --account 111122223333 --service vpce-svc-0123456789abcdef0
  approverctl policy explain policy.json --account 444455556666 --service vpce-svc-0123456789abcdef0 \
      --endpoint vpce-0a1b2c3d4e5f67890 --endpoint-region eu-west-1 --at 2027-07-01T00:00:00Z
  approverctl policy explain policy.json --account 111122223333 --service vpce-svc-0123456789abcdef0 \
      --org-path o-abc1234567/r-ab12/ou-ab12-11111111`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var bad []string
			if !awsid.IsAccount(account) {
				bad = append(bad, fmt.Sprintf("--account %q: want a 12-digit account ID", account))
			}
			if !awsid.IsServiceID(service) {
				bad = append(bad, fmt.Sprintf("--service %q: want an endpoint service ID (vpce-svc-...)", service))
			}
			if endpoint != "" && !awsid.IsEndpointID(endpoint) {
				bad = append(bad, fmt.Sprintf("--endpoint %q: want a VPC endpoint ID (vpce-...)", endpoint))
			}
			if endpointRegion != "" && !awsid.IsRegion(endpointRegion) {
				bad = append(bad, fmt.Sprintf("--endpoint-region %q: want a Region name such as eu-west-1", endpointRegion))
			}
			when := time.Now()
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					bad = append(bad, fmt.Sprintf("--at %q: want an RFC 3339 time such as 2027-07-01T00:00:00Z", at))
				}
				when = t
			}
			var org *policy.Membership
			if cmd.Flags().Changed("org-path") {
				m, err := policy.ParsePath(orgPath)
				if err != nil {
					bad = append(bad, "--org-path: "+err.Error())
				}
				org = &m
			}
			if len(bad) > 0 {
				return errors.New(strings.Join(bad, "; "))
			}
			text, err := a.readPolicyFile(args[0])
			if err != nil {
				return err
			}
			p, err := policy.Parse(text)
			if err != nil {
				return fmt.Errorf("%s is invalid (run approverctl policy validate): %w", args[0], err)
			}
			region := endpointRegion
			if region == "" {
				c, err := a.aws(cmd.Context())
				if err != nil {
					return err
				}
				region = c.region
			}
			endpoint = awsid.NormalizeEndpointID(endpoint)
			req := policy.Request{Account: account, ServiceID: service, EndpointID: endpoint, Region: region, Accepted: accepted, Org: org}
			if org == nil && p.NeedsMembership(req, when) {
				if err := a.checkReferences(cmd, role, p); err != nil {
					var rerr *membership.ReferenceError
					if errors.As(err, &rerr) {
						return fmt.Errorf("%s would decide nothing: %w", args[0], err)
					}
					return fmt.Errorf("rules by organization or OU could decide this request, and %w (or explain offline with --org-path)", err)
				}
				m, err := a.lookup(cmd, role, account)
				if err != nil {
					return fmt.Errorf("rules by organization or OU could decide this request, and %w (or explain offline with --org-path)", err)
				}
				req.Org = &m
			}
			d := p.Decide(req, when)
			out := map[string]any{"action": d.Action, "rule": d.Rule, "reason": d.Reason(),
				"account": account, "serviceId": service, "endpointId": endpoint, "region": region, "at": when.UTC().Format(time.RFC3339)}
			var notes []string
			if req.Org != nil {
				out["orgPath"] = req.Org.Path()
				where := req.Org.Path()
				if !req.Org.Member() {
					where = "not in the organization"
				}
				notes = append(notes, fmt.Sprintf("account %s: %s", account, where))
			}
			return a.show(view{
				JSON:   out,
				Header: []string{"DECISION", "RULE", "REASON"},
				Rows:   [][]string{{string(d.Action), d.Rule, d.Reason()}},
				Notes:  notes,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&account, "account", "", "the consumer's account ID (required)")
	f.StringVar(&service, "service", "", "the endpoint service ID (required)")
	f.StringVar(&endpoint, "endpoint", "", "the consumer's VPC endpoint ID")
	f.StringVar(&endpointRegion, "endpoint-region", "", "the consumer endpoint's Region (VpcEndpointRegion)")
	f.StringVar(&at, "at", "", "evaluate at this time (RFC 3339) instead of now")
	f.IntVar(&accepted, "accepted", 0, "connections the account already has to the service (for maxEndpoints)")
	f.StringVar(&orgPath, "org-path", "", `the account's place in AWS Organizations (o-.../r-.../ou-...; "" for outside), to explain offline`)
	bindRole(cmd, &role)
	_ = cmd.MarkFlagRequired("account")
	_ = cmd.MarkFlagRequired("service")
	return cmd
}

// proposal is a policy file set against what is stored.
type proposal struct {
	// parameter is the stored policy: one parameter, or a path.
	parameter string
	// part is the parameter under the path that the file replaces.
	part string
	// current is the stored policy, nil when nothing valid is stored
	// (currentProblem then says why, unless nothing is stored at all).
	current        *policy.Loaded
	currentProblem error
	proposed       *policy.Loaded
	// text is the file's content.
	text []byte
	// version is the stored version of the parameter the file replaces
	// (part, or parameter), as read for the plan; 0 when none is stored.
	// stored is its value then.
	version int64
	stored  []byte
}

// propose reads the stored policy and builds the one that storing text
// would make: text itself, or, under a path, every part with part replaced
// by text (or added). The error is a failed read, or an *invalidProposal.
func propose(ctx context.Context, c *clients, parameter, part string, text []byte) (*proposal, error) {
	pr := &proposal{parameter: parameter, part: part, text: text}
	parts, err := policystore.New(c.ssm, parameter, 0).ReadParts(ctx)
	switch {
	case errors.Is(err, policystore.ErrNotFound):
		parts = nil
	case err != nil:
		return nil, fmt.Errorf("read the stored policy: %w", err)
	default:
		pr.current, pr.currentProblem = policystore.Build(parameter, parts)
	}
	target := cmp.Or(part, parameter)
	for _, p := range parts {
		if p.Name == target {
			pr.version, pr.stored = p.Version, p.Text
		}
	}
	next := []policystore.Part{{Name: parameter, Text: text}}
	if awsid.IsParameterPath(parameter) {
		next = slices.DeleteFunc(slices.Clone(parts), func(p policystore.Part) bool { return p.Name == part })
		next = append(next, policystore.Part{Name: part, Text: text})
		slices.SortFunc(next, func(x, y policystore.Part) int { return strings.Compare(x.Name, y.Name) })
	}
	pr.proposed, err = policystore.Build(parameter, next)
	if err != nil {
		return nil, &invalidProposal{err: err}
	}
	return pr, nil
}

// invalidProposal is a file that would make the stored policy invalid.
type invalidProposal struct{ err error }

func (e *invalidProposal) Error() string { return e.err.Error() }
func (e *invalidProposal) Unwrap() error { return e.err }

// proposal reads what is stored at parameter with c, and refuses FILE
// (text), printing why, when it makes the stored policy invalid as part, or
// the root would refuse or ignore it. suffix ends the refusal's headline.
// The file alone was checked before (checkFile).
func (a *app) proposal(ctx context.Context, c *clients, file string, text []byte, parameter, part, suffix string) (*proposal, error) {
	pr, err := propose(ctx, c, parameter, part, text)
	var invalid *invalidProposal
	if errors.As(err, &invalid) {
		return nil, a.refuse(fmt.Sprintf("%s as %s makes the policy under %s invalid%s:", file, part, parameter, suffix), invalid.err)
	}
	if err != nil {
		return nil, err
	}
	if issue, ok := pr.refusedPart(); ok {
		fmt.Fprintf(a.stderr, "%s as %s would be %s by the root part %s%s:\n", file, part, issue.Status, policystore.RootOf(parameter), suffix)
		for _, p := range issue.Problems {
			fmt.Fprintf(a.stderr, "  %s\n", p)
		}
		return nil, reportedError{fmt.Errorf("%s would be %s", part, issue.Status)}
	}
	return pr, nil
}

// refusedPart is the proposed part's issue when the root would refuse or
// ignore it: it would decide nothing, and hold its services.
func (pr *proposal) refusedPart() (policy.PartIssue, bool) {
	if !awsid.IsParameterPath(pr.parameter) {
		return policy.PartIssue{}, false
	}
	rel := strings.TrimPrefix(pr.part, pr.parameter)
	for _, issue := range pr.proposed.Policy.Issues {
		if issue.Part == rel {
			return issue, true
		}
	}
	return policy.PartIssue{}, false
}

// enclosingPaths are the path policies parameter is part of: every path
// above it whose root part exists (deepest first), and the parent path of a
// parameter named root, whether it exists yet or not. It reads one
// parameter per level; a read that fails for any other reason than a
// missing parameter fails it, for a part must never be checked against
// less than its root.
func enclosingPaths(ctx context.Context, client policystore.SSMAPI, parameter string) ([]string, error) {
	var paths []string
	for dir := parameter[:strings.LastIndexByte(parameter, '/')+1]; dir != "" && dir != "/"; dir = dir[:strings.LastIndexByte(strings.TrimSuffix(dir, "/"), '/')+1] {
		root := policystore.RootOf(dir)
		if root == parameter {
			paths = append(paths, dir)
			continue
		}
		_, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(root)})
		switch {
		case awserr.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("look for the root part %s: %w", root, err)
		default:
			paths = append(paths, dir)
		}
	}
	return paths, nil
}

// policyOf is the stored policy FILE for parameter is part of, and the
// part (the parameter under its path, or "" for a policy in one
// parameter): the path of POLICY_PARAMETER when it is one of the enclosing
// paths, else the outermost, else the parameter alone.
func (a *app) policyOf(ctx context.Context, c *clients, parameter string) (string, string, []string, error) {
	paths, err := enclosingPaths(ctx, c.ssm, parameter)
	if err != nil {
		return "", "", nil, err
	}
	if len(paths) == 0 {
		return parameter, "", nil, nil
	}
	chosen := paths[len(paths)-1]
	if env := strings.TrimSpace(a.getenv(settings.EnvPolicyParameter)); slices.Contains(paths, env) {
		chosen = env
	}
	return chosen, parameter, paths, nil
}

// partName is the parameter under path that --part names: a full name, or
// one relative to the path.
func partName(path, part string) (string, error) {
	name := part
	if !strings.HasPrefix(part, "/") {
		name = path + part
	}
	if !strings.HasPrefix(name, path) || name == path || awsid.IsParameterPath(name) {
		return "", fmt.Errorf("--part %q: name one parameter under %s", part, path)
	}
	return name, nil
}

func (a *app) planCmd() *cobra.Command {
	var flags scopeFlags
	var part string
	cmd := &cobra.Command{
		Use:   "plan FILE [--parameter NAME] [--part NAME] [--service ID]...",
		Short: "Show what storing a policy file would change for the live connections",
		Long: `Compare what FILE would decide with what the stored policy decides, for the
live connections of the managed services, as the sweep after a push would:
each pending request whose action would differ, each accepted connection
that would be revoked (when FILE says revoke), and whether the revocation
guard would hold. Nothing is changed.

The stored policy is --parameter, or $POLICY_PARAMETER. When it is a path
(it ends in /), --part names the parameter under it that FILE replaces (a new
part when none has that name, relative to the path or in full), and the
merged policy is planned. When nothing valid is stored, every action FILE
would take is a change.

Exit status, as terraform plan -detailed-exitcode: 0 nothing would change,
2 something would, 1 an error or an invalid file.`,
		Example: `  approverctl policy plan policy.json --parameter /privatelink-approver/policy
  approverctl policy plan partners.json --parameter /privatelink/policies/ --part partners --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := a.scope(flags)
			if err != nil {
				return err
			}
			in, err := a.planInput(sc, args[0], part)
			if err != nil {
				return err
			}
			c, err := a.aws(cmd.Context())
			if err != nil {
				return err
			}
			o, err := a.planIn(cmd.Context(), c, in)
			if err != nil {
				return err
			}
			return a.conclude(o)
		},
	}
	flags.bind(cmd)
	cmd.Flags().StringVar(&part, "part", "", "with a path: the parameter under it that FILE replaces")
	return cmd
}

// planRequest is what policy plan plans, its arguments checked: FILE
// against the policy stored at sc.parameter.
type planRequest struct {
	file string
	text []byte
	sc   scope
	// part is the parameter under the path sc.parameter that FILE
	// replaces, "" when sc.parameter is one parameter.
	part string
}

// planInput reads FILE and checks it with --part, as far as it can be
// without AWS: a path needs --part, one parameter none, and FILE must be a
// valid policy alone (a part as a part).
func (a *app) planInput(sc scope, file, part string) (planRequest, error) {
	text, err := a.readPolicyFile(file)
	if err != nil {
		return planRequest{}, err
	}
	switch {
	case awsid.IsParameterPath(sc.parameter) && part == "":
		return planRequest{}, fmt.Errorf("%s is a path: give --part NAME, the parameter under it that %s replaces", sc.parameter, file)
	case awsid.IsParameterPath(sc.parameter):
		if part, err = partName(sc.parameter, part); err != nil {
			return planRequest{}, err
		}
		if err := a.checkFile(file, text, part, false, ""); err != nil {
			return planRequest{}, err
		}
	case part != "":
		return planRequest{}, fmt.Errorf("--part: %s is one parameter, not a path", sc.parameter)
	default:
		if err := a.checkFile(file, text, sc.parameter, false, ""); err != nil {
			return planRequest{}, err
		}
	}
	return planRequest{file: file, text: text, sc: sc, part: part}, nil
}

// planIn plans in.file against the policy stored in c's account and
// Region, for its live connections: the work of policy plan in one account
// and Region. Its status is errChanges when something would change.
func (a *app) planIn(ctx context.Context, c *clients, in planRequest) (outcome, error) {
	sc, part := in.sc, in.part
	// A parameter under a path with a root part is a part of that path's
	// policy, whatever POLICY_PARAMETER says. A parameter named by its ARN
	// is shared from another account, where a path policy cannot be.
	if !awsid.IsParameterPath(sc.parameter) && !awsid.IsParameterARN(sc.parameter) {
		var err error
		if sc.parameter, part, _, err = a.policyOf(ctx, c, sc.parameter); err != nil {
			return outcome{}, err
		}
		if err := a.checkFile(in.file, in.text, part, false, ""); err != nil {
			return outcome{}, err
		}
	}
	pr, err := a.proposal(ctx, c, in.file, in.text, sc.parameter, part, "")
	if err != nil {
		return outcome{}, err
	}
	plan, err := c.approver(sc, true).PlanPolicy(ctx, pr.current, pr.proposed)
	if err != nil {
		return outcome{}, err
	}
	o := outcome{view: planView(in.file, pr, plan)}
	if plan.Changed() {
		o.status = errChanges
	}
	return o, nil
}

// refuse prints why a policy is refused and returns the exit-1 error.
func (a *app) refuse(headline string, err error) error {
	fmt.Fprintln(a.stderr, headline)
	var perr *policystore.Error
	if errors.As(err, &perr) && perr.Parameter != "" {
		fmt.Fprintf(a.stderr, "  in %s:\n", perr.Parameter)
	}
	for _, line := range problemLines(problems(err)) {
		fmt.Fprintln(a.stderr, line)
	}
	return reportedError{err}
}

// isRootPart reports whether the parameter name is a root part: the
// parameter root of the path above it.
func isRootPart(name string) bool {
	i := strings.LastIndexByte(name, '/')
	return i > 0 && name == policystore.RootOf(name[:i+1])
}

// checkFile refuses FILE (text), printing why, when it is invalid alone:
// as a root part when it sets delegate or is to be stored as name, a root
// part (name "" for none known yet); when write, also when SSM cannot
// store it. suffix ends the refusal's headline. It makes no AWS call.
func (a *app) checkFile(file string, text []byte, name string, write bool, suffix string) error {
	parse := policy.Parse
	if policy.IsRoot(text) || name != "" && isRootPart(name) {
		parse = policy.ParseRoot
	}
	if _, err := parse(text); err != nil {
		return a.refuse(fmt.Sprintf("%s is invalid%s:", file, suffix), err)
	}
	if write {
		for _, pr := range sizeProblems(len(text)) {
			if pr.Severity == policy.SeverityError {
				return a.refuse(fmt.Sprintf("%s cannot be stored%s:", file, suffix), &policy.ValidationError{Problems: []policy.Problem{pr}})
			}
		}
	}
	return nil
}

// planJSON is policy plan's --output json.
type planJSON struct {
	File           string `json:"file"`
	Parameter      string `json:"parameter"`
	Part           string `json:"part,omitempty"`
	StoredInvalid  string `json:"storedInvalid,omitempty"`
	Changed        bool   `json:"changed"`
	SummaryLine    string `json:"summaryLine"`
	GuardHoldsText string `json:"guard,omitempty"`
	*approver.PolicyPlan
}

func planView(file string, pr *proposal, plan *approver.PolicyPlan) view {
	v := view{
		Header: []string{"SERVICE", "ENDPOINT", "OWNER", "STATE", "NOW", "AFTER", "WHY"},
		Empty:  fmt.Sprintf("No changes: %s decides every live connection as the stored policy does.", file),
	}
	for _, c := range plan.Changes {
		now := "nothing (no valid policy stored)"
		if c.Current != nil {
			now = verdictText(*c.Current)
		}
		v.Rows = append(v.Rows, []string{c.ServiceID, c.EndpointID, c.Owner, c.State, now, verdictText(c.Proposed), c.Proposed.Reason})
	}
	if pr.currentProblem != nil {
		v.Notes = append(v.Notes, "", fmt.Sprintf("The stored policy is invalid, so it decides nothing: %v", pr.currentProblem))
	} else if pr.current == nil {
		v.Notes = append(v.Notes, "", fmt.Sprintf("Nothing is stored at %s yet.", pr.parameter))
	}
	guard := guardText(plan)
	v.Notes = append(v.Notes, "", planSummary(plan))
	if guard != "" {
		v.Notes = append(v.Notes, guard)
	}
	v.Notes = append(v.Notes, partLines(plan.Parts)...)
	j := planJSON{File: file, Parameter: pr.parameter, Part: pr.part, Changed: plan.Changed(), SummaryLine: planSummary(plan),
		GuardHoldsText: guard, PolicyPlan: plan}
	if pr.currentProblem != nil {
		j.StoredInvalid = pr.currentProblem.Error()
	}
	v.JSON = j
	return v
}

func verdictText(v approver.Verdict) string {
	if v.Rule == "" {
		return v.Action
	}
	return fmt.Sprintf("%s (%s)", v.Action, v.Rule)
}

// planSummary is the plan in one line, as policy push prints it too.
func planSummary(p *approver.PolicyPlan) string {
	return fmt.Sprintf("Plan: %d to accept, %d to reject, %d left to a person, %d to revoke; %d pending and %d accepted connection(s) read on %d service(s).",
		p.Summary.Accept, p.Summary.Reject, p.Summary.Manual, p.Summary.Revoke, p.Pending, p.Accepted, len(p.Services))
}

// guardText says which guards the plan would trip, one line each, or "".
func guardText(p *approver.PolicyPlan) string {
	var lines []string
	if p.GuardHolds {
		lines = append(lines, fmt.Sprintf("The guard would hold: %d revocations exceed maxRevocations %d, so the next sweep would revoke nothing and fail.",
			p.Revocations, p.MaxRevocations))
	}
	if p.RejectionGuardHolds {
		lines = append(lines, fmt.Sprintf("The rejection guard would hold: %d rejections exceed maxRejections %d, so the next sweep would reject none of them (accepts go ahead) and fail.",
			p.Rejections, p.MaxRejections))
	}
	return strings.Join(lines, "\n")
}

// partLines say what the policy does with parts that decide nothing.
func partLines(parts []policy.PartIssue) []string {
	var out []string
	for _, issue := range parts {
		line := issue.String()
		if len(issue.Services) > 0 {
			line += " (holds " + strings.Join(issue.Services, ", ") + ": nothing on them is decided)"
		}
		out = append(out, line)
	}
	return out
}

func (a *app) pushCmd() *cobra.Command {
	var parameter, role string
	var secure, yes bool
	cmd := &cobra.Command{
		Use:   "push FILE --parameter NAME [--yes]",
		Short: "Validate a policy file, show its plan, ask, then write it to the SSM parameter",
		Long: `Validate a policy file and, only if it is valid, write it to the SSM
parameter (overwriting it). An invalid file is refused: nothing is written.
When the parameter lies under a path whose root part (the parameter root
under it) exists, or is itself a root part, the policy of that path is read
whole and checked with FILE in place, whatever $POLICY_PARAMETER says: a
part the root would refuse (invalid, setting what only the root may set,
naming a service or an action it was not delegated) or ignore (not
delegated) is refused, and so is a root that is invalid.

Before writing, push prints the summary of approverctl policy plan (the
changes the next sweep would make to the live connections), then asks on
the terminal: only "yes" writes. --yes does not ask; without a terminal on
stdin and without --yes, nothing is written. When no plan can be made (the
live connections cannot be read), nothing is written. When the parameter
already holds FILE, there is nothing to do.

The write is made against the version planned: the parameter's version is
read again just before writing, and when it changed since the plan (someone
else wrote it), nothing is written; a new parameter is created only if it
still does not exist. When the version written is not the planned one plus
one, another write came in between, and push warns.

A new parameter is a String (--secure: SecureString); an existing one keeps
its type and KMS key. The Advanced tier is used when the size needs it (over
4096 bytes; over 8192 bytes a policy cannot be stored), or when the
parameter already is Advanced. The function reloads the policy on the
parameter's change event.`,
		Example: "  approverctl policy push policy.json --parameter /privatelink-approver/policy\n" +
			"  approverctl policy push policy.json --parameter /privatelink-approver/policy --yes",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if parameter == "" || awsid.IsParameterPath(parameter) {
				return fmt.Errorf("--parameter %q: name one parameter (a path ending in / holds several)", parameter)
			}
			const nothingWritten = "; nothing was written"
			text, err := a.readPolicyFile(args[0])
			if err != nil {
				return err
			}
			if err := a.checkFile(args[0], text, parameter, true, nothingWritten); err != nil {
				return err
			}
			// The policy this parameter is part of: the function's path when
			// it lies under it, else the parameter alone; the services the
			// function manages.
			sc, err := a.scope(scopeFlags{parameter: parameter, role: role})
			if err != nil {
				return err
			}
			c, err := a.aws(cmd.Context())
			if err != nil {
				return err
			}
			// Every path policy the parameter is part of (a path above it
			// with a root part) must take it; the first is planned.
			var part string
			var paths []string
			if sc.parameter, part, paths, err = a.policyOf(cmd.Context(), c, parameter); err != nil {
				return err
			}
			for _, other := range paths {
				if other != sc.parameter {
					if _, err := a.proposal(cmd.Context(), c, args[0], text, other, parameter, nothingWritten); err != nil {
						return err
					}
				}
			}
			pr, err := a.proposal(cmd.Context(), c, args[0], text, sc.parameter, part, nothingWritten)
			if err != nil {
				return err
			}
			if pr.version > 0 && bytes.Equal(pr.stored, text) {
				return a.show(view{
					JSON:  map[string]any{"parameter": parameter, "version": pr.version, "written": false},
					Notes: []string{fmt.Sprintf("Nothing to do: %s version %d already holds %s.", parameter, pr.version, args[0])},
				})
			}
			plan, err := c.approver(sc, true).PlanPolicy(cmd.Context(), pr.current, pr.proposed)
			if err != nil {
				return fmt.Errorf("no plan, so nothing was written (push shows what a policy changes before writing it): %w", err)
			}
			summary := []string{planSummary(plan)}
			if g := guardText(plan); g != "" {
				summary = append(summary, g)
			}
			if err := a.showPlan(view{Notes: summary}); err != nil {
				return err
			}
			what := fmt.Sprintf("write %s to %s as version %d", args[0], parameter, pr.version+1)
			if pr.version == 0 {
				what = fmt.Sprintf("create %s with %s", parameter, args[0])
			}
			if err := a.confirm(yes, what); err != nil {
				return err
			}
			var out *ssm.PutParameterOutput
			var typ ssmtypes.ParameterType
			err = a.applying(cmd.Context(), func(ctx context.Context) error {
				var err error
				out, typ, err = putParameter(ctx, c.ssm, parameter, pr.version, text, secure, &a.interrupted)
				return err
			})
			if errors.Is(err, errAborted) || out == nil {
				return err
			}
			if out.Version != pr.version+1 {
				fmt.Fprintf(a.stderr, "approverctl: warning: %s is version %d, not %d: another write came in between the check and this one; see what is stored with approverctl policy plan\n",
					parameter, out.Version, pr.version+1)
			}
			if serr := a.show(view{
				JSON: map[string]any{"parameter": parameter, "version": out.Version, "plannedVersion": pr.version, "written": true,
					"tier": out.Tier, "type": typ, "plan": plan},
				Notes: []string{fmt.Sprintf("%s: version %d written (%s, %s tier)", parameter, out.Version, typ, out.Tier)},
			}); serr != nil {
				return serr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&parameter, "parameter", "", "the SSM parameter to write (required)")
	cmd.Flags().BoolVar(&secure, "secure", false, "create a new parameter as a SecureString")
	cmd.Flags().BoolVar(&yes, "yes", false, yesUsage)
	bindRole(cmd, &role)
	_ = cmd.MarkFlagRequired("parameter")
	return cmd
}

// versionChangedError is a parameter written by someone else since push
// planned against it: nothing is written.
type versionChangedError struct {
	parameter        string
	planned, current int64
}

func (e *versionChangedError) Error() string {
	describe := func(v int64) string {
		if v == 0 {
			return "no parameter"
		}
		return fmt.Sprintf("version %d", v)
	}
	return fmt.Sprintf("%s changed since the plan: it was planned against %s, %s is stored now; nothing was written (plan and push again)",
		e.parameter, describe(e.planned), describe(e.current))
}

// putParameter writes text to the parameter, planned against version
// planned (0: none stored), unless stopped (an interrupt) is set. An
// existing parameter keeps its type, KMS key and tier (an Advanced
// parameter cannot go back to Standard), learnt from DescribeParameters,
// every page: SSM may answer a page with no items and a NextToken. Just
// before writing, the version is read again: when it is not the planned
// one, nothing is written (a *versionChangedError); a new parameter is
// created only if it still does not exist.
func putParameter(ctx context.Context, client SSMAPI, parameter string, planned int64, text []byte, secure bool, stopped *atomic.Bool) (*ssm.PutParameterOutput, ssmtypes.ParameterType, error) {
	in := &ssm.PutParameterInput{Name: aws.String(parameter), Value: aws.String(string(text)),
		Type: ssmtypes.ParameterTypeString, Tier: ssmtypes.ParameterTierStandard, Overwrite: aws.Bool(planned > 0)}
	if secure {
		in.Type = ssmtypes.ParameterTypeSecureString
	}
	pages := ssm.NewDescribeParametersPaginator(client, &ssm.DescribeParametersInput{
		ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("Equals"), Values: []string{parameter}}},
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("look up %s: %w", parameter, err)
		}
		for _, existing := range page.Parameters {
			if aws.ToString(existing.Name) != parameter {
				continue
			}
			in.Type, in.KeyId = existing.Type, existing.KeyId
			if existing.Tier == ssmtypes.ParameterTierAdvanced {
				in.Tier = ssmtypes.ParameterTierAdvanced
			}
		}
	}
	if len(text) > standardTierBytes {
		in.Tier = ssmtypes.ParameterTierAdvanced // up to advancedTierBytes
	}
	current := int64(0)
	got, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(parameter)})
	switch {
	case awserr.IsNotFound(err):
	case err != nil:
		return nil, "", fmt.Errorf("read the version of %s again before writing: %w", parameter, err)
	case got.Parameter != nil:
		current = got.Parameter.Version
	}
	if current != planned {
		return nil, "", &versionChangedError{parameter: parameter, planned: planned, current: current}
	}
	if stopped != nil && stopped.Load() {
		return nil, "", fmt.Errorf("%w; nothing was written", errInterrupted)
	}
	out, err := client.PutParameter(ctx, in)
	if awserr.Code(err) == "ParameterAlreadyExists" {
		return nil, "", fmt.Errorf("%s was created by someone else since the plan; nothing was written (plan and push again): %w", parameter, err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("write %s: %w", parameter, err)
	}
	return out, in.Type, nil
}

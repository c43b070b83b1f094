package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsconfig"
	"github.com/privatelink-approver/privatelink-approver/pkg/awserr"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/settings"
)

// The fleet commands run pending, policy plan and audit in every account
// and Region of a fleet, through a read-only role in each account, and
// print one table.

const (
	// defaultFleetRole is the role the member stack creates for the fleet
	// view (FleetReaderPrincipalArn).
	defaultFleetRole = "privatelink-approver-fleet-reader"
	// fleetParallelism is how many account and Region pairs are read at
	// once: 120 pairs in 15 rounds, without a burst of AssumeRole and EC2
	// calls that STS or EC2 would throttle.
	fleetParallelism = 8
)

// roleNamePattern is an IAM role's name (without a path): 1 to 64 letters,
// digits and +=,.@_-.
var roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// outcome is what a single-account command found in one account and
// Region: its view, and what the exit status says of it.
type outcome struct {
	view view
	// status is nil (exit 0), an error wrapping errChanges (exit 2:
	// changes to plan, something to fix), or another error: something
	// shown in the view could not be decided or checked (exit 1).
	status error
}

// conclude prints what a single-account command found and returns its
// exit status: errChanges as is, another status said in one line.
// work is a read-only command's work in one account and Region.
type work func(ctx context.Context, c *clients, sc scope) (outcome, error)

// inAccount runs w in the caller's account and Region, with the scope the
// flags name.
func (a *app) inAccount(flags *scopeFlags, w work) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		sc, err := a.scope(*flags)
		if err != nil {
			return err
		}
		c, err := a.aws(cmd.Context())
		if err != nil {
			return err
		}
		o, err := w(cmd.Context(), c, sc)
		if err != nil {
			return err
		}
		return a.conclude(o)
	}
}

// inFleet runs w in every account and Region the flags name, each reading
// its Region's copy of a shared policy.
func (a *app) inFleet(flags *fleetFlags, w work) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		f, err := a.fleetArgs(cmd, *flags)
		if err != nil {
			return err
		}
		return a.acrossFleet(cmd.Context(), f, func(ctx context.Context, c *clients, _ io.Writer) (outcome, error) {
			return w(ctx, c, f.sc.inRegion(c.region))
		})
	}
}

func (a *app) conclude(o outcome) error {
	if err := a.show(o.view); err != nil {
		return err
	}
	switch {
	case o.status == nil:
		return nil
	case errors.Is(o.status, errChanges):
		return o.status
	}
	fmt.Fprintln(a.stderr, "approverctl:", o.status)
	return reportedError{o.status}
}

// assumedClients returns the clients acting as one role in region.
type assumedClients func(ctx context.Context, region string) (*clients, error)

// assumeRole acts as role (STS AssumeRole with cfg's credentials): the
// credentials are retrieved once and shared by every Region. They are
// retrieved before any call, so that a role that cannot be assumed is said
// plainly, not as the first call's failure.
func assumeRole(cfg aws.Config, role string) assumedClients {
	as := awsconfig.AssumeRole(cfg, role)
	return func(ctx context.Context, region string) (*clients, error) {
		if _, err := as.Credentials.Retrieve(ctx); err != nil {
			return nil, roleError(role, err)
		}
		in := as.Copy()
		in.Region = region
		return newClients(in), nil
	}
}

// roleError is a role that could not be assumed: STS's answer, and, when
// it refused, why it may have.
func roleError(role string, err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return err // awsconfig names the role
	}
	hint := ""
	if awserr.IsAccessDenied(err) {
		hint = " (the account has no such role, or it does not trust you: the member stack creates it when FleetReaderPrincipalArn is set; --role-name names another)"
	}
	return fmt.Errorf("assume role %s: %w%s", role, api, hint)
}

// fleetFlags are the flags of every fleet command.
type fleetFlags struct {
	scope    scopeFlags
	accounts []string
	ou       string
	orgRole  string
	regions  []string
	roleName string
}

func (f *fleetFlags) bind(cmd *cobra.Command) {
	f.scope.bind(cmd)
	fl := cmd.Flags()
	fl.StringSliceVar(&f.accounts, "accounts", nil, "the provider accounts, comma-separated 12-digit IDs (or --ou)")
	fl.StringVar(&f.ou, "ou", "", "every active account under this OU (or root) ID, at any depth, listed through AWS Organizations (or --accounts)")
	fl.StringVar(&f.orgRole, "org-role", "", "with --ou: the role to assume to list the accounts (default: your own credentials, which must be the management or a delegated administrator account's)")
	fl.StringSliceVar(&f.regions, "regions", nil, "the Regions, comma-separated (default: the current Region)")
	fl.StringVar(&f.roleName, "role-name", defaultFleetRole, "the role assumed in each account, as arn:PARTITION:iam::ACCOUNT:role/NAME")
}

// fleet is a fleet command's arguments, checked.
type fleet struct {
	accounts []string
	ou       string
	orgRole  string
	// regions are --regions, none for the current Region.
	regions  []string
	roleName string
	sc       scope
}

// fleetArgs checks the fleet flags, every problem said at once, before any
// AWS call.
func (a *app) fleetArgs(cmd *cobra.Command, f fleetFlags) (fleet, error) {
	var bad []string
	out := fleet{ou: f.ou, roleName: f.roleName}
	switch {
	case len(f.accounts) > 0 && f.ou != "":
		bad = append(bad, "give --accounts or --ou, not both")
	case f.ou != "" && !awsid.IsOUID(f.ou) && !awsid.IsRootID(f.ou):
		bad = append(bad, fmt.Sprintf("--ou %q: want an OU ID (ou-ab12-11111111) or a root ID (r-ab12)", f.ou))
	case f.ou == "" && !cmd.Flags().Changed("accounts"):
		bad = append(bad, "give --accounts A,B,... or --ou OU_ID")
	case f.ou == "" && len(f.accounts) == 0:
		bad = append(bad, "--accounts: give at least one account ID")
	}
	for _, id := range f.accounts {
		id = strings.TrimSpace(id)
		switch {
		case !awsid.IsAccount(id):
			bad = append(bad, fmt.Sprintf("--accounts: %q is not a 12-digit account ID", id))
		case !slices.Contains(out.accounts, id):
			out.accounts = append(out.accounts, id)
		}
	}
	if f.orgRole != "" {
		role, err := settings.ParseRoleARN("--org-role", f.orgRole)
		switch {
		case err != nil:
			bad = append(bad, err.Error())
		case f.ou == "":
			bad = append(bad, "--org-role lists the accounts of --ou: give --ou too")
		}
		out.orgRole = role
	}
	if cmd.Flags().Changed("regions") && len(f.regions) == 0 {
		bad = append(bad, "--regions: give at least one Region")
	}
	for _, r := range f.regions {
		r = strings.TrimSpace(r)
		switch {
		case r == "":
			bad = append(bad, "--regions: an empty Region")
		case !awsid.IsRegion(r):
			bad = append(bad, fmt.Sprintf("--regions: %q is not a Region name such as eu-west-1", r))
		case !slices.Contains(out.regions, r):
			out.regions = append(out.regions, r)
		}
	}
	if !roleNamePattern.MatchString(f.roleName) {
		bad = append(bad, fmt.Sprintf("--role-name %q: want a role name (letters, digits and +=,.@_-, at most 64)", f.roleName))
	}
	sc, err := a.scope(f.scope)
	if err != nil {
		bad = append(bad, err.Error())
	}
	out.sc = sc
	if len(bad) > 0 {
		return fleet{}, errors.New(strings.Join(bad, "; "))
	}
	return out, nil
}

// target is one account and Region of the fleet.
type target struct{ account, region string }

// targetResult is a single-account command's outcome in one target, or
// why it has none (err).
type targetResult struct {
	target
	outcome
	err error
}

// runFleet runs work in every target, at most limit at once, and returns
// the results in the order of targets. Once ctx is done, the targets not
// started fail with its error.
func runFleet(ctx context.Context, targets []target, limit int, work func(context.Context, target) (outcome, error)) []targetResult {
	results := make([]targetResult, len(targets))
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, t := range targets {
		results[i].target = t
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			results[i].err = ctx.Err()
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			results[i].outcome, results[i].err = work(ctx, t)
		})
	}
	wg.Wait()
	return results
}

// targetWork is a single-account command's work, with clients acting in
// one account and Region; it may print to stderr (why a file is refused).
type targetWork func(ctx context.Context, c *clients, stderr io.Writer) (outcome, error)

// acrossFleet runs work in every account and Region of f, as f.roleName
// in each, prints one table (or JSON), and returns the exit status.
func (a *app) acrossFleet(ctx context.Context, f fleet, work targetWork) error {
	if a.g.region == "" && len(f.regions) > 0 {
		a.g.region = f.regions[0] // the Region of the caller's own calls
	}
	c, err := a.aws(ctx)
	if err != nil {
		return err
	}
	if c.assume == nil {
		return errors.New("no STS client to assume the fleet role with")
	}
	regions := f.regions
	if len(regions) == 0 {
		regions = []string{c.region}
	}
	id, err := c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("find your partition (sts get-caller-identity): %w", err)
	}
	caller, err := arn.Parse(aws.ToString(id.Arn))
	if err != nil {
		return fmt.Errorf("find your partition in your ARN %q: %w", aws.ToString(id.Arn), err)
	}
	accounts := f.accounts
	if f.ou != "" {
		if accounts, err = a.accountsOf(ctx, c, f.ou, f.orgRole); err != nil {
			return err
		}
	}
	inAccount := make(map[string]assumedClients, len(accounts))
	targets := make([]target, 0, len(accounts)*len(regions))
	for _, account := range accounts {
		inAccount[account] = c.assume(fmt.Sprintf("arn:%s:iam::%s:role/%s", caller.Partition, account, f.roleName))
		for _, r := range regions {
			targets = append(targets, target{account: account, region: r})
		}
	}
	results := runFleet(ctx, targets, fleetParallelism, func(ctx context.Context, t target) (outcome, error) {
		tc, err := inAccount[t.account](ctx, t.region)
		if err != nil {
			return outcome{}, err
		}
		// Accounts are looked up in AWS Organizations as you (or --role),
		// as the single-account commands do, not as the fleet role.
		tc.orgs = c.orgs
		var said bytes.Buffer
		o, err := work(ctx, tc, &said)
		var reported reportedError
		if errors.As(err, &reported) && said.Len() > 0 {
			err = errors.New(said.String()) // the reason printed, not its headline only
		}
		return o, err
	})
	if err := a.show(fleetView(results)); err != nil {
		return err
	}
	err = fleetStatus(results)
	if err == nil || errors.Is(err, errChanges) {
		return err
	}
	fmt.Fprintln(a.stderr, "approverctl:", err)
	return reportedError{err}
}

// fleetStatus is the fleet's exit status as an error: 1 when a pair
// failed; else the worst pair's, as the single-account command's: changes
// or something to fix (errChanges, 2) over what could not be decided or
// checked (1) over nothing (nil, 0).
func fleetStatus(results []targetResult) error {
	var failed, changed, open []string
	for _, r := range results {
		pair := r.account + " " + r.region
		switch {
		case r.err != nil:
			failed = append(failed, pair)
		case r.status == nil:
		case errors.Is(r.status, errChanges):
			changed = append(changed, pair)
		default:
			open = append(open, fmt.Sprintf("%s: %v", pair, r.status))
		}
	}
	switch {
	case len(failed) > 0:
		return fmt.Errorf("%d of %d account and Region pair(s) failed, see their ERROR: %s", len(failed), len(results), strings.Join(failed, ", "))
	case len(changed) > 0:
		return fmt.Errorf("%d of %d account and Region pair(s): %w", len(changed), len(results), errChanges)
	case len(open) > 0:
		return errors.New(strings.Join(open, "; "))
	}
	return nil
}

// fleetJSON is one pair of the fleet commands' --output json: the
// single-account command's JSON, or why there is none.
type fleetJSON struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Result  any    `json:"result,omitempty"`
	Error   string `json:"error,omitempty"`
}

// fleetView is one table of every pair's rows, ACCOUNT and REGION first
// and ERROR last (a failed pair has one row, its error); then, pair by
// pair, what the single-account command says below its table.
func fleetView(results []targetResult) view {
	var header []string
	for _, r := range results {
		if r.err == nil && len(r.view.Header) > 0 {
			header = r.view.Header
			break
		}
	}
	v := view{Header: append(append([]string{"ACCOUNT", "REGION"}, header...), "ERROR")}
	entries := make([]fleetJSON, 0, len(results))
	failed := 0
	for _, r := range results {
		if r.err != nil {
			failed++
			entries = append(entries, fleetJSON{Account: r.account, Region: r.region, Error: oneLine(r.err.Error())})
			row := []string{r.account, r.region}
			for range header {
				row = append(row, "-")
			}
			v.Rows = append(v.Rows, append(row, oneLine(r.err.Error())))
			continue
		}
		entries = append(entries, fleetJSON{Account: r.account, Region: r.region, Result: r.view.JSON})
		for _, row := range r.view.Rows {
			v.Rows = append(v.Rows, append(append([]string{r.account, r.region}, row...), "-"))
		}
		var said []string
		if len(r.view.Rows) == 0 && r.view.Empty != "" {
			said = append(said, r.view.Empty)
		}
		for _, n := range r.view.Notes {
			if strings.TrimSpace(n) != "" {
				said = append(said, n)
			}
		}
		switch len(said) {
		case 0:
		case 1:
			v.Notes = append(v.Notes, fmt.Sprintf("%s %s: %s", r.account, r.region, said[0]))
		default:
			v.Notes = append(v.Notes, r.account+" "+r.region+":")
			for _, n := range said {
				v.Notes = append(v.Notes, "  "+n)
			}
		}
	}
	v.Notes = append(v.Notes, fmt.Sprintf("%d account and Region pair(s): %d read, %d failed.", len(results), len(results)-failed, failed))
	v.JSON = entries
	return v
}

// oneLine is s on one line, as a table cell.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// organizationsLister is the part of the AWS Organizations client that
// lists the accounts under an OU.
type organizationsLister interface {
	ListAccountsForParent(ctx context.Context, params *organizations.ListAccountsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error)
	ListOrganizationalUnitsForParent(ctx context.Context, params *organizations.ListOrganizationalUnitsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error)
}

// accountsOf lists the active accounts under parent, acting as role (""
// for your own credentials), saying which others it leaves out.
func (a *app) accountsOf(ctx context.Context, c *clients, parent, role string) ([]string, error) {
	var api organizationsLister
	if c.orgs != nil {
		api, _ = c.orgs(role).(organizationsLister)
	}
	if api == nil {
		return nil, errors.New("no AWS Organizations client to list the accounts of --ou with")
	}
	accounts, inactive, err := accountsUnder(ctx, api, parent)
	if err != nil {
		hint := ""
		if awserr.IsAccessDenied(err) {
			hint = " (Organizations answers only in the management account or a delegated administrator: give --org-role)"
		}
		return nil, fmt.Errorf("list the accounts under %s: %w%s", parent, err, hint)
	}
	if len(inactive) > 0 {
		fmt.Fprintf(a.stderr, "approverctl: left out %d account(s) under %s that are not active: %s\n", len(inactive), parent, strings.Join(inactive, ", "))
	}
	if len(accounts) == 0 {
		return nil, fmt.Errorf("no active account under %s", parent)
	}
	return accounts, nil
}

// accountsUnder lists the accounts under parent at any depth, every page:
// the active ones, sorted, and the others as "ID (STATE)".
func accountsUnder(ctx context.Context, api organizationsLister, parent string) (active, inactive []string, err error) {
	for queue := []string{parent}; len(queue) > 0; queue = queue[1:] {
		accounts := organizations.NewListAccountsForParentPaginator(api, &organizations.ListAccountsForParentInput{ParentId: aws.String(queue[0])})
		for accounts.HasMorePages() {
			page, err := accounts.NextPage(ctx)
			if err != nil {
				return nil, nil, err
			}
			for _, acc := range page.Accounts {
				if state := accountState(acc); state == "" || state == string(orgtypes.AccountStateActive) {
					active = append(active, aws.ToString(acc.Id))
				} else {
					inactive = append(inactive, fmt.Sprintf("%s (%s)", aws.ToString(acc.Id), state))
				}
			}
		}
		units := organizations.NewListOrganizationalUnitsForParentPaginator(api, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(queue[0])})
		for units.HasMorePages() {
			page, err := units.NextPage(ctx)
			if err != nil {
				return nil, nil, err
			}
			for _, ou := range page.OrganizationalUnits {
				queue = append(queue, aws.ToString(ou.Id))
			}
		}
	}
	slices.Sort(active)
	return slices.Compact(active), inactive, nil
}

// accountState is an account's State, else its Status (retired in
// September 2026, and all some emulators give).
func accountState(acc orgtypes.Account) string {
	if acc.State != "" {
		return string(acc.State)
	}
	return string(acc.Status)
}

const fleetLong = `Run a single-account command in every account of --accounts (or every active
account under --ou, at any depth, listed through AWS Organizations as you or
--org-role) and every Region of --regions (default: the current Region), as
the role --role-name names in each account (arn:PARTITION:iam::ACCOUNT:role/
NAME, assumed with STS AssumeRole; the partition is your own). At most 8
account and Region pairs are read at once. Nothing is changed.

The output is one table: the single-account command's rows with ACCOUNT and
REGION (the pair's) first, and ERROR last; a pair that failed (its role
refused, a read failed) has one row with its error. Then, pair by pair, what the command
says below its table. --output json is an array of {"account", "region",
"result"} (the single-account command's JSON) or {"account", "region",
"error"}.

--parameter is the policy's parameter in every account, or the ARN of a
policy shared from another account: a shared parameter is read in its own
Region only, so each Region reads the copy of the same name and owner in
that Region. Accounts are looked
up in AWS Organizations, for rules by organization or OU, as you (or --role).

Exit status: 1 when a pair failed; otherwise as the single-account command,
from the worst pair`

func (a *app) fleetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Run pending, policy plan or audit in every account and Region of a fleet, in one table",
		Long:  fleetLong + ".",
	}
	cmd.AddCommand(a.fleetPendingCmd(), a.fleetPlanCmd(), a.fleetAuditCmd())
	return cmd
}

func (a *app) fleetPendingCmd() *cobra.Command {
	var flags fleetFlags
	cmd := &cobra.Command{
		Use:   "pending (--accounts A,B,... | --ou OU_ID) [--regions R1,R2] [--parameter NAME]",
		Short: "List the pending connection requests of every account and Region, and what the policy would decide",
		Long: fleetLong + `: 0, or 1 when a pair has requests left undecided
(their accounts not looked up in AWS Organizations).

See approverctl pending --help for the columns.`,
		Example: "  approverctl fleet pending --accounts 111122223333,444455556666 --regions eu-west-1,us-east-1 --parameter /privatelink-approver/policy\n" +
			"  approverctl fleet pending --ou ou-ab12-11111111 --org-role arn:aws:iam::999988887777:role/privatelink-approver-org-reader --output json",
		Args: cobra.NoArgs,
		RunE: a.inFleet(&flags, pendingIn),
	}
	flags.bind(cmd)
	return cmd
}

func (a *app) fleetPlanCmd() *cobra.Command {
	var flags fleetFlags
	var part string
	cmd := &cobra.Command{
		Use:   "plan FILE (--accounts A,B,... | --ou OU_ID) [--regions R1,R2] [--parameter NAME] [--part NAME]",
		Short: "Show what storing a policy file would change in every account and Region",
		Long: fleetLong + `: 0 when nothing would change anywhere, 2 when something
would somewhere.

FILE is checked once, before any AWS call; the policy it is planned against
is each pair's own. See approverctl policy plan --help for the columns.`,
		Example: "  approverctl fleet plan policy.json --accounts 111122223333,444455556666 --regions eu-west-1,us-east-1 --parameter /privatelink-approver/policy\n" +
			"  approverctl fleet plan policy.json --ou ou-ab12-11111111 --parameter arn:aws:ssm:eu-west-1:999988887777:parameter/privatelink/policy",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := a.fleetArgs(cmd, flags)
			if err != nil {
				return err
			}
			in, err := a.planInput(f.sc, args[0], part)
			if err != nil {
				return err
			}
			return a.acrossFleet(cmd.Context(), f, func(ctx context.Context, c *clients, stderr io.Writer) (outcome, error) {
				// This pair's refusals are its own, not printed among the
				// others'.
				here := in
				here.sc = in.sc.inRegion(c.region)
				return (&app{g: a.g, stdout: io.Discard, stderr: stderr, getenv: a.getenv}).planIn(ctx, c, here)
			})
		},
	}
	flags.bind(cmd)
	cmd.Flags().StringVar(&part, "part", "", "with a path: the parameter under it that FILE replaces")
	return cmd
}

func (a *app) fleetAuditCmd() *cobra.Command {
	var flags fleetFlags
	cmd := &cobra.Command{
		Use:   "audit (--accounts A,B,... | --ou OU_ID) [--regions R1,R2] [--parameter NAME]",
		Short: "Audit the endpoint services of every account and Region",
		Long: fleetLong + `: 2 when a pair has something to fix, else 1 when
something could not be checked, else 0.

See approverctl audit --help for the columns.`,
		Example: "  approverctl fleet audit --accounts 111122223333,444455556666 --regions eu-west-1,us-east-1 --parameter /privatelink-approver/policy",
		Args:    cobra.NoArgs,
		RunE:    a.inFleet(&flags, auditIn),
	}
	flags.bind(cmd)
	return cmd
}

// inRegion is sc for region: a shared policy's ARN names that Region's copy
// (a shared parameter is read in its own Region only); a name is the same
// everywhere.
func (sc scope) inRegion(region string) scope {
	if _, ok := awsid.ParseParameterARN(sc.parameter); ok && region != "" {
		parts := strings.SplitN(sc.parameter, ":", 6)
		parts[3] = region
		sc.parameter = strings.Join(parts, ":")
	}
	return sc
}

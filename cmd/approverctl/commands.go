package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/spf13/cobra"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsconfig"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/policystore"
	"github.com/privatelink-approver/privatelink-approver/pkg/settings"
)

// reportedError is an error whose details were already printed (a policy's
// problems, a failed sweep's decisions): main only sets the exit code.
type reportedError struct{ error }

// globals are the flags every command takes, anywhere on the command line,
// as with the AWS CLI.
type globals struct {
	profile, region, endpointURL, output string
}

// app holds what the commands share.
type app struct {
	g              globals
	stdout, stderr io.Writer
	getenv         func(string) string
}

var (
	accountPattern  = regexp.MustCompile(`^[0-9]{12}$`)
	serviceIDRegexp = regexp.MustCompile(`^vpce-svc-[0-9a-f]{8,17}$`)
	endpointPattern = regexp.MustCompile(`^vpce-[0-9a-f]{8,17}$`)
	regionPattern   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

func newRoot(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr, getenv: getenv}
	root := &cobra.Command{
		Use:   "approverctl",
		Short: "Check, explain and apply the privatelink-approver policy",
		Long: `approverctl works with the policy of privatelink-approver, and with the
VPC endpoint connection requests of this account's endpoint services, using
the same code as the Lambda function.

It uses the standard AWS configuration chain (environment, --profile,
--region, AWS_ENDPOINT_URL). Where --parameter or --service is not given, the
function's POLICY_PARAMETER and SERVICE_IDS environment variables apply.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if a.g.output != "table" && a.g.output != "json" {
				return fmt.Errorf("--output %q: must be table or json", a.g.output)
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.g.profile, "profile", "", "use this named profile from your AWS configuration")
	pf.StringVar(&a.g.region, "region", "", "the AWS Region of the endpoint services (default: from your configuration)")
	pf.StringVar(&a.g.endpointURL, "endpoint-url", "", "send AWS requests to this URL (as AWS_ENDPOINT_URL does)")
	pf.StringVarP(&a.g.output, "output", "o", "table", "output format: table or json")

	policyCmd := &cobra.Command{Use: "policy", Short: "Validate, explain and push a policy file"}
	policyCmd.AddCommand(a.validateCmd(), a.explainCmd(), a.pushCmd())
	root.AddCommand(policyCmd, a.pendingCmd(), a.sweepCmd())
	return root
}

// awsConfig loads the AWS configuration from the global flags.
func (a *app) awsConfig(ctx context.Context) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if a.g.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(a.g.profile))
	}
	if a.g.region != "" {
		opts = append(opts, config.WithRegion(a.g.region))
	}
	if a.g.endpointURL != "" {
		opts = append(opts, config.WithBaseEndpoint(a.g.endpointURL))
	}
	cfg, err := awsconfig.Load(ctx, opts...)
	if err != nil {
		return aws.Config{}, err
	}
	return cfg, nil
}

// readPolicyFile reads FILE, or standard input for "-".
func readPolicyFile(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read the policy: %w", err)
	}
	return b, nil
}

// problems lists what is wrong with a policy, by field path.
func problems(err error) []string {
	var verr *policy.ValidationError
	if errors.As(err, &verr) {
		out := make([]string, len(verr.Problems))
		for i, p := range verr.Problems {
			out[i] = p.String()
		}
		return out
	}
	return []string{strings.TrimPrefix(err.Error(), "invalid policy: ")}
}

func (a *app) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a policy file; exit 1 listing every problem by field path",
		Long: `Check a policy file (a JSON document or a plain list of account IDs) as the
function would. Exit 0 when it is valid; otherwise exit 1 and list every
problem, located by its field path, e.g.
  rules[2].accounts[0]: "12345" is not a 12-digit account ID or "*"
FILE may be - for standard input.`,
		Example: "  approverctl policy validate policy.json\n  approverctl policy validate policy.json --output json",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			text, err := readPolicyFile(args[0])
			if err != nil {
				return err
			}
			p, err := policy.Parse(text)
			if err != nil {
				list := problems(err)
				if a.g.output == "json" {
					_ = writeJSON(a.stdout, map[string]any{"file": args[0], "valid": false, "problems": list})
				} else {
					fmt.Fprintf(a.stdout, "%s: invalid, %d problem(s):\n", args[0], len(list))
					for _, pr := range list {
						fmt.Fprintf(a.stdout, "  %s\n", pr)
					}
				}
				return reportedError{fmt.Errorf("%s is invalid", args[0])}
			}
			if a.g.output == "json" {
				return writeJSON(a.stdout, map[string]any{"file": args[0], "valid": true, "rules": len(p.Rules),
					"defaultAction": p.DefaultAction, "revoke": p.Revoke, "maxRevocations": p.MaxRevocations})
			}
			fmt.Fprintf(a.stdout, "%s: valid, %d rule(s), defaultAction %s", args[0], len(p.Rules), p.DefaultAction)
			if p.Revoke {
				fmt.Fprintf(a.stdout, ", revoke (at most %d per invocation)", p.MaxRevocations)
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
}

func (a *app) explainCmd() *cobra.Command {
	var account, service, endpoint, endpointRegion, at string
	var accepted int
	cmd := &cobra.Command{
		Use:   "explain FILE --account ID --service ID",
		Short: "Say what a policy file decides for one connection request, and why",
		Long: `Evaluate a policy file for one connection request and print the decision,
the rule and the reason. --endpoint-region is the consumer endpoint's Region
(VpcEndpointRegion, for a cross-region connection); without it, the
connection is in --region's Region. --at evaluates at another time (RFC 3339),
for rules that expire. --accepted is how many connections the account already
has to the service, for rules with maxEndpoints.`,
		Example: `  approverctl policy explain policy.json --account 111122223333 --service vpce-svc-0123456789abcdef0
  approverctl policy explain policy.json --account 444455556666 --service vpce-svc-0123456789abcdef0 \
      --endpoint vpce-0a1b2c3d4e5f67890 --endpoint-region eu-west-1 --at 2027-07-01T00:00:00Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var bad []string
			if !accountPattern.MatchString(account) {
				bad = append(bad, fmt.Sprintf("--account %q: want a 12-digit account ID", account))
			}
			if !serviceIDRegexp.MatchString(service) {
				bad = append(bad, fmt.Sprintf("--service %q: want an endpoint service ID (vpce-svc-...)", service))
			}
			if endpoint != "" && !endpointPattern.MatchString(endpoint) {
				bad = append(bad, fmt.Sprintf("--endpoint %q: want a VPC endpoint ID (vpce-...)", endpoint))
			}
			if endpointRegion != "" && !regionPattern.MatchString(endpointRegion) {
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
			if len(bad) > 0 {
				return errors.New(strings.Join(bad, "; "))
			}
			text, err := readPolicyFile(args[0])
			if err != nil {
				return err
			}
			p, err := policy.Parse(text)
			if err != nil {
				return fmt.Errorf("%s is invalid (run approverctl policy validate): %w", args[0], err)
			}
			region := endpointRegion
			if region == "" {
				cfg, err := a.awsConfig(cmd.Context())
				if err != nil {
					return err
				}
				region = cfg.Region
			}
			d := p.Decide(policy.Request{Account: account, ServiceID: service, EndpointID: endpoint, Region: region, Accepted: accepted}, when)
			if a.g.output == "json" {
				return writeJSON(a.stdout, map[string]any{"action": d.Action, "rule": d.Rule, "reason": d.Reason(),
					"account": account, "serviceId": service, "endpointId": endpoint, "region": region, "at": when.UTC().Format(time.RFC3339)})
			}
			return writeTable(a.stdout, []string{"DECISION", "RULE", "REASON"}, [][]string{{string(d.Action), d.Rule, d.Reason()}})
		},
	}
	f := cmd.Flags()
	f.StringVar(&account, "account", "", "the consumer's account ID (required)")
	f.StringVar(&service, "service", "", "the endpoint service ID (required)")
	f.StringVar(&endpoint, "endpoint", "", "the consumer's VPC endpoint ID")
	f.StringVar(&endpointRegion, "endpoint-region", "", "the consumer endpoint's Region (VpcEndpointRegion)")
	f.StringVar(&at, "at", "", "evaluate at this time (RFC 3339) instead of now")
	f.IntVar(&accepted, "accepted", 0, "connections the account already has to the service (for maxEndpoints)")
	_ = cmd.MarkFlagRequired("account")
	_ = cmd.MarkFlagRequired("service")
	return cmd
}

func (a *app) pushCmd() *cobra.Command {
	var parameter string
	var secure bool
	cmd := &cobra.Command{
		Use:   "push FILE --parameter NAME",
		Short: "Validate a policy file, then write it to the SSM parameter",
		Long: `Validate a policy file and, only if it is valid, write it to the SSM
parameter (overwriting it). An invalid file is refused: nothing is written.
A new parameter is a String (--secure: SecureString); an existing one keeps
its type. The Advanced tier is used only when the size needs it (over 4 KB).
The function reloads the policy on the parameter's change event.`,
		Example: "  approverctl policy push policy.json --parameter /privatelink-approver/policy",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if parameter == "" || strings.HasSuffix(parameter, "/") {
				return fmt.Errorf("--parameter %q: name one parameter (a path ending in / holds several)", parameter)
			}
			text, err := readPolicyFile(args[0])
			if err != nil {
				return err
			}
			if _, err := policy.Parse(text); err != nil {
				fmt.Fprintf(a.stderr, "%s is invalid; nothing was written:\n", args[0])
				for _, pr := range problems(err) {
					fmt.Fprintf(a.stderr, "  %s\n", pr)
				}
				return reportedError{err}
			}
			cfg, err := a.awsConfig(cmd.Context())
			if err != nil {
				return err
			}
			client := ssm.NewFromConfig(cfg)
			in := &ssm.PutParameterInput{Name: aws.String(parameter), Value: aws.String(string(text)),
				Type: ssmtypes.ParameterTypeString, Tier: ssmtypes.ParameterTierStandard, Overwrite: aws.Bool(true)}
			if secure {
				in.Type = ssmtypes.ParameterTypeSecureString
			}
			// An existing parameter keeps its type, KMS key and tier (an
			// Advanced parameter cannot go back to Standard).
			found, err := client.DescribeParameters(cmd.Context(), &ssm.DescribeParametersInput{
				ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("Equals"), Values: []string{parameter}}},
			})
			if err != nil {
				return fmt.Errorf("look up %s: %w", parameter, err)
			}
			if len(found.Parameters) > 0 {
				existing := found.Parameters[0]
				in.Type, in.KeyId = existing.Type, existing.KeyId
				if existing.Tier == ssmtypes.ParameterTierAdvanced {
					in.Tier = ssmtypes.ParameterTierAdvanced
				}
			}
			if len(text) > 4096 {
				in.Tier = ssmtypes.ParameterTierAdvanced // up to 8 KB
			}
			out, err := client.PutParameter(cmd.Context(), in)
			if err != nil {
				return fmt.Errorf("write %s: %w", parameter, err)
			}
			if a.g.output == "json" {
				return writeJSON(a.stdout, map[string]any{"parameter": parameter, "version": out.Version, "tier": out.Tier, "type": in.Type})
			}
			fmt.Fprintf(a.stdout, "%s: version %d written (%s, %s tier)\n", parameter, out.Version, in.Type, out.Tier)
			return nil
		},
	}
	cmd.Flags().StringVar(&parameter, "parameter", "", "the SSM parameter to write (required)")
	cmd.Flags().BoolVar(&secure, "secure", false, "create a new parameter as a SecureString")
	_ = cmd.MarkFlagRequired("parameter")
	return cmd
}

// scope is the policy parameter and services a command works on, from its
// flags or the function's environment variables.
type scope struct {
	parameter string
	services  []string
}

// scopeFlags are the --parameter and --service flags of pending and sweep.
type scopeFlags struct {
	parameter string
	services  []string
}

func (f *scopeFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.parameter, "parameter", "", "the policy's SSM parameter (default: $POLICY_PARAMETER)")
	cmd.Flags().StringArrayVar(&f.services, "service", nil, "an endpoint service ID; repeat for more (default: $SERVICE_IDS, else every owned service)")
}

func (a *app) scope(f scopeFlags) (scope, error) {
	parameter, services := f.parameter, f.services
	if parameter == "" {
		parameter = strings.TrimSpace(a.getenv(settings.EnvPolicyParameter))
	}
	if parameter == "" {
		return scope{}, fmt.Errorf("no policy: give --parameter NAME or set %s", settings.EnvPolicyParameter)
	}
	list := strings.Join(services, ",")
	if len(services) == 0 {
		list = a.getenv(settings.EnvServiceIDs)
	}
	ids, err := settings.ParseServiceIDs(list)
	if err != nil {
		return scope{}, fmt.Errorf("--service: %w", err)
	}
	return scope{parameter: parameter, services: ids}, nil
}

// reconcile runs the function's reconcile with the caller's credentials.
func (a *app) reconcile(ctx context.Context, sc scope, dryRun, sweep bool, trigger string) (*approver.Report, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS Region: give --region or configure one")
	}
	store := policystore.New(ssm.NewFromConfig(cfg), sc.parameter, 0)
	appr := approver.New(ec2.NewFromConfig(cfg), store, approver.Config{
		ServiceIDs: sc.services,
		DryRun:     dryRun,
		Region:     cfg.Region,
		Logger:     slog.New(slog.DiscardHandler),
	})
	return appr.Reconcile(ctx, approver.Request{Trigger: trigger, All: true, Sweep: sweep})
}

func (a *app) pendingCmd() *cobra.Command {
	var flags scopeFlags
	cmd := &cobra.Command{
		Use:   "pending [--parameter NAME] [--service ID]...",
		Short: "List pending connection requests and what the policy would decide",
		Long: `List the connection requests still pendingAcceptance, with their age, owner,
and what the current policy would decide (like terraform plan: nothing is
changed). With no --service and no SERVICE_IDS, every endpoint service the
account owns is listed.`,
		Example: "  approverctl pending --parameter /privatelink-approver/policy\n  approverctl pending --service vpce-svc-0123456789abcdef0 --output json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := a.scope(flags)
			if err != nil {
				return err
			}
			report, err := a.reconcile(cmd.Context(), sc, true, false, "pending")
			if err != nil {
				return err
			}
			now := time.Now()
			if a.g.output == "json" {
				rows := []map[string]any{}
				for _, d := range report.Decisions {
					rows = append(rows, map[string]any{"serviceId": d.ServiceID, "endpointId": d.EndpointID, "owner": d.Owner,
						"region": d.Region, "created": d.Created, "ageSeconds": int64(now.Sub(d.Created).Seconds()),
						"wouldDecide": d.Action, "rule": d.Rule, "reason": d.Reason})
				}
				return writeJSON(a.stdout, map[string]any{"policyParameter": report.PolicyParameter, "policyVersion": report.PolicyVersion,
					"services": report.Services, "pending": rows})
			}
			if len(report.Decisions) == 0 {
				fmt.Fprintf(a.stdout, "No pending connection requests on %d service(s).\n", len(report.Services))
				return nil
			}
			rows := make([][]string, 0, len(report.Decisions))
			for _, d := range report.Decisions {
				rows = append(rows, []string{d.ServiceID, d.EndpointID, d.Owner, d.Region, age(now.Sub(d.Created)), string(d.Action), d.Rule, d.Reason})
			}
			return writeTable(a.stdout, []string{"SERVICE", "ENDPOINT", "OWNER", "REGION", "AGE", "WOULD", "RULE", "REASON"}, rows)
		},
	}
	flags.bind(cmd)
	return cmd
}

func (a *app) sweepCmd() *cobra.Command {
	var flags scopeFlags
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "sweep [--parameter NAME] [--service ID]... [--dry-run]",
		Short: "Run the function's reconcile now, with your credentials",
		Long: `Run the same reconcile as the function's scheduled sweep, with your
credentials: decide every pending request and accept or reject it (and, when
the policy says "revoke", revoke what it now rejects, within maxRevocations).
Each decision is printed. --dry-run decides and prints, changing nothing.
Exit 1 when any decision could not be applied.`,
		Example: "  approverctl sweep --parameter /privatelink-approver/policy --dry-run\n  approverctl sweep --service vpce-svc-0123456789abcdef0",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := a.scope(flags)
			if err != nil {
				return err
			}
			report, err := a.reconcile(cmd.Context(), sc, dryRun, true, "manual-sweep")
			if err != nil {
				return err
			}
			if a.g.output == "json" {
				if err := writeJSON(a.stdout, report); err != nil {
					return err
				}
			} else {
				rows := make([][]string, 0, len(report.Decisions))
				for _, d := range report.Decisions {
					rows = append(rows, []string{d.ServiceID, d.EndpointID, d.Owner, string(d.Action), d.Rule, d.Result, d.Detail})
				}
				if err := writeTable(a.stdout, []string{"SERVICE", "ENDPOINT", "OWNER", "ACTION", "RULE", "RESULT", "DETAIL"}, rows); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "\n%d accepted, %d rejected, %d revoked, %d manual, %d failed on %d service(s)%s\n",
					report.Accepted, report.Rejected, report.Revoked, report.Manual, report.Failed, len(report.Services), dryRunNote(report.DryRun))
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

func dryRunNote(dry bool) string {
	if dry {
		return " (dry run: nothing changed)"
	}
	return ""
}

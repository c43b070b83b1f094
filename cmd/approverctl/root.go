package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsconfig"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/membership"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/policystore"
	"github.com/privatelink-approver/privatelink-approver/pkg/settings"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

// reportedError is an error whose details were already printed (a policy's
// problems, a failed sweep's decisions): main only sets the exit code.
type reportedError struct{ error }

// errChanges is policy plan's "something would change": exit status 2, as
// terraform plan -detailed-exitcode.
var errChanges = errors.New("the plan has changes")

// globals are the flags every command takes, anywhere on the command line,
// as with the AWS CLI.
type globals struct {
	profile, region, endpointURL, output string
}

// SSMAPI is the part of the SSM client the commands call.
type SSMAPI interface {
	policystore.SSMAPI
	DescribeParameters(ctx context.Context, params *ssm.DescribeParametersInput, optFns ...func(*ssm.Options)) (*ssm.DescribeParametersOutput, error)
	PutParameter(ctx context.Context, params *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

// STSAPI is the part of the STS client the commands call.
type STSAPI interface {
	GetCallerIdentity(ctx context.Context, params *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// clients are the AWS clients of one command, in one Region.
type clients struct {
	region string
	ec2    vpcendpoints.EC2API
	ssm    SSMAPI
	sts    STSAPI
	// orgs is the AWS Organizations client acting as role (the caller's
	// own credentials for ""); nil when there is none.
	orgs func(role string) membership.OrganizationsAPI
}

// app holds what the commands share.
type app struct {
	g              globals
	stdout, stderr io.Writer
	getenv         func(string) string
	// connect builds the AWS clients from the global flags (tests replace
	// it with fakes).
	connect func(ctx context.Context, g globals) (*clients, error)
}

func newRoot(stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	return newApp(&app{stdout: stdout, stderr: stderr, getenv: getenv, connect: connectAWS})
}

func newApp(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "approverctl",
		Short: "Check, explain and apply the privatelink-approver policy",
		Long: `approverctl works with the policy of privatelink-approver, and with the
VPC endpoint connection requests of this account's endpoint services, using
the same code as the Lambda function.

It uses the standard AWS configuration chain (environment, --profile,
--region, AWS_ENDPOINT_URL). Where --parameter or --service is not given, the
function's POLICY_PARAMETER, SERVICE_IDS and SERVICE_TAG environment
variables apply; for rules by organization or OU, --role or the function's
ORGANIZATION_ROLE_ARN names the role assumed for AWS Organizations.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if a.g.output != "table" && a.g.output != "json" {
				return fmt.Errorf("--output %q: must be table or json", a.g.output)
			}
			return nil
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.g.profile, "profile", "", "use this named profile from your AWS configuration")
	pf.StringVar(&a.g.region, "region", "", "the AWS Region of the endpoint services (default: from your configuration)")
	pf.StringVar(&a.g.endpointURL, "endpoint-url", "", "send AWS requests to this URL (as AWS_ENDPOINT_URL does)")
	pf.StringVarP(&a.g.output, "output", "o", "table", "output format: table or json")

	policyCmd := &cobra.Command{Use: "policy", Short: "Validate, explain, plan and push a policy file"}
	policyCmd.AddCommand(a.validateCmd(), a.explainCmd(), a.planCmd(), a.pushCmd())
	root.AddCommand(policyCmd, a.pendingCmd(), a.sweepCmd(), a.decideCmd(policy.Accept), a.decideCmd(policy.Reject), a.orgCmd(), a.auditCmd())
	return root
}

// connectAWS loads the AWS configuration from the global flags, with the
// full credential chain, and builds the clients.
func connectAWS(ctx context.Context, g globals) (*clients, error) {
	var opts []func(*config.LoadOptions) error
	if g.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(g.profile))
	}
	if g.region != "" {
		opts = append(opts, config.WithRegion(g.region))
	}
	if g.endpointURL != "" {
		opts = append(opts, config.WithBaseEndpoint(g.endpointURL))
	}
	// The full configuration chain (profiles, SSO, instance roles), unlike
	// the function, with the function's bounded retryer.
	cfg, err := config.LoadDefaultConfig(ctx, append([]func(*config.LoadOptions) error{config.WithRetryer(awsconfig.NewRetryer)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return newClients(cfg), nil
}

func newClients(cfg aws.Config) *clients {
	return &clients{region: cfg.Region, ec2: ec2.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg), sts: sts.NewFromConfig(cfg),
		orgs: func(role string) membership.OrganizationsAPI {
			if role != "" {
				return organizations.NewFromConfig(awsconfig.AssumeRole(cfg, role))
			}
			return organizations.NewFromConfig(cfg)
		}}
}

// memberships looks accounts up as the function does, acting as role, and
// keeps nothing: a command sees the organization as it is.
func (c *clients) memberships(role string) approver.MembershipResolver {
	if c.orgs == nil {
		return nil
	}
	return membership.New(c.orgs(role), membership.Config{})
}

// aws returns the clients, requiring a Region.
func (a *app) aws(ctx context.Context) (*clients, error) {
	c, err := a.connect(ctx, a.g)
	if err != nil {
		return nil, err
	}
	if c.region == "" {
		return nil, errors.New("no AWS Region: give --region or configure one")
	}
	return c, nil
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
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range joined.Unwrap() {
			out = append(out, problems(e)...)
		}
		return out
	}
	return []string{strings.TrimPrefix(err.Error(), "invalid policy: ")}
}

// scope is the policy parameter and services a command works on, from its
// flags or the function's environment variables.
type scope struct {
	parameter string
	services  []string
	// tag is SERVICE_TAG's, when no service is listed.
	tag *awsid.TagFilter
	// role is assumed for AWS Organizations calls: --role, else
	// ORGANIZATION_ROLE_ARN.
	role string
}

// scopeFlags are the --parameter and --service flags of the commands that
// read the live connections.
type scopeFlags struct {
	parameter string
	services  []string
	role      string
}

func (f *scopeFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.parameter, "parameter", "", "the policy's SSM parameter, or a path ending in / (default: $POLICY_PARAMETER)")
	cmd.Flags().StringArrayVar(&f.services, "service", nil, "an endpoint service ID; repeat for more (default: $SERVICE_IDS, else the services with $SERVICE_TAG's tag, else those that require acceptance)")
	bindRole(cmd, &f.role)
}

func bindRole(cmd *cobra.Command, role *string) {
	cmd.Flags().StringVar(role, "role", "", "the role to assume for AWS Organizations calls, for rules by organization or OU (default: $ORGANIZATION_ROLE_ARN, else your own credentials)")
}

// orgRole is the role for AWS Organizations calls: the flag's, else
// ORGANIZATION_ROLE_ARN, as the function does.
func (a *app) orgRole(flag string) (string, error) {
	if flag != "" {
		return settings.ParseRoleARN("--role", flag)
	}
	return settings.ParseRoleARN(settings.EnvOrganizationRole, a.getenv(settings.EnvOrganizationRole))
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
	tag, err := settings.ParseServiceTag(a.getenv(settings.EnvServiceTag))
	if err != nil {
		return scope{}, err
	}
	role, err := a.orgRole(f.role)
	if err != nil {
		return scope{}, err
	}
	return scope{parameter: parameter, services: ids, tag: tag, role: role}, nil
}

// reconcile runs the function's reconcile with the caller's credentials,
// on the scope the flags give.
func (a *app) reconcile(ctx context.Context, f scopeFlags, dryRun bool, req approver.Request) (*approver.Report, error) {
	sc, err := a.scope(f)
	if err != nil {
		return nil, err
	}
	c, err := a.aws(ctx)
	if err != nil {
		return nil, err
	}
	return c.approver(sc, dryRun).Reconcile(ctx, req)
}

// approver builds the function's approver with the caller's credentials.
func (c *clients) approver(sc scope, dryRun bool) *approver.Approver {
	return approver.New(vpcendpoints.New(c.ec2), policystore.New(c.ssm, sc.parameter, 0), approver.Config{
		ServiceIDs: sc.services,
		ServiceTag: sc.tag,
		DryRun:     dryRun,
		Region:     c.region,
		Membership: c.memberships(sc.role),
	})
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsconfig"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/membership"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/policystore"
	"github.com/privatelink-approver/privatelink-approver/pkg/settings"
	"github.com/privatelink-approver/privatelink-approver/pkg/version"
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
	// credentials names where the credentials came from
	// (aws.Credentials.Source), "" when unknown.
	credentials string
	ec2         vpcendpoints.EC2API
	ssm         SSMAPI
	sts         STSAPI
	// orgs is the AWS Organizations client acting as role (the caller's
	// own credentials for ""); nil when there is none.
	orgs func(role string) membership.OrganizationsAPI
	// stopped, when set, stops the approver's Accept and Reject calls
	// (an interrupt); nil never stops them.
	stopped *atomic.Bool
	// assume returns, for a role ARN, the clients acting as that role in
	// each Region (the fleet commands); nil when there is none.
	assume func(role string) assumedClients
}

// app holds what the commands share.
type app struct {
	g              globals
	stdout, stderr io.Writer
	getenv         func(string) string
	// connect builds the AWS clients from the global flags (tests replace
	// it with fakes).
	connect func(ctx context.Context, g globals) (*clients, error)
	// stdin is where a person answers before a change is made, and where
	// FILE - is read from.
	stdin io.Reader
	// terminal reports whether stdin is a terminal: without one, a command
	// that changes something changes nothing unless given --yes.
	terminal func() bool
	// interrupts delivers SIGINT and SIGTERM while a change is being
	// applied, until stop is called; nil delivers nothing (tests give their
	// own channel).
	interrupts func() (signals <-chan os.Signal, stop func())
	// interrupted is set at the first interrupt: no Accept, Reject or
	// PutParameter call is started after it.
	interrupted atomic.Bool

	// connected are the clients of the first aws call, reused by later
	// ones: one configuration, one credentials retrieval.
	connected *clients
}

func newRoot(stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{stdout: stdout, stderr: stderr, getenv: getenv, connect: connectAWS,
		stdin: os.Stdin, terminal: func() bool { return term.IsTerminal(int(os.Stdin.Fd())) }, interrupts: notifyInterrupts}
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
		Version:       version.String(),
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
	root.SetVersionTemplate("approverctl {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&a.g.profile, "profile", "", "use this named profile from your AWS configuration")
	pf.StringVar(&a.g.region, "region", "", "the AWS Region of the endpoint services (default: from your configuration)")
	pf.StringVar(&a.g.endpointURL, "endpoint-url", "", "send AWS requests to this URL (as AWS_ENDPOINT_URL does)")
	pf.StringVarP(&a.g.output, "output", "o", "table", "output format: table or json")

	policyCmd := &cobra.Command{Use: "policy", Short: "Validate, explain, plan and push a policy file"}
	policyCmd.AddCommand(a.validateCmd(), a.explainCmd(), a.planCmd(), a.pushCmd())
	root.AddCommand(policyCmd, a.pendingCmd(), a.sweepCmd(), a.decideCmd(policy.Accept), a.decideCmd(policy.Reject), a.orgCmd(), a.auditCmd(),
		a.fleetCmd(), a.versionCmd())
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
	var noProfile config.SharedConfigProfileNotExistError
	if errors.As(err, &noProfile) {
		where := ""
		if len(noProfile.Filename) > 0 {
			where = " (" + strings.Join(noProfile.Filename, ", ") + ")"
		}
		return nil, fmt.Errorf("profile %q is not in your AWS configuration%s: give --profile or AWS_PROFILE a profile it holds, or run `aws configure sso --profile %s`: %w",
			noProfile.Profile, where, noProfile.Profile, err)
	}
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	c := newClients(cfg)
	// Credentials are retrieved (and cached) before any call, so that none
	// found is said once, plainly, rather than as the first call's failure.
	if cfg.Credentials == nil {
		return nil, &credentialsError{profile: g.profile, noRegion: cfg.Region == "", err: errors.New("no credential provider is configured")}
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, &credentialsError{profile: g.profile, noRegion: cfg.Region == "", err: err}
	}
	c.credentials = creds.Source
	return c, nil
}

func newClients(cfg aws.Config) *clients {
	return &clients{region: cfg.Region, ec2: ec2.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg), sts: sts.NewFromConfig(cfg),
		orgs: func(role string) membership.OrganizationsAPI {
			if role != "" {
				return organizations.NewFromConfig(awsconfig.AssumeRole(cfg, role))
			}
			return organizations.NewFromConfig(cfg)
		},
		assume: func(role string) assumedClients { return assumeRole(cfg, role) }}
}

// memberships looks accounts up as the function does, acting as role, and
// keeps nothing: a command sees the organization as it is.
func (c *clients) memberships(role string) approver.MembershipResolver {
	if c.orgs == nil {
		return nil
	}
	return membership.New(c.orgs(role), membership.Config{})
}

// errNoRegion is the error of a command that needs AWS without a Region.
var errNoRegion = errors.New("no AWS Region: give --region, or set AWS_REGION (or a region in your profile)")

// aws returns the clients, requiring a Region. The first call connects;
// later ones reuse its clients.
func (a *app) aws(ctx context.Context) (*clients, error) {
	if a.connected != nil {
		return a.connected, nil
	}
	c, err := a.connect(ctx, a.g)
	if err != nil {
		return nil, err
	}
	if c.region == "" {
		return nil, errNoRegion
	}
	c.stopped = &a.interrupted
	a.connected = c
	return c, nil
}

// readPolicyFile reads FILE, or standard input for "-".
func (a *app) readPolicyFile(name string) ([]byte, error) {
	if name == "-" {
		if a.stdin == nil {
			return nil, errors.New("read the policy from standard input: there is none")
		}
		return io.ReadAll(a.stdin)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read the policy: %w", err)
	}
	return b, nil
}

// problems lists what is wrong with a policy, each located by its field
// path: the first policy.MaxProblems of them, and how many more there are.
func problems(err error) (list []policy.Problem, more int) {
	var verr *policy.ValidationError
	if errors.As(err, &verr) {
		return verr.Problems, verr.More
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			l, m := problems(e)
			list, more = append(list, l...), more+m
		}
		return list, more
	}
	return []policy.Problem{{Message: strings.TrimPrefix(err.Error(), "invalid policy: "), Severity: policy.SeverityError}}, 0
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

// approver builds the function's approver with the caller's credentials.
// Its Accept and Reject calls stop at an interrupt (see applying).
func (c *clients) approver(sc scope, dryRun bool) *approver.Approver {
	var endpoints approver.Endpoints = vpcendpoints.New(c.ec2)
	if c.stopped != nil {
		endpoints = gatedEndpoints{Endpoints: endpoints, stopped: c.stopped}
	}
	return approver.New(endpoints, policystore.New(c.ssm, sc.parameter, 0), approver.Config{
		ServiceIDs: sc.services,
		ServiceTag: sc.tag,
		DryRun:     dryRun,
		Region:     c.region,
		Membership: c.memberships(sc.role),
	})
}

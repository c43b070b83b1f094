package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsconfig"
	"github.com/privatelink-approver/privatelink-approver/pkg/settings"
)

// awsAccounts are two real AWS accounts, reached by their profiles, with
// the test stack deployed in the provider's. The deployed stack's own
// triggers (the schedule, the policy's change event, connection
// notifications) drive the function: the test only waits.
type awsAccounts struct {
	s                  awsSettings
	provider, consumer aws.Config
	approverctl        string
	st                 stack
	logGroup           string
	logs               *cloudwatchlogs.Client
}

var _ accounts = (*awsAccounts)(nil)

// Outputs and parameters of template.yaml the test reads.
const (
	outputLogGroup        = "ApproverFunctionLogGroupName"
	paramPolicyParameter  = "PolicyParameterName"
	paramServiceTag       = "ServiceTag"
	paramServiceIDs       = "ServiceIds"
	paramDryRun           = "DryRun"
	paramSweepMinutes     = "SweepMinutes"
	defaultSweepMinutes   = 5
	stepTimeoutAfterSweep = 3 * time.Minute
)

// newAWSAccounts loads the two profiles and checks that the stack is the
// dedicated test stack the settings describe. stepTimeout, when not zero,
// overrides the default: the stack's sweep period and 3 minutes, as the
// sweep is the stack's trigger of last resort.
func newAWSAccounts(ctx context.Context, s awsSettings, approverctl string, stepTimeout time.Duration) (*awsAccounts, error) {
	load := func(profile, region string) (aws.Config, error) {
		opts := []func(*config.LoadOptions) error{config.WithSharedConfigProfile(profile), config.WithRetryer(awsconfig.NewRetryer)}
		if region != "" {
			opts = append(opts, config.WithRegion(region))
		}
		return config.LoadDefaultConfig(ctx, opts...)
	}
	provider, err := load(s.ProviderProfile, s.Region)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q: %v", errNotConfigured, EnvProviderProfile, s.ProviderProfile, err)
	}
	if provider.Region == "" {
		return nil, fmt.Errorf("%w: no Region: set %s, or a region in profile %q", errNotConfigured, EnvRegion, s.ProviderProfile)
	}
	// The consumer connects from the provider's Region: a cross-Region
	// endpoint would need the service's SupportedRegions.
	consumer, err := load(s.ConsumerProfile, provider.Region)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q: %v", errNotConfigured, EnvConsumerProfile, s.ConsumerProfile, err)
	}
	a := &awsAccounts{s: s, provider: provider, consumer: consumer, approverctl: approverctl, logs: cloudwatchlogs.NewFromConfig(provider)}
	sweep, err := a.checkStack(ctx)
	if err != nil {
		return nil, err
	}
	if stepTimeout == 0 {
		stepTimeout = sweep + stepTimeoutAfterSweep
	}
	a.st = stack{PolicyParameter: s.PolicyParameter, ServiceTag: s.ServiceTag, StepTimeout: stepTimeout, Poll: 5 * time.Second}
	return a, nil
}

// checkStack reads the stack and refuses it unless it is the one the
// settings describe, managing only the services with the tag and
// deciding for real; it returns the stack's sweep period.
func (a *awsAccounts) checkStack(ctx context.Context) (time.Duration, error) {
	out, err := cloudformation.NewFromConfig(a.provider).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(a.s.StackName)})
	if err != nil {
		return 0, fmt.Errorf("read stack %s in %s: %w", a.s.StackName, a.provider.Region, err)
	}
	if len(out.Stacks) != 1 {
		return 0, fmt.Errorf("read stack %s in %s: %d stacks", a.s.StackName, a.provider.Region, len(out.Stacks))
	}
	st := out.Stacks[0]
	params := map[string]string{}
	for _, p := range st.Parameters {
		params[aws.ToString(p.ParameterKey)] = aws.ToString(p.ParameterValue)
	}
	var problems []string
	status := string(st.StackStatus)
	if !strings.HasSuffix(status, "_COMPLETE") || strings.HasPrefix(status, "DELETE") || status == "ROLLBACK_COMPLETE" {
		problems = append(problems, "its status is "+status)
	}
	if got := params[paramPolicyParameter]; got != a.s.PolicyParameter {
		problems = append(problems, fmt.Sprintf("its %s is %q, %s %q", paramPolicyParameter, got, EnvPolicyParameter, a.s.PolicyParameter))
	}
	if got, want := params[paramServiceTag], a.s.ServiceTag.Key+"="+a.s.ServiceTag.Value; got != want {
		problems = append(problems, fmt.Sprintf("its %s is %q, %s %q: the test stack must manage only the services with that tag", paramServiceTag, got, EnvServiceTag, want))
	}
	if got := params[paramServiceIDs]; got != "" {
		problems = append(problems, fmt.Sprintf("its %s is %q: it must be empty, so that %s alone chooses the services", paramServiceIDs, got, paramServiceTag))
	}
	if got := params[paramDryRun]; got == "true" {
		problems = append(problems, fmt.Sprintf("its %s is true: nothing would be decided", paramDryRun))
	}
	for _, o := range st.Outputs {
		if aws.ToString(o.OutputKey) == outputLogGroup {
			a.logGroup = aws.ToString(o.OutputValue)
		}
	}
	if a.logGroup == "" {
		problems = append(problems, "it has no output "+outputLogGroup+" (the function's log group)")
	}
	if len(problems) > 0 {
		return 0, fmt.Errorf("%w: stack %s in %s is not the dedicated test stack the variables describe:\n  %s",
			errNotConfigured, a.s.StackName, a.provider.Region, strings.Join(problems, "\n  "))
	}
	minutes := defaultSweepMinutes
	if n, err := strconv.Atoi(params[paramSweepMinutes]); err == nil && n > 0 {
		minutes = n
	}
	return time.Duration(minutes) * time.Minute, nil
}

func (a *awsAccounts) Provider() aws.Config { return a.provider }
func (a *awsAccounts) Consumer() aws.Config { return a.consumer }
func (a *awsAccounts) Stack() stack         { return a.st }

func (a *awsAccounts) Where() string {
	return fmt.Sprintf("stack %s in %s (provider profile %s, consumer profile %s)", a.s.StackName, a.provider.Region, a.s.ProviderProfile, a.s.ConsumerProfile)
}

// Approverctl runs approverctl with the provider's profile and the stack's
// Region, and the stack's settings in the variables approverctl shares with
// the function, so that its plan covers the stack's services only.
func (a *awsAccounts) Approverctl(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, a.approverctl, append(args, "--profile", a.s.ProviderProfile, "--region", a.provider.Region)...)
	cmd.Env = append(withoutStackSettings(os.Environ()),
		settings.EnvPolicyParameter+"="+a.st.PolicyParameter,
		settings.EnvServiceTag+"="+a.st.ServiceTag.Key+"="+a.st.ServiceTag.Value,
	)
	return cmd
}

// withoutStackSettings drops from env the variables approverctl reads as
// the function's settings, which the caller's shell may hold for another
// stack.
func withoutStackSettings(env []string) []string {
	drop := map[string]bool{settings.EnvPolicyParameter: true, settings.EnvServiceIDs: true, settings.EnvServiceTag: true,
		settings.EnvOrganizationRole: true, settings.EnvDryRun: true}
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[name] {
			out = append(out, kv)
		}
	}
	return out
}

// Decisions reads the function's log group for lines naming the endpoint.
func (a *awsAccounts) Decisions(ctx context.Context, endpointID string, since time.Time) ([]decisionLine, error) {
	pages := cloudwatchlogs.NewFilterLogEventsPaginator(a.logs, &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName:  aws.String(a.logGroup),
		StartTime:     aws.Int64(since.UnixMilli()),
		FilterPattern: aws.String(strconv.Quote(endpointID)),
	})
	var lines []decisionLine
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("filter log group %s: %w", a.logGroup, err)
		}
		for _, e := range page.Events {
			if d, ok := parseDecisionLine(aws.ToString(e.Message)); ok && d.EndpointID == endpointID {
				lines = append(lines, d)
			}
		}
	}
	return lines, nil
}

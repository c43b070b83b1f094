// Command approver is the Lambda function: it reads its settings, builds the
// AWS clients once, and hands every invocation to the approver. All logic
// lives in pkg/; this is wiring.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/privatelink-approver/privatelink-approver/pkg/announce"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsconfig"
	"github.com/privatelink-approver/privatelink-approver/pkg/decisionevents"
	"github.com/privatelink-approver/privatelink-approver/pkg/invocation"
	"github.com/privatelink-approver/privatelink-approver/pkg/membership"
	"github.com/privatelink-approver/privatelink-approver/pkg/policystore"
	"github.com/privatelink-approver/privatelink-approver/pkg/settings"
	"github.com/privatelink-approver/privatelink-approver/pkg/version"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

func main() {
	// Every line says which release wrote it.
	log := slog.New(slog.NewJSONHandler(os.Stdout, logOptions(os.Getenv("AWS_LAMBDA_LOG_LEVEL")))).
		With("version", version.Version)
	if err := run(log); err != nil {
		// Fail during init, naming the problem: Lambda reports an init error
		// and never runs the handler with a half-built configuration.
		log.Error("start failed", "error", err.Error())
		fmt.Fprintln(os.Stderr, "approver:", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	s, err := settings.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	cfg, err := awsconfig.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	store := policystore.New(ssm.NewFromConfig(cfg), s.PolicyParameter, s.PolicyCache)
	// AWS Organizations answers in the management (or a delegated
	// administrator) account: through ORGANIZATION_ROLE_ARN when set.
	orgCfg := cfg
	if s.OrganizationRole != "" {
		orgCfg = awsconfig.AssumeRole(cfg, s.OrganizationRole)
	}
	members := membership.New(organizations.NewFromConfig(orgCfg), membership.Config{TTL: s.MembershipCache})
	acfg := approver.Config{
		ServiceIDs:         s.ServiceIDs,
		DryRun:             s.DryRun,
		Region:             cfg.Region,
		ServiceTag:         s.ServiceTag,
		SweepPeriod:        s.SweepPeriod,
		ConnectionTopicARN: s.ConnectionTopicARN,
		Membership:         members,
		Logger:             log,
	}
	a := approver.New(vpcendpoints.New(ec2.NewFromConfig(cfg)), store, acfg)
	announcer := announce.New(sns.NewFromConfig(cfg), a, announce.Config{
		TopicARN:    s.DecisionTopicARN,
		All:         s.PublishAll,
		SweepPeriod: s.SweepPeriod,
		Region:      cfg.Region,
	}, log)
	opts := invocation.Options{
		Logger:        log,
		Metrics:       os.Stdout,
		Announcer:     announcer,
		Notifications: a,
		// A shared policy's changes, announced by the central account.
		PolicyChangeTopicARN: s.PolicyChangeTopicARN,
		// IAM applies the removal of the permission to register within
		// seconds: look again after that.
		CleanupRecheck: 15 * time.Second,
	}
	if s.DecisionEvents {
		opts.DecisionEvents = decisionevents.New(eventbridge.NewFromConfig(cfg), log)
	}
	lambda.Start(invocation.New(a, s.PolicyParameter, opts).Handle)
	return nil
}

// logOptions fits the JSON lines to Lambda's JSON log format: the time under
// "timestamp" (Lambda filters by level only lines that carry one), and the
// level Lambda is configured with (ApplicationLogLevel) as the minimum.
func logOptions(lambdaLevel string) *slog.HandlerOptions {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lambdaLevel)); err != nil {
		level = slog.LevelInfo // unset, or TRACE/FATAL which slog lacks
	}
	return &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				a.Key = "timestamp"
			}
			return a
		},
	}
}

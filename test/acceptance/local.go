package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/privatelink-approver/privatelink-approver/pkg/awserr"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/settings"
	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// The local stack: the provider is moto's default account, the consumer
// another moto account; the function is configured as a dedicated test
// stack would be (template.yaml with a ServiceTag and no ServiceIds).
const (
	localConsumer        = "111122223333"
	localPolicyParameter = "/privatelink-approver-acceptance/policy"
)

var localServiceTag = awsid.TagFilter{Key: "privatelink-approver-test-stack", Value: "acceptance"}

// localFlags are the tools of a local run.
type localFlags struct {
	bootstrap, rie, python string
	// tick is how often the stand-in for the stack's triggers invokes the
	// function.
	tick        time.Duration
	stepTimeout time.Duration
	// log, when not nil, receives the servers' and the function's output.
	log io.Writer
}

// localAccounts is the local stack: moto with the PrivateLink extension,
// and the real bootstrap binary under the Lambda Runtime Interface
// Emulator, invoked as the deployed stack's triggers would invoke it.
type localAccounts struct {
	moto        *localaws.Moto
	fn          *localaws.Function
	approverctl string
	st          stack
	dir         string

	stopTriggers context.CancelFunc
	triggers     sync.WaitGroup
	mu           sync.Mutex
	invocations  int
	failures     int
}

var _ accounts = (*localAccounts)(nil)

// startLocal starts moto and the function, and the loop that plays the
// stack's triggers until Close.
func startLocal(ctx context.Context, f localFlags, approverctl string) (_ *localAccounts, err error) {
	dir, err := os.MkdirTemp("", "approver-acceptance-")
	if err != nil {
		return nil, err
	}
	l := &localAccounts{dir: dir, approverctl: approverctl, st: stack{
		PolicyParameter: localPolicyParameter, ServiceTag: localServiceTag, StepTimeout: f.stepTimeout, Poll: 250 * time.Millisecond,
	}}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if l.moto, err = localaws.StartMoto(f.python, dir, f.log); err != nil {
		return nil, err
	}
	topics := map[string]string{}
	for _, name := range []string{"decisions", "connection-notifications"} {
		out, err := sns.NewFromConfig(l.Provider()).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("approver-" + name)})
		if err != nil {
			return nil, fmt.Errorf("create the %s topic: %w", name, err)
		}
		topics[name] = aws.ToString(out.TopicArn)
	}
	// As template.yaml sets them, for a stack with a ServiceTag and no
	// ServiceIds, the defaults otherwise.
	env := append(l.moto.FunctionEnv(localaws.Region),
		settings.EnvPolicyParameter+"="+localPolicyParameter,
		settings.EnvServiceIDs+"=",
		settings.EnvServiceTag+"="+localServiceTag.Key+"="+localServiceTag.Value,
		settings.EnvConnectionTopicARN+"="+topics["connection-notifications"],
		settings.EnvDecisionTopicARN+"="+topics["decisions"],
		settings.EnvDryRun+"=false",
		settings.EnvPolicyCacheSeconds+"=60",
		settings.EnvPublishAll+"=false",
		settings.EnvSweepPeriodSeconds+"=60",
	)
	if l.fn, err = localaws.StartFunction(f.rie, f.bootstrap, env, f.log); err != nil {
		return nil, err
	}
	sweep, err := localaws.SampleEvent("eventbridge-scheduled-event.json")
	if err != nil {
		return nil, err
	}
	change, err := localaws.SampleEvent("ssm-parameter-store-change.json", localaws.SamplePolicyParameter, localPolicyParameter)
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.stopTriggers = cancel
	l.triggers.Add(1)
	go l.playTriggers(tctx, f.tick, sweep, change)
	return l, nil
}

// playTriggers stands in for the deployed stack's EventBridge rules: every
// tick it invokes the function with the scheduled sweep, or, when the
// policy parameter changed since the last tick, with its Parameter Store
// Change event (which bypasses the function's policy cache). Failed
// invocations are expected (no policy yet, a guard holding) and only
// counted: the steps check outcomes, not invocations.
func (l *localAccounts) playTriggers(ctx context.Context, tick time.Duration, sweep, change []byte) {
	defer l.triggers.Done()
	client := ssm.NewFromConfig(l.Provider())
	var version int64 = -1
	for {
		payload := sweep
		got, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(localPolicyParameter)})
		if err == nil || awserr.IsNotFound(err) {
			var v int64
			if err == nil {
				v = got.Parameter.Version
			}
			if version >= 0 && v != version {
				payload = change
			}
			version = v
		}
		_, err = l.fn.Invoke(ctx, payload)
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		l.invocations++
		if err != nil {
			l.failures++
		}
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(tick):
		}
	}
}

// Close stops the triggers, the function and moto.
func (l *localAccounts) Close() {
	if l.stopTriggers != nil {
		l.stopTriggers()
		l.triggers.Wait()
	}
	if l.fn != nil {
		l.fn.Stop()
	}
	if l.moto != nil {
		l.moto.Stop()
	}
	os.RemoveAll(l.dir)
}

// Invocations says how often the triggers invoked the function, and how
// many of those failed.
func (l *localAccounts) Invocations() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.invocations, l.failures
}

func (l *localAccounts) Provider() aws.Config {
	return l.moto.Config(localaws.ProviderAccount, localaws.Region)
}
func (l *localAccounts) Consumer() aws.Config { return l.moto.Config(localConsumer, localaws.Region) }
func (l *localAccounts) Stack() stack         { return l.st }

func (l *localAccounts) Where() string {
	return fmt.Sprintf("the local stack (moto at %s, the function under the Lambda Runtime Interface Emulator)", l.moto.URL)
}

// Approverctl runs approverctl against moto as the provider, with the
// stack's settings.
func (l *localAccounts) Approverctl(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, l.approverctl, args...)
	var env []string
	for _, kv := range withoutStackSettings(os.Environ()) {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(append(env, l.moto.FunctionEnv(localaws.Region)...),
		settings.EnvPolicyParameter+"="+localPolicyParameter,
		settings.EnvServiceTag+"="+localServiceTag.Key+"="+localServiceTag.Value,
	)
	return cmd
}

// Decisions reads the function's output.
func (l *localAccounts) Decisions(_ context.Context, endpointID string, since time.Time) ([]decisionLine, error) {
	var lines []decisionLine
	for _, text := range strings.Split(l.fn.Output(), "\n") {
		if d, ok := parseDecisionLine(text); ok && d.EndpointID == endpointID && !d.Timestamp.Before(since) {
			lines = append(lines, d)
		}
	}
	return lines, nil
}

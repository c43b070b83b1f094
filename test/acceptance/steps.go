package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/awserr"
)

// clockSkew is how far this machine's clock may be from AWS's when a step
// compares a stamp's time, or asks for log lines, with its own.
const clockSkew = 2 * time.Minute

// Connection states, as EC2's documentation spells them; the API and the
// SDK's constants differ in case, so states read are canonicalized.
const (
	statePending   = "pendingAcceptance"
	stateRejected  = "rejected"
	stateAccepting = "pending"
	stateAvailable = "available"
	stateDeleted   = "deleted"
)

// canonicalState spells state as the constants above do, whatever its case.
func canonicalState(state string) string {
	for _, s := range []string{statePending, stateRejected, stateAccepting, stateAvailable, stateDeleted} {
		if strings.EqualFold(state, s) {
			return s
		}
	}
	return state
}

// runner runs the steps against accounts: what it creates goes on
// cleanups, what it checks goes in the report.
type runner struct {
	accounts accounts
	stack    stack
	cleanups *cleanups
	// runID is in every name and the value of RunTagKey.
	runID   string
	dir     string
	out     io.Writer
	verbose bool

	// What the steps learn and make, in order.
	provider, consumer, partition string
	svc                           service
	consumerVPC, consumerSubnet   string
	endpointA, endpointB          string
}

// step is one part of the run and what it verifies when it passes.
type step struct {
	name   string
	claims string
	run    func(context.Context) (string, error)
}

func (r *runner) steps() []step {
	return []step{
		{"preflight", "the stack is a dedicated test stack: no endpoint service in the provider's Region carries its ServiceTag before the test makes one", r.preflight},
		{"service", "the provider's throwaway endpoint service (Network Load Balancer, acceptance required, the stack's tag) allows the consumer", r.service},
		{"manual", "a request the policy leaves to a person stays pendingAcceptance and is announced (announced-at stamp on the connection)", r.manual},
		{"accept", "a new policy version that accepts the consumer accepts the pending request, stamped with decision, rule, policy-version and decided-at; the consumer's endpoint is accepted", r.accept},
		{"reject", "a request made while the policy rejects by default is rejected and stamped; the accepted connection is left alone", r.reject},
		{"guard", "a revoking policy past maxRevocations is held by the guard: approverctl warns, the function logs held, the connection stays accepted", r.guard},
		{"revoke", "a new policy version within maxRevocations releases the guard: the connection is revoked and stamped; the consumer's endpoint is rejected", r.revoke},
	}
}

// result is a step's outcome, for the checklist.
type result struct {
	step   step
	ran    bool
	err    error
	detail string
}

// runSteps runs the steps in order until one fails or ctx ends.
func (r *runner) runSteps(ctx context.Context) []result {
	var results []result
	failed := false
	for _, s := range r.steps() {
		res := result{step: s}
		if !failed && ctx.Err() == nil {
			fmt.Fprintf(r.out, "\n== %s: %s\n", s.name, s.claims)
			start := time.Now()
			res.ran = true
			res.detail, res.err = s.run(ctx)
			if res.err != nil && ctx.Err() != nil {
				res.err = fmt.Errorf("interrupted: %w", res.err)
			}
			if res.err != nil {
				failed = true
				fmt.Fprintf(r.out, "  FAIL  %v\n", res.err)
			} else {
				fmt.Fprintf(r.out, "  PASS  %s (%s)\n", res.detail, time.Since(start).Round(100*time.Millisecond))
			}
		}
		results = append(results, res)
	}
	return results
}

func (r *runner) say(format string, args ...any) {
	fmt.Fprintf(r.out, "  "+format+"\n", args...)
}

// preflight learns the accounts, refuses a stack that is not dedicated,
// and saves the policy parameter so that the end can restore it.
func (r *runner) preflight(ctx context.Context) (string, error) {
	for _, who := range []struct {
		cfg     aws.Config
		account *string
		name    string
	}{{r.accounts.Provider(), &r.provider, "provider"}, {r.accounts.Consumer(), &r.consumer, "consumer"}} {
		id, err := sts.NewFromConfig(who.cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "", fmt.Errorf("%s: who am I: %w", who.name, err)
		}
		*who.account = aws.ToString(id.Account)
		if who.name == "provider" {
			a, err := arn.Parse(aws.ToString(id.Arn))
			if err != nil {
				return "", fmt.Errorf("provider: caller ARN %q: %w", aws.ToString(id.Arn), err)
			}
			r.partition = a.Partition
		}
	}
	r.say("provider account %s, consumer account %s", r.provider, r.consumer)

	tagged, err := r.taggedServices(ctx)
	if err != nil {
		return "", err
	}
	if len(tagged) > 0 {
		return "", fmt.Errorf("the stack is not a dedicated test stack, or an earlier run left a service behind: %s carry %s=%s, "+
			"and the test's policies (reject by default, revoke) would decide their connections too; "+
			"delete the services an earlier run left (tagged %s), or deploy a stack of its own for the test with a ServiceTag no other service carries",
			strings.Join(tagged, ", "), r.stack.ServiceTag.Key, r.stack.ServiceTag.Value, RunTagKey)
	}

	saved, err := r.savePolicy(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("no endpoint service carries %s=%s; %s", r.stack.ServiceTag.Key, r.stack.ServiceTag.Value, saved), nil
}

// taggedServices lists the provider's endpoint services that carry the
// stack's tag, each with its run tag if an earlier run made it. The tag is
// checked here too, not only by the filter: the local stack ignores it.
func (r *runner) taggedServices(ctx context.Context) ([]string, error) {
	tag := r.stack.ServiceTag
	pages := ec2.NewDescribeVpcEndpointServiceConfigurationsPaginator(ec2.NewFromConfig(r.accounts.Provider()),
		&ec2.DescribeVpcEndpointServiceConfigurationsInput{Filters: []ec2types.Filter{{Name: aws.String("tag:" + tag.Key), Values: []string{tag.Value}}}})
	var tagged []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("provider: list endpoint services tagged %s=%s: %w", tag.Key, tag.Value, err)
		}
		for _, s := range page.ServiceConfigurations {
			tags := map[string]string{}
			for _, t := range s.Tags {
				tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			if v, ok := tags[tag.Key]; !ok || v != tag.Value {
				continue
			}
			id := aws.ToString(s.ServiceId)
			if run, ok := tags[RunTagKey]; ok {
				id += fmt.Sprintf(" (%s=%s)", RunTagKey, run)
			}
			tagged = append(tagged, id)
		}
	}
	return tagged, nil
}

// savePolicy reads the policy parameter as it is and pushes its restore:
// the same value, type, KMS key and tier; or its deletion when there was
// none.
func (r *runner) savePolicy(ctx context.Context) (string, error) {
	client := ssm.NewFromConfig(r.accounts.Provider())
	name := r.stack.PolicyParameter
	got, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if awserr.IsNotFound(err) {
		r.cleanups.push("policy parameter "+name+" (did not exist: deleted)", func(ctx context.Context) error {
			_, err := client.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name)})
			if awserr.IsNotFound(err) {
				return nil
			}
			return err
		})
		return fmt.Sprintf("policy parameter %s does not exist (deleted at the end)", name), nil
	}
	if err != nil {
		return "", fmt.Errorf("provider: read the policy parameter %s: %w", name, err)
	}
	desc, err := client.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{
		{Key: aws.String("Name"), Option: aws.String("Equals"), Values: []string{name}}}})
	if err != nil {
		return "", fmt.Errorf("provider: describe the policy parameter %s: %w", name, err)
	}
	restore := &ssm.PutParameterInput{Name: aws.String(name), Value: got.Parameter.Value, Type: got.Parameter.Type, Overwrite: aws.Bool(true)}
	for _, p := range desc.Parameters {
		if aws.ToString(p.Name) == name {
			restore.KeyId, restore.Tier = p.KeyId, p.Tier
		}
	}
	version := got.Parameter.Version
	r.cleanups.push(fmt.Sprintf("policy parameter %s (restored to the value of version %d)", name, version), func(ctx context.Context) error {
		_, err := client.PutParameter(ctx, restore)
		return err
	})
	return fmt.Sprintf("policy parameter %s saved at version %d (restored at the end)", name, version), nil
}

// service makes the provider's endpoint service and the consumer's
// network.
func (r *runner) service(ctx context.Context) (string, error) {
	provider, consumer := ec2.NewFromConfig(r.accounts.Provider()), ec2.NewFromConfig(r.accounts.Consumer())
	zone, err := commonZone(ctx, provider, consumer)
	if err != nil {
		return "", err
	}
	_, subnet, err := r.createNetwork(ctx, provider, "provider", "10.250.0.0/16", "10.250.0.0/24", zone)
	if err != nil {
		return "", err
	}
	principal := fmt.Sprintf("arn:%s:iam::%s:root", r.partition, r.consumer)
	if r.svc, err = r.createService(ctx, subnet, principal); err != nil {
		return "", err
	}
	r.say("endpoint service %s (%s)", r.svc.ID, r.svc.Name)
	if r.consumerVPC, r.consumerSubnet, err = r.createNetwork(ctx, consumer, "consumer", "10.251.0.0/16", "10.251.0.0/24", zone); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s in zone %s, tagged %s=%s, allows %s", r.svc.ID, zone, r.stack.ServiceTag.Key, r.stack.ServiceTag.Value, principal), nil
}

// manual: with a policy that leaves everything to a person, a new request
// stays pending and is announced.
func (r *runner) manual(ctx context.Context) (string, error) {
	if _, err := r.push(ctx, "leave every request to a person", `{"version": 1, "defaultAction": "manual", "rules": []}`); err != nil {
		return "", err
	}
	var err error
	if r.endpointA, err = r.createEndpoint(ctx, r.svc, r.consumerVPC, r.consumerSubnet); err != nil {
		return "", err
	}
	r.say("consumer created endpoint A %s", r.endpointA)
	var announced string
	err = r.await(ctx, "endpoint A announced and still pendingAcceptance", r.endpointA, func(c connection) (bool, error) {
		if c.State != statePending {
			return false, fmt.Errorf("endpoint A is %s: a manual request must stay %s", c.State, statePending)
		}
		announced = c.Tags[approver.TagAnnouncedAt]
		if announced == "" {
			return false, nil
		}
		if _, err := time.Parse(time.RFC3339, announced); err != nil {
			return false, fmt.Errorf("%s %q is not RFC 3339", approver.TagAnnouncedAt, announced)
		}
		return true, nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("endpoint A %s is %s, %s %s", r.endpointA, statePending, approver.TagAnnouncedAt, announced), nil
}

// accept: a policy version that accepts the consumer on the service
// accepts the pending request and stamps it.
func (r *runner) accept(ctx context.Context) (string, error) {
	const rule = "acceptance-consumer"
	pushed := time.Now()
	v, err := r.push(ctx, "accept the consumer on the test's service", fmt.Sprintf(`{"version": 1, "defaultAction": "manual",
 "rules": [{"name": %q, "action": "accept", "accounts": [%q], "services": [%q]}]}`, rule, r.consumer, r.svc.ID))
	if err != nil {
		return "", err
	}
	var c connection
	if err := r.await(ctx, "endpoint A accepted and stamped", r.endpointA, func(got connection) (bool, error) {
		c = got
		switch got.State {
		case statePending:
			return false, nil
		case stateAccepting, stateAvailable:
			return got.Tags[approver.TagDecision] != "", nil
		}
		return false, fmt.Errorf("endpoint A is %s, not accepted", got.State)
	}); err != nil {
		return "", err
	}
	if err := checkStamp(c, approver.ResultAccepted, rule, v, pushed); err != nil {
		return "", fmt.Errorf("endpoint A: %w", err)
	}
	seen, err := r.consumerSees(ctx, r.endpointA, stateAccepting, stateAvailable)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("endpoint A is %s, stamped %s; the consumer sees it %s", c.State, stampText(c), seen), nil
}

// reject: a request made while the policy rejects by default is rejected,
// and the connection a rule still accepts is left as it was.
func (r *runner) reject(ctx context.Context) (string, error) {
	pushed := time.Now()
	v, err := r.push(ctx, "reject by default, keep endpoint A", fmt.Sprintf(`{"version": 1, "defaultAction": "reject",
 "rules": [{"name": "acceptance-endpoint-a", "action": "accept", "accounts": [%q], "services": [%q], "endpoints": [%q]}]}`,
		r.consumer, r.svc.ID, r.endpointA))
	if err != nil {
		return "", err
	}
	if r.endpointB, err = r.createEndpoint(ctx, r.svc, r.consumerVPC, r.consumerSubnet); err != nil {
		return "", err
	}
	r.say("consumer created endpoint B %s", r.endpointB)
	var b connection
	if err := r.await(ctx, "endpoint B rejected and stamped", r.endpointB, func(got connection) (bool, error) {
		b = got
		switch got.State {
		case statePending:
			return false, nil
		case stateRejected:
			return got.Tags[approver.TagDecision] != "", nil
		}
		return false, fmt.Errorf("endpoint B is %s, not rejected", got.State)
	}); err != nil {
		return "", err
	}
	if err := checkStamp(b, approver.ResultRejected, "default", v, pushed); err != nil {
		return "", fmt.Errorf("endpoint B: %w", err)
	}
	a, err := r.connection(ctx, r.endpointA)
	if err != nil {
		return "", err
	}
	if !accepted(a.State) || a.Tags[approver.TagDecision] != approver.ResultAccepted {
		return "", fmt.Errorf("endpoint A changed: %s, stamped %s", a.State, stampText(a))
	}
	return fmt.Sprintf("endpoint B is %s, stamped %s; endpoint A still %s", b.State, stampText(b), a.State), nil
}

// guard: a policy that would revoke endpoint A with maxRevocations 0 is
// held by the guard.
func (r *runner) guard(ctx context.Context) (string, error) {
	pushed := time.Now()
	out, err := r.pushPlanned(ctx, "revoke everything, maxRevocations 0", `{"version": 1, "defaultAction": "reject", "revoke": true, "maxRevocations": 0, "rules": []}`)
	if err != nil {
		return "", err
	}
	if out.Plan == nil || !out.Plan.GuardHolds || out.Plan.Revocations != 1 {
		return "", fmt.Errorf("approverctl policy push did not warn that the guard would hold 1 revocation: plan %+v", out.Plan)
	}
	r.say("approverctl warned: the guard would hold %d revocation(s), maxRevocations %d", out.Plan.Revocations, out.Plan.MaxRevocations)
	v := strconv.FormatInt(out.Version, 10)
	var held decisionLine
	if err := eventually(ctx, r.stack.StepTimeout, r.stack.Poll, "a decision line: endpoint A held under policy version "+v, func(ctx context.Context) (bool, string, error) {
		lines, err := r.accounts.Decisions(ctx, r.endpointA, pushed.Add(-clockSkew))
		if err != nil {
			return false, "", fmt.Errorf("%w: read the function's decision lines: %v", errRetry, err)
		}
		var seen []string
		for _, l := range lines {
			if l.PolicyVersion == v && l.Result == approver.ResultHeld {
				held = l
				return true, "", nil
			}
			if l.PolicyVersion == v && l.Result == approver.ResultRevoked {
				return false, "", errors.New("endpoint A was revoked past maxRevocations 0")
			}
			seen = append(seen, fmt.Sprintf("%s/%s (version %s)", l.Action, l.Result, l.PolicyVersion))
		}
		return false, fmt.Sprintf("%d decision lines for endpoint A: %s", len(lines), strings.Join(seen, ", ")), nil
	}); err != nil {
		return "", err
	}
	a, err := r.connection(ctx, r.endpointA)
	if err != nil {
		return "", err
	}
	if !accepted(a.State) || a.Tags[approver.TagDecision] != approver.ResultAccepted {
		return "", fmt.Errorf("endpoint A held, yet it is %s, stamped %s", a.State, stampText(a))
	}
	return fmt.Sprintf("endpoint A held (%s: %s), still %s and stamped %s", held.Trigger, held.Detail, a.State, a.Tags[approver.TagDecision]), nil
}

// revoke: the next policy version, with room for one revocation, revokes
// endpoint A.
func (r *runner) revoke(ctx context.Context) (string, error) {
	pushed := time.Now()
	out, err := r.pushPlanned(ctx, "revoke everything, maxRevocations 1", `{"version": 1, "defaultAction": "reject", "revoke": true, "maxRevocations": 1, "rules": []}`)
	if err != nil {
		return "", err
	}
	if out.Plan == nil || out.Plan.GuardHolds {
		return "", fmt.Errorf("approverctl policy push says the guard would still hold: plan %+v", out.Plan)
	}
	v := strconv.FormatInt(out.Version, 10)
	var a connection
	if err := r.await(ctx, "endpoint A revoked and stamped", r.endpointA, func(got connection) (bool, error) {
		a = got
		return got.State == stateRejected && got.Tags[approver.TagDecision] == approver.ResultRevoked, nil
	}); err != nil {
		return "", err
	}
	if err := checkStamp(a, approver.ResultRevoked, "default", v, pushed); err != nil {
		return "", fmt.Errorf("endpoint A: %w", err)
	}
	seen, err := r.consumerSees(ctx, r.endpointA, stateRejected)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("endpoint A is %s, stamped %s; the consumer sees it %s", a.State, stampText(a), seen), nil
}

func accepted(state string) bool { return state == stateAccepting || state == stateAvailable }

// connection is one connection to the test's service, as the provider
// sees it.
type connection struct {
	State string
	Tags  map[string]string
}

// connection reads the connection of endpoint id to the test's service.
func (r *runner) connection(ctx context.Context, id string) (connection, error) {
	out, err := ec2.NewFromConfig(r.accounts.Provider()).DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{
		Filters: []ec2types.Filter{
			{Name: aws.String("service-id"), Values: []string{r.svc.ID}},
			{Name: aws.String("vpc-endpoint-id"), Values: []string{id}},
		},
	})
	if err != nil {
		return connection{}, fmt.Errorf("%w: provider: describe the connection of %s: %v", errRetry, id, err)
	}
	if len(out.VpcEndpointConnections) != 1 {
		return connection{}, fmt.Errorf("%w: provider: %d connections of %s to %s", errRetry, len(out.VpcEndpointConnections), id, r.svc.ID)
	}
	c := out.VpcEndpointConnections[0]
	tags := map[string]string{}
	for _, t := range c.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return connection{State: canonicalState(string(c.VpcEndpointState)), Tags: tags}, nil
}

// consumerSees waits until the consumer's own endpoint id is in one of
// states: the provider's decision reached the consumer.
func (r *runner) consumerSees(ctx context.Context, id string, states ...string) (string, error) {
	client := ec2.NewFromConfig(r.accounts.Consumer())
	var state string
	err := eventually(ctx, r.stack.StepTimeout, r.stack.Poll, fmt.Sprintf("the consumer sees %s %s", id, strings.Join(states, " or ")), func(ctx context.Context) (bool, string, error) {
		out, err := client.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
		if err != nil {
			return false, "", fmt.Errorf("%w: consumer: describe %s: %v", errRetry, id, err)
		}
		if len(out.VpcEndpoints) != 1 {
			return false, fmt.Sprintf("%d endpoints", len(out.VpcEndpoints)), nil
		}
		state = canonicalState(string(out.VpcEndpoints[0].State))
		return slices.Contains(states, state), state, nil
	})
	return state, err
}

// await polls endpoint id's connection until done says so (or fails), for
// at most the stack's step timeout.
func (r *runner) await(ctx context.Context, what, id string, done func(connection) (bool, error)) error {
	return eventually(ctx, r.stack.StepTimeout, r.stack.Poll, what, func(ctx context.Context) (bool, string, error) {
		c, err := r.connection(ctx, id)
		if err != nil {
			return false, "", err
		}
		ok, err := done(c)
		return ok, fmt.Sprintf("%s, stamped %s", c.State, stampText(c)), err
	})
}

// checkStamp checks the stamp of an applied decision (README, Stamps on the
// connection): exactly the decision, the rule, the policy version and a
// decided-at not before the push.
func checkStamp(c connection, decision, rule, version string, pushed time.Time) error {
	want := map[string]string{approver.TagDecision: decision, approver.TagRule: rule, approver.TagPolicyVersion: version}
	for k, v := range want {
		if c.Tags[k] != v {
			return fmt.Errorf("stamp %s is %q, want %q (stamped %s)", k, c.Tags[k], v, stampText(c))
		}
	}
	at, err := time.Parse(time.RFC3339, c.Tags[approver.TagDecidedAt])
	switch {
	case err != nil:
		return fmt.Errorf("stamp %s %q is not RFC 3339", approver.TagDecidedAt, c.Tags[approver.TagDecidedAt])
	case at.Before(pushed.Add(-clockSkew).Truncate(time.Second)):
		return fmt.Errorf("stamp %s %s is before the policy version %s was pushed (%s)", approver.TagDecidedAt, at, version, approver.StampTime(pushed))
	}
	for _, k := range []string{approver.TagBy, approver.TagReason} {
		if _, ok := c.Tags[k]; ok {
			return fmt.Errorf("stamp has %s: a rule's decision carries no person's", k)
		}
	}
	return nil
}

// stampText shows the approver's tags on a connection, sorted.
func stampText(c connection) string {
	var parts []string
	for k, v := range c.Tags {
		if name, ok := strings.CutPrefix(k, approver.TagPrefix); ok {
			parts = append(parts, name+"="+v)
		}
	}
	if len(parts) == 0 {
		return "with nothing"
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// pushOutput is what `approverctl policy push -o json` prints.
type pushOutput struct {
	Parameter string `json:"parameter"`
	Version   int64  `json:"version"`
	Plan      *struct {
		Revocations    int  `json:"revocations"`
		MaxRevocations int  `json:"maxRevocations"`
		GuardHolds     bool `json:"guardHolds"`
	} `json:"plan"`
}

// push stores policy with approverctl as the provider and returns the
// version written.
func (r *runner) push(ctx context.Context, about, policy string) (string, error) {
	out, err := r.pushPlanned(ctx, about, policy)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(out.Version, 10), nil
}

// pushPlanned is push, returning approverctl's answer with its plan.
func (r *runner) pushPlanned(ctx context.Context, about, policy string) (pushOutput, error) {
	file := filepath.Join(r.dir, fmt.Sprintf("policy-%d.json", time.Now().UnixNano()))
	if err := os.WriteFile(file, []byte(policy+"\n"), 0o600); err != nil {
		return pushOutput{}, err
	}
	// --yes: push asks for confirmation, and this is no terminal.
	args := []string{"policy", "push", file, "--parameter", r.stack.PolicyParameter, "--yes", "--output", "json"}
	cmd := r.accounts.Approverctl(ctx, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if r.verbose {
		r.say("$ approverctl %s\n%s%s", strings.Join(args, " "), stdout, stderr.String())
	}
	if err != nil {
		return pushOutput{}, fmt.Errorf("approverctl %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr.String())
	}
	var out pushOutput
	if err := json.Unmarshal(stdout, &out); err != nil || out.Version == 0 {
		return pushOutput{}, fmt.Errorf("approverctl policy push: no version in its answer (%v): %s", err, stdout)
	}
	r.say("pushed policy version %d with approverctl: %s", out.Version, about)
	return out, nil
}

package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
)

// accounts is what differs between a run against real AWS accounts
// (awsAccounts) and one against the local stack (localAccounts): how to
// reach the provider and the consumer, what the deployed stack is set to,
// how to run approverctl as the provider, and where the function's decision
// lines are. The steps and their checks are the same for both.
type accounts interface {
	// Provider and Consumer are the SDK configurations of the provider
	// account, where the stack is deployed, and of the consumer account,
	// both in the stack's Region.
	Provider() aws.Config
	Consumer() aws.Config
	// Stack is what the steps need to know of the deployed stack.
	Stack() stack
	// Approverctl returns the command that runs approverctl as the
	// provider, against the stack's Region, with args.
	Approverctl(ctx context.Context, args ...string) *exec.Cmd
	// Decisions returns the decision lines the function logged about the
	// endpoint from since on (on AWS they arrive in CloudWatch Logs within
	// seconds: callers poll).
	Decisions(ctx context.Context, endpointID string, since time.Time) ([]decisionLine, error)
	// Where says what the run is against, for the report.
	Where() string
}

// stack is the deployed stack's configuration, as far as the steps use it.
type stack struct {
	// PolicyParameter is the SSM parameter the function reads the policy
	// from (PolicyParameterName): the test writes it and restores it.
	PolicyParameter string
	// ServiceTag is the tag that makes the stack manage a service
	// (ServiceTag): the only services it manages.
	ServiceTag awsid.TagFilter
	// StepTimeout bounds how long a step waits for the stack to act; Poll is
	// how often it looks.
	StepTimeout, Poll time.Duration
}

// decisionLine is the part of a function's "decision" log line the checks
// read (README, Decisions and logs).
type decisionLine struct {
	Timestamp     time.Time `json:"timestamp"`
	Msg           string    `json:"msg"`
	EndpointID    string    `json:"endpointId"`
	Action        string    `json:"action"`
	Rule          string    `json:"rule"`
	Result        string    `json:"result"`
	Detail        string    `json:"detail"`
	PolicyVersion string    `json:"policyVersion"`
	Trigger       string    `json:"trigger"`
}

// parseDecisionLine reads one log event: the function's JSON line itself,
// or a line Lambda wrapped with the function's text under "message".
func parseDecisionLine(text string) (decisionLine, bool) {
	text = strings.TrimSpace(text)
	var d decisionLine
	if json.Unmarshal([]byte(text), &d) == nil && d.Msg == "decision" {
		return d, true
	}
	var wrapped struct {
		Message string `json:"message"`
	}
	if json.Unmarshal([]byte(text), &wrapped) == nil && wrapped.Message != "" {
		return parseDecisionLine(wrapped.Message)
	}
	return decisionLine{}, false
}

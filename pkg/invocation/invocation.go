// Package invocation is the Lambda handler: it decodes the payload with
// package trigger, runs one reconcile with package approver for all the
// services the payload names, and answers in the shape the event source
// expects: the SQS partial-batch response (batchItemFailures) for SQS, and
// a JSON summary for EventBridge and SNS.
//
// See https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
// for partial batch responses.
package invocation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"

	"github.com/privatelink-approver/privatelink-approver/pkg/announce"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/metrics"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/trigger"
)

// Reconciler runs one reconcile; *approver.Approver is one.
type Reconciler interface {
	Reconcile(ctx context.Context, req approver.Request) (*approver.Report, error)
}

// Unregisterer deletes the connection notifications the sweeps registered
// on the stack's topic; *approver.Approver is one.
type Unregisterer interface {
	ConnectionTopic() string
	Unregister(ctx context.Context, topic string) (int, error)
}

// Publisher puts applied decisions on an event bus and returns how many it
// could not put; *decisionevents.Publisher is one.
type Publisher interface {
	Publish(ctx context.Context, decisions []approver.Outcome) int
}

// Options are the handler's optional collaborators.
type Options struct {
	// Notifications serves the stack's ConnectionNotificationCleanup
	// custom resource; nil answers its requests FAILED.
	Notifications Unregisterer
	// PolicyChangeTopicARN is the central topic announcing changes of a
	// shared policy (POLICY_CHANGE_TOPIC_ARN); empty when there is none.
	PolicyChangeTopicARN string
	// CleanupRecheck is how long a Delete of the cleanup resource waits
	// before it looks again, and deletes what a sweep registered in the
	// meantime: one that was running, or that started before IAM applied
	// the removal of the function's permission to register. Zero looks
	// once.
	CleanupRecheck time.Duration
	// Logger receives the invocation's log lines; nil discards.
	Logger *slog.Logger
	// Metrics receives the invocation's EMF lines; nil writes none.
	Metrics io.Writer
	// Announcer tells people about decisions; nil announces nothing.
	Announcer *announce.Announcer
	// DecisionEvents puts the applied decisions on EventBridge, after the
	// announcer (so that they carry its stamps); nil puts none. Its
	// failures are counted in metric DecisionEventFailures, never in the
	// answer.
	DecisionEvents Publisher
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler answers Lambda invocations.
type Handler struct {
	reconciler      Reconciler
	policyParameter string
	opts            Options
	log             *slog.Logger
}

// New returns a Handler. policyParameter is the SSM parameter (or path) of
// the policy, whose change events reload it.
func New(r Reconciler, policyParameter string, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{reconciler: r, policyParameter: policyParameter, opts: opts, log: opts.Logger}
}

// MaxAnswerDecisions bounds the decisions an answer lists: Lambda answers at
// most 6 MB, about 13,000 decisions. The counts cover them all, and every
// decision has its log line.
const MaxAnswerDecisions = 1000

// answerMargin is the time kept before the function's deadline to log and
// answer after the last AWS call.
const answerMargin = 3 * time.Second

// Ignored is the answer to an event that needs no work.
type Ignored struct {
	Trigger string `json:"trigger"`
	Ignored string `json:"ignored"`
}

// Handle is the Lambda handler. It returns an error, and never acts when the
// payload or the policy is bad. (Should a bug panic, aws-lambda-go reports
// the panic, with its stack, as the invocation's error.)
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (any, error) {
	if deadline, ok := ctx.Deadline(); ok {
		// Stop AWS calls (and their retries) early enough to log and answer
		// before Lambda's timeout kills the process mid-sentence.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-answerMargin))
		defer cancel()
	}

	t, err := trigger.Config{PolicyParameter: h.policyParameter, PolicyChangeTopicARN: h.opts.PolicyChangeTopicARN}.Decode(payload)
	if err != nil {
		h.log.ErrorContext(ctx, "invocation failed", "error", err.Error())
		return nil, err
	}
	if t.Kind == trigger.CustomResource {
		return h.customResource(ctx, t.Resource)
	}
	if t.Ignored != "" {
		h.log.InfoContext(ctx, "nothing to do", "trigger", string(t.Kind), "ignored", t.Ignored)
		return Ignored{Trigger: string(t.Kind), Ignored: t.Ignored}, nil
	}

	req := approver.Request{Trigger: string(t.Kind), ReloadPolicy: t.ReloadPolicy, ForgetMemberships: t.ForgetMemberships, Sweep: t.Sweep}
	for _, target := range t.Targets {
		req.All = req.All || target.All
	}
	if !req.All {
		req.Services = inTurn(t.Targets)
	}

	report, err := h.reconciler.Reconcile(ctx, req)
	if err != nil {
		// No policy or no service list: nothing was decided. For SQS the
		// whole batch fails and is redelivered.
		h.log.ErrorContext(ctx, "invocation failed", "trigger", string(t.Kind), "error", err.Error())
		if errors.Is(err, policy.ErrNoPolicy) {
			h.writeMetrics(func(w io.Writer) error { return metrics.WritePolicyError(w, h.opts.Now()) })
		}
		return nil, fmt.Errorf("%s: nothing decided: %w", t.Kind, err)
	}
	if h.opts.Announcer != nil {
		h.opts.Announcer.Announce(ctx, report, announce.Event{Sweep: req.Sweep}, h.opts.Now())
		// Marking announced requests may have failed: count it too.
		report.Counts = approver.Count(report.Decisions)
	}
	var more []metrics.Total
	if h.opts.DecisionEvents != nil {
		failures := h.opts.DecisionEvents.Publish(ctx, report.Decisions)
		more = append(more, metrics.Total{Name: metrics.DecisionEventFailures, Value: failures})
	}
	h.writeMetrics(func(w io.Writer) error { return metrics.WriteReport(w, report, h.opts.Now(), more...) })
	h.log.InfoContext(ctx, "summary", "trigger", report.Trigger, "services", report.Services,
		"accepted", report.Accepted, "rejected", report.Rejected, "revoked", report.Revoked, "manual", report.Manual,
		"held", report.Held, "rejectionsHeld", report.RejectionsHeld, "revocationsHeld", report.RevocationsHeld, "partHeld", report.PartHeld,
		"deferred", report.Deferred, "regionUnknown", report.RegionUnknown, "unknownServiceIds", report.UnknownServiceIDs, "policyPartsRefused", report.PolicyPartsRefused, "dryRunDecisions", report.DryRunDecisions, "alreadyDecided", report.AlreadyDecided, "gone", report.Gone,
		"failed", report.Failed, "stampFailures", report.StampFailures, "dryRun", report.DryRun)

	if t.Source == trigger.FromSQS {
		return batchResponse(t, report), nil
	}
	if err := report.Err(); err != nil {
		h.log.ErrorContext(ctx, "invocation failed", "trigger", string(t.Kind), "error", err.Error())
		return nil, fmt.Errorf("%s: %w", t.Kind, err)
	}
	return report.Summary(MaxAnswerDecisions), nil
}

// inTurn lists the services the targets name, each once, taking them in
// turn: the first of each target, then the second of each, and so on. The
// approver looks up at most approver.MaxServiceLookups IDs it does not
// know, in this order: a message naming thousands of IDs (anyone who may
// publish to the topic can send one) cannot crowd out the one service a
// genuine notification names.
func inTurn(targets []trigger.Target) []string {
	var out []string
	seen := map[string]bool{}
	for i := 0; ; i++ {
		more := false
		for _, target := range targets {
			if i >= len(target.Services) {
				continue
			}
			more = true
			if svc := target.Services[i]; !seen[svc] {
				seen[svc] = true
				out = append(out, svc)
			}
		}
		if !more {
			return out
		}
	}
}

// writeMetrics writes EMF lines when a writer is set; a failure to write
// them is logged, never the invocation's failure.
func (h *Handler) writeMetrics(write func(io.Writer) error) {
	if h.opts.Metrics == nil {
		return
	}
	if err := write(h.opts.Metrics); err != nil {
		h.log.Error("metrics not written", "error", err.Error())
	}
}

// batchResponse returns, for redelivery, the SQS messages that named a
// service whose reconcile failed or was not reached before the deadline
// (every message that asked for all services, when any was).
func batchResponse(t trigger.Trigger, report *approver.Report) events.SQSEventResponse {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, target := range t.Targets {
		failed := false
		if target.All {
			failed = report.Err() != nil || len(report.NotReached) > 0
		} else {
			for _, svc := range target.Services {
				failed = failed || !report.ServiceDone(svc)
			}
		}
		if failed {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: target.ID})
		}
	}
	return resp
}

// CleanupResourceType is the type of the custom resource that removes, when
// the stack is deleted, the connection notifications the sweeps registered.
const CleanupResourceType = "Custom::ConnectionNotifications"

// maxReason bounds the error quoted in a FAILED answer: CloudFormation
// takes an answer of at most 4,096 bytes.
const maxReason = 1500

// cleanupResourceID is the cleanup resource's physical ID: one per stack,
// never replaced.
const cleanupResourceID = "connection-notifications"

// customResource answers a CloudFormation custom resource request with
// aws-lambda-go's cfn package, which always answers, even after a panic.
// Create and Update check that the resource names the function's own topic;
// Delete removes the notifications on it. A Delete never fails on a topic
// that differs (it deletes nothing and says so): a Create that failed on it
// is rolled back with a Delete, which must not fail again.
func (h *Handler) customResource(ctx context.Context, ev *cfn.Event) (any, error) {
	serve := func(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
		log := h.log.With("trigger", string(trigger.CustomResource), "requestType", string(ev.RequestType),
			"logicalResourceId", ev.LogicalResourceID, "stackId", ev.StackID)
		if ev.ResourceType != CleanupResourceType {
			return ev.PhysicalResourceID, nil, fmt.Errorf("resource type %q is not served by this function (want %s)", ev.ResourceType, CleanupResourceType)
		}
		if h.opts.Notifications == nil {
			return cleanupResourceID, nil, errors.New("this function does not serve " + CleanupResourceType)
		}
		topic, _ := ev.ResourceProperties["TopicArn"].(string)
		own := h.opts.Notifications.ConnectionTopic()
		switch {
		case ev.RequestType != cfn.RequestDelete && topic != own:
			return cleanupResourceID, nil, fmt.Errorf("the resource's TopicArn %q is not the function's CONNECTION_TOPIC_ARN %q", topic, own)
		case ev.RequestType != cfn.RequestDelete:
			log.InfoContext(ctx, "custom resource ready", "topicArn", own)
			return cleanupResourceID, nil, nil
		case topic != own:
			log.WarnContext(ctx, "custom resource deleted; no notification deleted: its TopicArn is not the function's", "topicArn", topic, "own", own)
			return cleanupResourceID, map[string]any{"Deleted": 0}, nil
		}
		n, err := h.opts.Notifications.Unregister(ctx, topic)
		if err == nil && h.opts.CleanupRecheck > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(h.opts.CleanupRecheck):
				var more int
				more, err = h.opts.Notifications.Unregister(ctx, topic)
				n += more
			}
		}
		if err != nil {
			log.ErrorContext(ctx, "connection notifications not deleted", "error", err.Error())
			why := err.Error()
			if len(why) > maxReason {
				why = why[:maxReason] + "..."
			}
			return cleanupResourceID, nil, fmt.Errorf("%s. Delete them with aws ec2 delete-vpc-endpoint-connection-notifications and delete the stack again, or retain this resource (docs/deploy.md, Teardown)", why)
		}
		log.InfoContext(ctx, "connection notifications deleted", "count", n)
		return cleanupResourceID, map[string]any{"Deleted": n}, nil
	}
	reason, err := cfn.LambdaWrap(serve)(ctx, *ev)
	if err != nil {
		h.log.ErrorContext(ctx, "custom resource answer not sent", "error", err.Error(), "reason", reason)
		return nil, fmt.Errorf("%s: answer CloudFormation: %w", trigger.CustomResource, err)
	}
	return Ignored{Trigger: string(trigger.CustomResource), Ignored: "answered CloudFormation " + string(ev.RequestType)}, nil
}

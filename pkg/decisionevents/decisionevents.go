package decisionevents

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
)

const (
	// Source is the events' source: what a rule matches them by.
	Source = "privatelink-approver"
	// DetailType is the events' detail-type.
	DetailType = "PrivateLink Connection Decision"
	// MaxEntries is the most entries one PutEvents call takes.
	MaxEntries = 10
	// MaxEntryBytes is the largest entry EventBridge takes, counted as it
	// counts them (Source, DetailType, Detail and Resources, in bytes);
	// the entries of one call are kept within it together too.
	MaxEntryBytes = 256 * 1024
)

// EventBridgeAPI is the part of the EventBridge client used.
type EventBridgeAPI interface {
	PutEvents(ctx context.Context, params *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Publisher puts applied decisions on the account's default event bus.
type Publisher struct {
	client EventBridgeAPI
	log    *slog.Logger
}

// New returns a Publisher; a nil log discards.
func New(client EventBridgeAPI, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{client: client, log: log}
}

// entry is the event of one decision.
type entry struct {
	decision approver.Outcome
	event    types.PutEventsRequestEntry
	size     int
}

// Publish puts one event for each applied decision, in order, and returns
// how many could not be put: those of a failed call, the entries EventBridge
// failed, and any too large to put. Each failure is logged; none is
// retried beyond the SDK's own retries, and none changes a decision.
func (p *Publisher) Publish(ctx context.Context, decisions []approver.Outcome) int {
	owner, _ := ownerOf(ctx)
	failures := 0
	var entries []entry
	for _, d := range decisions {
		if !d.Applied() {
			continue
		}
		e, err := newEntry(d, owner)
		if err != nil {
			failures++
			p.log.ErrorContext(ctx, "decision event not put", "serviceId", d.ServiceID, "endpointId", d.EndpointID,
				"result", d.Result, "error", err.Error())
			continue
		}
		entries = append(entries, e)
	}
	notPut := 0
	batches := batch(entries)
	for i, b := range batches {
		if err := ctx.Err(); err != nil {
			// The deadline came: say so once, not once a batch.
			left := 0
			for _, rest := range batches[i:] {
				left += len(rest)
			}
			notPut += left
			p.log.ErrorContext(ctx, "decision events not put", "count", left, "error", err.Error())
			break
		}
		notPut += p.put(ctx, b)
	}
	if len(entries) > 0 {
		p.log.DebugContext(ctx, "decision events put", "count", len(entries)-notPut)
	}
	return failures + notPut
}

// batch splits entries, in order, into the batches of PutEvents calls: at
// most MaxEntries entries, of at most MaxEntryBytes together.
func batch(entries []entry) [][]entry {
	var out [][]entry
	var cur []entry
	size := 0
	for _, e := range entries {
		if len(cur) == MaxEntries || (len(cur) > 0 && size+e.size > MaxEntryBytes) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, e)
		size += e.size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// put makes one PutEvents call and returns the number of entries not put.
func (p *Publisher) put(ctx context.Context, b []entry) int {
	in := &eventbridge.PutEventsInput{Entries: make([]types.PutEventsRequestEntry, len(b))}
	for i, e := range b {
		in.Entries[i] = e.event
	}
	out, err := p.client.PutEvents(ctx, in)
	if err != nil {
		ids := make([]string, len(b))
		for i, e := range b {
			ids[i] = e.decision.EndpointID
		}
		p.log.ErrorContext(ctx, "decision events not put", "count", len(b), "endpointIds", ids, "error", err.Error())
		return len(b)
	}
	// The answer's entries are the request's, in order; one that failed
	// has an error code.
	failed := 0
	for i, r := range out.Entries {
		if r.ErrorCode == nil || i >= len(b) {
			continue
		}
		failed++
		d := b[i].decision
		p.log.ErrorContext(ctx, "decision event not put", "serviceId", d.ServiceID, "endpointId", d.EndpointID,
			"result", d.Result, "errorCode", aws.ToString(r.ErrorCode), "error", aws.ToString(r.ErrorMessage))
	}
	if n := int(out.FailedEntryCount); n > failed {
		// Count what EventBridge counted, even where it said no more.
		p.log.ErrorContext(ctx, "decision events not put", "count", n-failed, "error", "PutEvents counted failed entries it did not name")
		failed = n
	}
	return min(failed, len(b))
}

// newEntry builds the event of decision d.
func newEntry(d approver.Outcome, o owner) (entry, error) {
	detail, err := json.Marshal(d)
	if err != nil {
		return entry{}, fmt.Errorf("encode the decision: %w", err)
	}
	e := types.PutEventsRequestEntry{
		// No EventBusName: the account's default bus.
		Source:     aws.String(Source),
		DetailType: aws.String(DetailType),
		Detail:     aws.String(string(detail)),
	}
	if arn := o.serviceARN(d.ServiceID); arn != "" {
		e.Resources = []string{arn}
	}
	size := len(Source) + len(DetailType) + len(detail)
	for _, r := range e.Resources {
		size += len(r)
	}
	if size > MaxEntryBytes {
		return entry{}, fmt.Errorf("the event is %d bytes, over the %d EventBridge takes", size, MaxEntryBytes)
	}
	return entry{decision: d, event: e, size: size}, nil
}

// owner is where the function runs: the partition, Region and account of
// its ARN.
type owner struct {
	partition, region, account string
}

// ownerOf reads the owner from the function's ARN in the invocation's
// context; false outside an invocation or for an ARN it cannot read.
func ownerOf(ctx context.Context) (owner, bool) {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return owner{}, false
	}
	a, err := arn.Parse(lc.InvokedFunctionArn)
	if err != nil || a.Service != "lambda" || a.Partition == "" || !awsid.IsRegion(a.Region) || !awsid.IsAccount(a.AccountID) {
		return owner{}, false
	}
	return owner{partition: a.Partition, region: a.Region, account: a.AccountID}, true
}

// serviceARN is the ARN of the owner's endpoint service id; "" when the
// owner is unknown.
func (o owner) serviceARN(id string) string {
	if o.account == "" || !awsid.IsServiceID(id) {
		return ""
	}
	return arn.ARN{Partition: o.partition, Service: "ec2", Region: o.region, AccountID: o.account,
		Resource: "vpc-endpoint-service/" + id}.String()
}

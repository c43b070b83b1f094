package approver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/policystore"
)

// EC2API is the part of the EC2 client the approver calls.
type EC2API interface {
	DescribeVpcEndpointConnections(ctx context.Context, params *ec2.DescribeVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointConnectionsOutput, error)
	DescribeVpcEndpointServiceConfigurations(ctx context.Context, params *ec2.DescribeVpcEndpointServiceConfigurationsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServiceConfigurationsOutput, error)
	AcceptVpcEndpointConnections(ctx context.Context, params *ec2.AcceptVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.AcceptVpcEndpointConnectionsOutput, error)
	RejectVpcEndpointConnections(ctx context.Context, params *ec2.RejectVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.RejectVpcEndpointConnectionsOutput, error)
}

// PolicyLoader supplies the policy; fresh bypasses any cached copy.
type PolicyLoader interface {
	Load(ctx context.Context, fresh bool) (*policystore.Loaded, error)
}

// Limits of the EC2 API.
const (
	// maxPage is the largest MaxResults DescribeVpcEndpointConnections takes.
	maxPage = 1000
	// maxBatch is the most endpoint IDs one Accept or Reject call takes.
	maxBatch = 1000
	// maxFilterValues bounds the endpoint IDs in one vpc-endpoint-id filter.
	maxFilterValues = 200
)

// EC2 connection states, as the API spells them. The SDK's types.State
// constants differ in case, so states are compared with strings.EqualFold.
const (
	statePendingAcceptance = "pendingAcceptance"
	statePending           = "pending"
	stateAvailable         = "available"
	stateRejected          = "rejected"
	stateDeleting          = "deleting"
	stateDeleted           = "deleted"
)

// Config holds the approver's settings.
type Config struct {
	// ServiceIDs are the managed endpoint services; empty means every
	// endpoint service the account owns.
	ServiceIDs []string
	// DryRun decides and logs but never calls Accept or Reject.
	DryRun bool
	// Region is the function's own region, where a connection with no
	// VpcEndpointRegion is.
	Region string
	// Logger receives one line per decision; nil discards.
	Logger *slog.Logger
	// Now is the clock for rule expiry; nil means time.Now.
	Now func() time.Time
}

// Approver reconciles endpoint services against the policy.
type Approver struct {
	ec2      EC2API
	policies PolicyLoader
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
}

// New returns an Approver using the given clients.
func New(client EC2API, policies PolicyLoader, cfg Config) *Approver {
	a := &Approver{ec2: client, policies: policies, cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a
}

// Request says what to reconcile.
type Request struct {
	// Trigger names what woke the function, for the logs.
	Trigger string
	// All asks for every managed service; otherwise Services are reconciled
	// when managed, and the others are left alone.
	All      bool
	Services []string
	// ReloadPolicy bypasses any cached policy.
	ReloadPolicy bool
	// Sweep marks a sweep (the schedule or a policy change): only a sweep
	// revokes accepted connections, when the policy says "revoke".
	Sweep bool
}

// Reconcile loads the policy, then reconciles each requested managed
// service. It returns an error, and decides nothing, when the policy or the
// list of managed services cannot be had; failures of single services or
// connections are in the Report (see Report.Err).
func (a *Approver) Reconcile(ctx context.Context, req Request) (*Report, error) {
	services, err := a.servicesFor(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(services) == 0 && !req.All {
		// The event named only services of others: none of our business,
		// whatever state the policy is in.
		return &Report{Trigger: req.Trigger, DryRun: a.cfg.DryRun, Services: []string{}, Decisions: []Decision{}}, nil
	}
	loaded, err := a.policies.Load(ctx, req.ReloadPolicy)
	if err != nil {
		return nil, err
	}
	report := &Report{
		Trigger:         req.Trigger,
		DryRun:          a.cfg.DryRun,
		PolicyParameter: loaded.Parameter,
		PolicyVersion:   loaded.Version,
		Services:        services,
		Decisions:       []Decision{},
	}
	revoking := req.Sweep && loaded.Policy.Revoke
	plans := make([]*plan, 0, len(services))
	revocations := 0
	for _, svc := range services {
		pl := a.plan(ctx, loaded, svc, req.Trigger, revoking)
		revocations += pl.revocations
		plans = append(plans, pl)
	}
	// The guard counts across every service, before anything is applied: a
	// mistaken edit must not cut off every consumer at once.
	if limit := loaded.Policy.MaxRevocations; revocations > limit {
		report.Guard = fmt.Sprintf("%d revocations exceed maxRevocations %d: nothing revoked; check the policy, then raise maxRevocations if they are meant", revocations, limit)
		for _, pl := range plans {
			pl.holdRevocations(report.Guard)
		}
		a.log.ErrorContext(ctx, "revocations held", "trigger", req.Trigger, "revocations", revocations, "maxRevocations", limit)
	}
	for _, pl := range plans {
		err := a.apply(ctx, pl)
		report.add(pl.svc, pl.decisions, err)
		if err != nil {
			a.log.ErrorContext(ctx, "reconcile failed", "serviceId", pl.svc, "trigger", req.Trigger, "error", err.Error())
		}
	}
	return report, nil
}

// servicesFor returns the managed services the request asks for, sorted.
func (a *Approver) servicesFor(ctx context.Context, req Request) ([]string, error) {
	managed := a.cfg.ServiceIDs
	if len(managed) == 0 {
		owned, err := a.ownedServices(ctx)
		if err != nil {
			return nil, err
		}
		managed = owned
	}
	managed = append([]string{}, managed...) // never nil: "services": [] in the summary
	slices.Sort(managed)
	if req.All {
		return slices.Compact(managed), nil
	}
	out := []string{}
	for _, svc := range req.Services {
		if _, found := slices.BinarySearch(managed, svc); found {
			out = append(out, svc)
		} else {
			a.log.InfoContext(ctx, "service not managed: left alone", "serviceId", svc, "trigger", req.Trigger)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ownedServices lists every endpoint service of the account and region.
func (a *Approver) ownedServices(ctx context.Context) ([]string, error) {
	var ids []string
	pages := ec2.NewDescribeVpcEndpointServiceConfigurationsPaginator(a.ec2, &ec2.DescribeVpcEndpointServiceConfigurationsInput{
		MaxResults: aws.Int32(maxPage),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the account's endpoint services: %w", err)
		}
		for _, s := range page.ServiceConfigurations {
			ids = append(ids, aws.ToString(s.ServiceId))
		}
	}
	return ids, nil
}

// plan is what one service's reconcile will do: its decisions, and which of
// them call Accept or Reject.
type plan struct {
	svc       string
	decisions []Decision
	// describeErr is a failure to read the service's connections: nothing
	// is decided for it.
	describeErr error
	revocations int
}

// plan reads the service's connections and decides them, changing nothing:
// every pending request, and, when revoking, every accepted connection
// (EC2 states pending and available) whose decision is now reject.
func (a *Approver) plan(ctx context.Context, loaded *policystore.Loaded, svc, trigger string, revoking bool) *plan {
	pl := &plan{svc: svc}
	// Accepted connections matter for revocation, and for connection
	// limits, which count them per account: one Describe reads both kinds.
	states := []string{statePendingAcceptance}
	if revoking || loaded.Policy.HasLimits() {
		states = append(states, statePending, stateAvailable)
	}
	conns, err := a.connections(ctx, svc, states, nil)
	if err != nil {
		pl.describeErr = fmt.Errorf("describe the connections of %s: %w", svc, err)
		return pl
	}
	var pending, accepted []types.VpcEndpointConnection
	acceptedBy := map[string]int{}
	for _, c := range conns {
		if strings.EqualFold(string(c.VpcEndpointState), statePendingAcceptance) {
			pending = append(pending, c)
			continue
		}
		accepted = append(accepted, c)
		acceptedBy[aws.ToString(c.VpcEndpointOwner)]++
	}

	// Oldest first, then by ID: connection limits go to the earliest.
	byAge := func(x, y types.VpcEndpointConnection) int {
		return cmp.Or(
			aws.ToTime(x.CreationTimestamp).Compare(aws.ToTime(y.CreationTimestamp)),
			strings.Compare(aws.ToString(x.VpcEndpointId), aws.ToString(y.VpcEndpointId)),
		)
	}
	slices.SortFunc(pending, byAge)
	slices.SortFunc(accepted, byAge)

	now := a.now()
	pl.decisions = make([]Decision, 0, len(pending))
	for _, c := range pending {
		d := a.newDecision(loaded, svc, trigger, c)
		pd := loaded.Policy.Decide(policy.Request{Account: d.Owner, ServiceID: svc, EndpointID: d.EndpointID, Region: d.Region,
			Accepted: acceptedBy[d.Owner]}, now)
		d.Action, d.Rule, d.Reason = pd.Action, pd.Rule, pd.Reason()
		switch {
		case pd.Action == policy.Manual:
			d.Result = ResultLeftPending
		case a.cfg.DryRun:
			d.Result = ResultDryRun
		}
		if pd.Action == policy.Accept {
			acceptedBy[d.Owner]++ // counts toward the limit of later requests
		}
		pl.decisions = append(pl.decisions, d)
	}
	if revoking {
		for _, c := range accepted {
			d := a.newDecision(loaded, svc, trigger, c)
			pd := loaded.Policy.Decide(policy.Request{Account: d.Owner, ServiceID: svc, EndpointID: d.EndpointID, Region: d.Region,
				Existing: true}, now)
			if pd.Action != policy.Reject {
				continue // accept keeps it; manual never revokes
			}
			d.Action, d.Rule, d.Reason, d.Revoked = pd.Action, pd.Rule, "revoked: "+pd.Reason(), true
			if a.cfg.DryRun {
				d.Result = ResultDryRun
			}
			pl.decisions = append(pl.decisions, d)
			pl.revocations++
		}
	}
	return pl
}

func (a *Approver) newDecision(loaded *policystore.Loaded, svc, trigger string, c types.VpcEndpointConnection) Decision {
	return Decision{
		ServiceID:       svc,
		EndpointID:      aws.ToString(c.VpcEndpointId),
		Owner:           aws.ToString(c.VpcEndpointOwner),
		Region:          cmp.Or(aws.ToString(c.VpcEndpointRegion), a.cfg.Region),
		Created:         aws.ToTime(c.CreationTimestamp),
		State:           string(c.VpcEndpointState),
		DryRun:          a.cfg.DryRun,
		Trigger:         trigger,
		PolicyVersion:   loaded.Version,
		PolicyParameter: loaded.Parameter,
	}
}

// holdRevocations marks the plan's revocations as not to be applied.
func (pl *plan) holdRevocations(why string) {
	for i := range pl.decisions {
		if d := &pl.decisions[i]; d.Revoked && d.Result == "" {
			d.Result = ResultHeld + ": " + why
		}
	}
}

// apply accepts and rejects what the plan decided (one Accept and one
// Reject call, split only past 1,000 IDs), settles the failures, and logs
// every decision. The error reports a failure of the service as a whole or
// of any decision; every other decision is still applied.
func (a *Approver) apply(ctx context.Context, pl *plan) error {
	if pl.describeErr != nil {
		return pl.describeErr
	}
	var acceptIDs, rejectIDs []string
	for _, d := range pl.decisions {
		switch {
		case d.Result != "": // manual, dry run, held
		case d.Action == policy.Accept:
			acceptIDs = append(acceptIDs, d.EndpointID)
		case d.Action == policy.Reject:
			rejectIDs = append(rejectIDs, d.EndpointID)
		}
	}
	failures := a.call(ctx, pl.svc, policy.Accept, acceptIDs)
	for id, f := range a.call(ctx, pl.svc, policy.Reject, rejectIDs) {
		failures[id] = f
	}
	a.settle(ctx, pl.svc, pl.decisions, failures)

	var failed int
	codes := map[string]int{}
	for _, d := range pl.decisions {
		a.logDecision(ctx, d)
		if d.Error != "" {
			failed++
			codes[cmp.Or(d.ErrorCode, "no error code")]++
		}
	}
	if failed > 0 {
		var why []string
		for _, code := range slices.Sorted(maps.Keys(codes)) {
			why = append(why, fmt.Sprintf("%s x%d", code, codes[code]))
		}
		return fmt.Errorf("%s: %d of %d decisions could not be applied (%s)", pl.svc, failed, len(pl.decisions), strings.Join(why, ", "))
	}
	return nil
}

// failure is why EC2 did not apply a decision to one endpoint.
type failure struct {
	code    string
	message string
}

// call accepts or rejects ids in batches of at most maxBatch and returns
// the endpoints EC2 did not act on, from Unsuccessful or a failed call.
func (a *Approver) call(ctx context.Context, svc string, action policy.Action, ids []string) map[string]failure {
	failures := map[string]failure{}
	for batch := range slices.Chunk(ids, maxBatch) {
		var unsuccessful []types.UnsuccessfulItem
		var err error
		if action == policy.Accept {
			var out *ec2.AcceptVpcEndpointConnectionsOutput
			out, err = a.ec2.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(svc), VpcEndpointIds: batch})
			if out != nil {
				unsuccessful = out.Unsuccessful
			}
		} else {
			var out *ec2.RejectVpcEndpointConnectionsOutput
			out, err = a.ec2.RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{ServiceId: aws.String(svc), VpcEndpointIds: batch})
			if out != nil {
				unsuccessful = out.Unsuccessful
			}
		}
		if err != nil {
			f := failure{code: errorCode(err), message: fmt.Sprintf("%s %d connections of %s: %v", action, len(batch), svc, err)}
			for _, id := range batch {
				failures[id] = f
			}
			continue
		}
		for _, u := range unsuccessful {
			f := failure{code: "Unknown", message: "EC2 listed the endpoint as unsuccessful without an error"}
			if u.Error != nil {
				code := aws.ToString(u.Error.Code)
				f = failure{code: code, message: fmt.Sprintf("%s %s: %s: %s", action, aws.ToString(u.ResourceId), code, aws.ToString(u.Error.Message))}
			}
			failures[aws.ToString(u.ResourceId)] = f
		}
	}
	return failures
}

// settle records the outcome of each applied decision. A failure whose
// connection is already where the decision wanted it (a person acted
// meanwhile) or gone (its consumer deleted it) is no error: the state is
// right. Anything else is an error on that decision.
func (a *Approver) settle(ctx context.Context, svc string, decisions []Decision, failures map[string]failure) {
	var failedIDs []string
	for id := range failures {
		failedIDs = append(failedIDs, id)
	}
	slices.Sort(failedIDs)
	var states map[string]string
	var statesErr error
	if len(failedIDs) > 0 {
		var current []types.VpcEndpointConnection
		current, statesErr = a.connections(ctx, svc, nil, failedIDs)
		states = make(map[string]string, len(current))
		for _, c := range current {
			states[aws.ToString(c.VpcEndpointId)] = string(c.VpcEndpointState)
		}
	}

	for i := range decisions {
		d := &decisions[i]
		if d.Result != "" {
			continue // manual or dry run: nothing was applied
		}
		f, failed := failures[d.EndpointID]
		if !failed {
			switch {
			case d.Revoked:
				d.Result = ResultRevoked
			case d.Action == policy.Accept:
				d.Result = ResultAccepted
			default:
				d.Result = ResultRejected
			}
			continue
		}
		state, present := states[d.EndpointID]
		switch {
		case statesErr != nil:
			d.Result, d.ErrorCode = ResultFailed, f.code
			d.Error = fmt.Sprintf("%s (and its current state could not be read: %v)", f.message, statesErr)
		case d.Action == policy.Accept && (strings.EqualFold(state, statePending) || strings.EqualFold(state, stateAvailable)):
			d.Result = ResultAlreadyAccepted
		case d.Action == policy.Reject && strings.EqualFold(state, stateRejected):
			d.Result = ResultAlreadyRejected
		case !present || strings.EqualFold(state, stateDeleting) || strings.EqualFold(state, stateDeleted):
			d.Result = ResultGone
		default:
			d.Result, d.ErrorCode = ResultFailed, f.code
			d.Error = fmt.Sprintf("%s (connection is %s)", f.message, state)
		}
	}
}

// connections describes connections of svc, only those in states when
// given, and only the endpoints ids when given, following every page.
func (a *Approver) connections(ctx context.Context, svc string, states, ids []string) ([]types.VpcEndpointConnection, error) {
	filters := []types.Filter{{Name: aws.String("service-id"), Values: []string{svc}}}
	if len(states) > 0 {
		filters = append(filters, types.Filter{Name: aws.String("vpc-endpoint-state"), Values: states})
	}
	idBatches := [][]string{nil}
	if len(ids) > 0 {
		idBatches = slices.Collect(slices.Chunk(ids, maxFilterValues))
	}
	inStates := func(state types.State) bool {
		return len(states) == 0 || slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, string(state)) })
	}
	var out []types.VpcEndpointConnection
	for _, batch := range idBatches {
		f := filters
		if batch != nil {
			f = append(slices.Clip(filters), types.Filter{Name: aws.String("vpc-endpoint-id"), Values: batch})
		}
		pages := ec2.NewDescribeVpcEndpointConnectionsPaginator(a.ec2, &ec2.DescribeVpcEndpointConnectionsInput{
			Filters:    f,
			MaxResults: aws.Int32(maxPage),
		})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, c := range page.VpcEndpointConnections {
				// Trust, but verify: never act on a connection of another
				// service or state because a filter was ignored.
				if aws.ToString(c.ServiceId) != svc || !inStates(c.VpcEndpointState) {
					continue
				}
				out = append(out, c)
			}
		}
	}
	return out, nil
}

func (a *Approver) logDecision(ctx context.Context, d Decision) {
	level := slog.LevelInfo
	if d.Error != "" {
		level = slog.LevelError
	}
	a.log.LogAttrs(ctx, level, "decision", d.attrs()...)
}

// errorCode returns the AWS error code of err, or "" for other errors.
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

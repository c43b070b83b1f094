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
	for _, svc := range services {
		decisions, err := a.reconcileService(ctx, loaded, svc, req.Trigger)
		report.add(svc, decisions, err)
		if err != nil {
			a.log.ErrorContext(ctx, "reconcile failed", "serviceId", svc, "trigger", req.Trigger, "error", err.Error())
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

// reconcileService decides every pending request of one service and applies
// the decisions. The error reports a failure of the service as a whole or
// of any decision; every other decision is still applied.
func (a *Approver) reconcileService(ctx context.Context, loaded *policystore.Loaded, svc, trigger string) ([]Decision, error) {
	pending, err := a.connections(ctx, svc, statePendingAcceptance, nil)
	if err != nil {
		return nil, fmt.Errorf("describe pending connections of %s: %w", svc, err)
	}
	slices.SortFunc(pending, func(x, y types.VpcEndpointConnection) int {
		return cmp.Or(
			aws.ToTime(x.CreationTimestamp).Compare(aws.ToTime(y.CreationTimestamp)),
			strings.Compare(aws.ToString(x.VpcEndpointId), aws.ToString(y.VpcEndpointId)),
		)
	})

	now := a.now()
	decisions := make([]Decision, 0, len(pending))
	var acceptIDs, rejectIDs []string
	for _, c := range pending {
		d := Decision{
			ServiceID:       svc,
			EndpointID:      aws.ToString(c.VpcEndpointId),
			Owner:           aws.ToString(c.VpcEndpointOwner),
			Region:          cmp.Or(aws.ToString(c.VpcEndpointRegion), a.cfg.Region),
			Created:         aws.ToTime(c.CreationTimestamp),
			DryRun:          a.cfg.DryRun,
			Trigger:         trigger,
			PolicyVersion:   loaded.Version,
			PolicyParameter: loaded.Parameter,
		}
		pd := loaded.Policy.Decide(policy.Request{Account: d.Owner, ServiceID: svc, EndpointID: d.EndpointID, Region: d.Region}, now)
		d.Action, d.Rule, d.Reason = pd.Action, pd.Rule, pd.Reason()
		switch {
		case pd.Action == policy.Manual:
			d.Result = ResultLeftPending
		case a.cfg.DryRun:
			d.Result = ResultDryRun
		case pd.Action == policy.Accept:
			acceptIDs = append(acceptIDs, d.EndpointID)
		case pd.Action == policy.Reject:
			rejectIDs = append(rejectIDs, d.EndpointID)
		}
		decisions = append(decisions, d)
	}

	if !a.cfg.DryRun {
		failures := a.apply(ctx, svc, policy.Accept, acceptIDs)
		for id, f := range a.apply(ctx, svc, policy.Reject, rejectIDs) {
			failures[id] = f
		}
		a.settle(ctx, svc, decisions, failures)
	}

	var failed int
	codes := map[string]int{}
	for _, d := range decisions {
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
		return decisions, fmt.Errorf("%s: %d of %d decisions could not be applied (%s)", svc, failed, len(decisions), strings.Join(why, ", "))
	}
	return decisions, nil
}

// failure is why EC2 did not apply a decision to one endpoint.
type failure struct {
	code    string
	message string
}

// apply accepts or rejects ids in batches of at most maxBatch and returns
// the endpoints EC2 did not act on, from Unsuccessful or a failed call.
func (a *Approver) apply(ctx context.Context, svc string, action policy.Action, ids []string) map[string]failure {
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
		current, statesErr = a.connections(ctx, svc, "", failedIDs)
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
			d.Result = map[policy.Action]string{policy.Accept: ResultAccepted, policy.Reject: ResultRejected}[d.Action]
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

// connections describes connections of svc, optionally only those in state
// and only the endpoints ids, following every page.
func (a *Approver) connections(ctx context.Context, svc, state string, ids []string) ([]types.VpcEndpointConnection, error) {
	filters := []types.Filter{{Name: aws.String("service-id"), Values: []string{svc}}}
	if state != "" {
		filters = append(filters, types.Filter{Name: aws.String("vpc-endpoint-state"), Values: []string{state}})
	}
	idBatches := [][]string{nil}
	if len(ids) > 0 {
		idBatches = slices.Collect(slices.Chunk(ids, maxFilterValues))
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
				if aws.ToString(c.ServiceId) != svc || (state != "" && !strings.EqualFold(string(c.VpcEndpointState), state)) {
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

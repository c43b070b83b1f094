package approver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/membership"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

// Endpoints is the EC2 access the approver uses: reading connections,
// applying decisions, tagging, listing services and their notifications.
// *vpcendpoints.Client is one.
type Endpoints interface {
	Connections(ctx context.Context, filters []types.Filter) ([]types.VpcEndpointConnection, error)
	Accept(ctx context.Context, svc string, ids []string) map[string]vpcendpoints.Failure
	Reject(ctx context.Context, svc string, ids []string) map[string]vpcendpoints.Failure
	Tag(ctx context.Context, ids []string, tags map[string]string) error
	Untag(ctx context.Context, ids []string, keys []string) error
	ServiceConfigurations(ctx context.Context, ids []string) ([]types.ServiceConfiguration, error)
	Notifications(ctx context.Context, topic string) ([]types.ConnectionNotification, error)
	Notify(ctx context.Context, svc, topic string, events []string) error
	DeleteNotifications(ctx context.Context, ids []string) error
}

// PolicyLoader supplies the policy; fresh bypasses any cached copy. An error
// that says no usable policy could be had (missing, unreadable, invalid)
// matches policy.ErrNoPolicy.
type PolicyLoader interface {
	Load(ctx context.Context, fresh bool) (*policy.Loaded, error)
}

// MembershipResolver looks up accounts' places in AWS Organizations, for
// rules that name organizations or OUs; *membership.Resolver is one.
type MembershipResolver interface {
	Lookup(ctx context.Context, accounts []string) map[string]membership.Result
	// Check returns *membership.ReferenceError (joined) for organizations
	// and OUs the policy names that are not of the organization, or a
	// *membership.LookupError when it could not tell.
	Check(ctx context.Context, refs []policy.Reference) error
	Forget()
}

// EC2 connection states, as the API spells them. The SDK's types.State
// constants differ in case, so states are compared with strings.EqualFold.
const (
	statePendingAcceptance = "pendingAcceptance"
	statePending           = "pending"
	stateAvailable         = "available"
	stateRejected          = "rejected"
	stateDeleting          = "deleting"
	stateDeleted           = "deleted"
	stateExpired           = "expired"
	stateFailed            = "failed"
)

// Config holds the approver's settings.
type Config struct {
	// ServiceIDs are the managed endpoint services. When empty, the managed
	// services are those of the account and region that carry ServiceTag,
	// or, without ServiceTag, that require acceptance.
	ServiceIDs []string
	// ServiceTag chooses the managed services by tag when ServiceIDs is
	// empty.
	ServiceTag *awsid.TagFilter
	// SweepPeriod is how long the list of managed services is kept between
	// sweeps (every sweep lists them again); 0 keeps it for no time.
	SweepPeriod time.Duration
	// ServiceTime is the least time left before the deadline to start
	// applying a service's decisions; a service reached later waits for the
	// next reconcile. Zero scales it to the invocation (see serviceTime).
	ServiceTime time.Duration
	// ConnectionTopicARN is the SNS topic of the stack's connection
	// notifications. Each sweep makes sure every managed service has a
	// Connect notification on it; Unregister deletes them.
	ConnectionTopicARN string
	// Membership looks up the accounts that rules by organization or OU
	// could decide. Nil when there is none: such rules then decide nothing
	// (their requests fail as for a failed lookup).
	Membership MembershipResolver
	// DryRun decides and logs but never calls Accept or Reject.
	DryRun bool
	// Region is the function's own region, where a connection with no
	// VpcEndpointRegion is.
	Region string
	// Logger receives one line per decision; nil discards.
	Logger *slog.Logger
	// Now is the clock for rule expiry and the decided-at stamp; nil means
	// time.Now.
	Now func() time.Time
}

// Approver reconciles endpoint services against the policy.
type Approver struct {
	ec2      Endpoints
	policies PolicyLoader
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	// managed is the list of managed services the last sweep read.
	managed serviceCache
	// resume is the first service a sweep did not reach before its
	// deadline: the next sweep starts there.
	mu     sync.Mutex
	resume string
}

// resumeAt records the services a sweep did not reach: the next sweep
// starts with the first of them.
func (a *Approver) resumeAt(notReached []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resume = ""
	if len(notReached) > 0 {
		a.resume = notReached[0]
	}
}

// inTurn orders a sweep's plans (sorted by service), wrapping around, to
// start with the first service the last sweep of this execution environment
// did not reach; without one, at an offset that changes every minute, so
// that sweeps in other environments do not always start with the same
// services either.
func (a *Approver) inTurn(plans []*plan, now time.Time) []*plan {
	if len(plans) == 0 {
		return plans
	}
	a.mu.Lock()
	resume := a.resume
	a.mu.Unlock()
	i := int(now.Unix()/60) % len(plans)
	if resume != "" {
		i, _ = slices.BinarySearchFunc(plans, resume, func(pl *plan, svc string) int { return strings.Compare(pl.svc, svc) })
	}
	return append(slices.Clone(plans[i%len(plans):]), plans[:i%len(plans)]...)
}

// DefaultServiceTime is the most time kept to apply one service's
// decisions: an Accept and a Reject call with their retries (up to 4
// attempts with up to 2 s of backoff between them each, pkg/awsconfig) and
// their settling.
const DefaultServiceTime = 15 * time.Second

// MinServiceTime is the least time left for the first service with
// decisions to apply in an invocation to be started at all: an Accept or
// Reject call that is not throttled, and StampReserve.
const MinServiceTime = 3 * time.Second

// StampReserve is the time kept after the last Accept or Reject call, before
// the deadline, to read back the calls whose answer was lost and stamp what
// EC2 applied.
const StampReserve = 1500 * time.Millisecond

// serviceTime is the time kept to apply one service's decisions when
// Config.ServiceTime is zero: a third of the invocation's time (from its
// start to the deadline the handler set), at most DefaultServiceTime. A
// function with a 60 s timeout keeps 15 s; one with 10 s (7 s once the
// handler keeps its answer margin) keeps MinServiceTime, so that several
// services fit in one invocation when EC2 answers quickly. Under
// throttling a service may then need the whole rest of the invocation: the
// first service with decisions is always started (with MinServiceTime
// left), a later one only with as long left as the last one took, and
// services not reached are first in the next sweep, so every service is
// decided within a few sweeps whatever the timeout.
func serviceTime(total time.Duration) time.Duration {
	return min(DefaultServiceTime, max(total/3, MinServiceTime))
}

// New returns an Approver using the given EC2 access and policy.
func New(client Endpoints, policies PolicyLoader, cfg Config) *Approver {
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
	// when managed, and the others are left alone. Services not known as
	// managed or not are looked up in the order given, at most
	// MaxServiceLookups of them.
	All      bool
	Services []string
	// ReloadPolicy bypasses any cached policy.
	ReloadPolicy bool
	// Sweep marks a sweep (the schedule or a policy change): only a sweep
	// revokes accepted connections, when the policy says "revoke".
	Sweep bool
	// ForgetMemberships drops the memberships kept from earlier
	// invocations before deciding (the policy changed, or an account moved
	// in the organization).
	ForgetMemberships bool
	// Approved, when not nil, is the plan a person approved (approverctl
	// sweep): the action shown for each endpoint ID (a revocation is a
	// reject). A decision to call EC2 that is not in it, or not with the
	// same action, is left as it is, never applied unseen.
	Approved map[string]policy.Action
	// PolicyVersion, when set, is the policy version the approved plan was
	// made with: with another, nothing is decided.
	PolicyVersion string
}

// ErrPlanStale is wrapped by the error of a reconcile whose policy is not
// the version its approved plan was made with.
var ErrPlanStale = errors.New("the policy changed since the plan was approved")

// Reconcile loads the policy, then reconciles each requested managed
// service: it reads their connections, decides them, and, when anything is
// to be accepted, rejected or revoked with a policy cached by an earlier
// invocation, reads the policy again and decides again if it changed. Then
// it applies the decisions in batches and stamps each applied one on its
// connection.
//
// It returns an error, and decides nothing, when the policy or the list of
// managed services cannot be had; failures of single services or
// connections are in the Report (see Report.Err).
func (a *Approver) Reconcile(ctx context.Context, req Request) (*Report, error) {
	start := a.now()
	cov, err := a.servicesFor(ctx, req)
	if err != nil {
		return nil, err
	}
	services := cov.services
	if len(services) == 0 && !req.All {
		// The event named only services of others: none of our business,
		// whatever state the policy is in.
		r := newReport(req.Trigger, a.cfg.DryRun, nil, []string{})
		r.UnknownServiceIDs = cov.unknownDropped
		return r, nil
	}
	loaded, err := a.policies.Load(ctx, req.ReloadPolicy)
	if err != nil {
		return nil, err
	}
	now := a.now() // rule expiry and the decided-at stamp: one time per invocation
	if req.ForgetMemberships && a.cfg.Membership != nil {
		a.cfg.Membership.Forget()
	}

	reads := a.readAll(ctx, cov, needsAccepted(loaded, req.Sweep))
	a.learnRegions(ctx, loaded, reads, req.Sweep, start)
	// Every account is looked up at most once per invocation, whatever
	// policy decides.
	orgs := lookups{}
	err = a.resolve(ctx, loaded, reads, req, now, orgs)
	if err != nil && loaded.Cached {
		// The cached copy names an organization or OU that is not of the
		// organization: the stored policy may have been fixed since.
		fresh, ferr := a.policies.Load(ctx, true)
		if ferr != nil {
			return nil, ferr
		}
		if fresh.Version == loaded.Version && fresh.Digest == loaded.Digest {
			return nil, err
		}
		loaded = fresh
		reads = a.readAll(ctx, cov, needsAccepted(loaded, req.Sweep))
		a.learnRegions(ctx, loaded, reads, req.Sweep, start)
		err = a.resolve(ctx, loaded, reads, req, now, orgs)
	}
	if err != nil {
		return nil, err
	}
	plans := a.decideAll(loaded, reads, req, now, orgs)
	if loaded.Cached && acts(plans) {
		// Another execution environment may have heard of a change this one
		// missed: never act on a copy the stored policy may have outlived.
		fresh, err := a.policies.Load(ctx, true)
		if err != nil {
			return nil, fmt.Errorf("read the policy again before acting: %w", err)
		}
		if fresh.Version != loaded.Version || fresh.Digest != loaded.Digest {
			a.log.InfoContext(ctx, "policy changed since it was cached: deciding again", "trigger", req.Trigger,
				"cachedVersion", loaded.Version, "policyVersion", fresh.Version)
			if needsAccepted(fresh, req.Sweep) && !needsAccepted(loaded, req.Sweep) {
				reads = a.readAll(ctx, cov, true)
			}
			loaded = fresh
			a.learnRegions(ctx, loaded, reads, req.Sweep, start)
			if a.cfg.Membership != nil && loaded.Policy.HasOrganizationRules() {
				// The environment that heard the change forgot its
				// memberships: so does this one, and looks up again.
				a.cfg.Membership.Forget()
				orgs = lookups{}
			}
			if err := a.resolve(ctx, loaded, reads, req, now, orgs); err != nil {
				return nil, err
			}
			plans = a.decideAll(loaded, reads, req, now, orgs)
		}
	}

	if req.PolicyVersion != "" && loaded.Version != req.PolicyVersion {
		return nil, fmt.Errorf("%w: version %s now, %s then: nothing decided; look at the new plan", ErrPlanStale, loaded.Version, req.PolicyVersion)
	}
	report := newReport(req.Trigger, a.cfg.DryRun, loaded, services)
	report.UnknownServiceIDs = cov.unknownDropped
	if cov.openCounted {
		report.ServicesNotRequiringAcceptance = cov.open
		if len(cov.open) > 0 {
			a.log.WarnContext(ctx, "managed services do not require acceptance: EC2 accepts every allowed principal without the approver",
				"trigger", req.Trigger, "services", cov.open, "count", len(cov.open))
		}
	}
	report.Guard = a.guard(ctx, plans, loaded, req)
	report.RejectionGuard = a.rejectionGuard(ctx, plans, loaded, req)
	report.PolicyPartsRefused = len(loaded.Policy.Issues)
	a.logParts(ctx, loaded, req)
	a.applyAll(ctx, report, plans, req.Sweep, start, now)
	// Notifications after the decisions, and only in a sweep that had time
	// for every service.
	if req.Sweep && a.cfg.ConnectionTopicARN != "" && !a.cfg.DryRun && len(report.NotReached) == 0 {
		report.Notifications = a.registerNotifications(ctx, services)
	}
	return report, nil
}

// applyAll applies the plans service by service, then stamps what EC2
// applied, logs each decision and counts them into the report. A service
// with decisions to apply is started only with ServiceTime left before the
// deadline, so that its decisions are applied together or not at all; the
// services not reached are listed in the report, and the next sweep starts
// with them. A service with nothing to apply costs no call: its decisions
// (manual, dry run) are kept whatever the time.
func (a *Approver) applyAll(ctx context.Context, report *Report, plans []*plan, sweep bool, start, now time.Time) {
	if sweep {
		plans = a.inTurn(plans, now)
	}
	deadline, bounded := ctx.Deadline()
	keep := a.cfg.ServiceTime
	if keep == 0 {
		keep = serviceTime(deadline.Sub(start))
	}
	// Accept and Reject stop StampReserve before the deadline, so that a
	// call cut there is still read back (settle) and what EC2 answered is
	// stamped.
	calls := ctx
	if bounded {
		var cancel context.CancelFunc
		calls, cancel = context.WithDeadline(ctx, deadline.Add(-StampReserve))
		defer cancel()
	}
	started := 0
	var last time.Duration // how long the last service that acted took
	for _, pl := range plans {
		// The deadline comes from the same clock as now: the real one, or a
		// test's. The first service that acts needs MinServiceTime left, so
		// that every invocation makes progress; the next ones keep, and as
		// long as the last one took (EC2 slow or throttling), with the
		// stamp reserve.
		left := deadline.Sub(a.now())
		late := bounded && ((started > 0 && left < max(keep, last+StampReserve)) || left < MinServiceTime)
		acting := acts([]*plan{pl})
		if acting {
			if late || len(report.NotReached) > 0 {
				report.NotReached = append(report.NotReached, pl.svc)
				continue
			}
			started++
		}
		began := a.now()
		err := a.apply(calls, ctx, pl)
		if acting {
			last = a.now().Sub(began)
		}
		if err != nil {
			report.fail(pl.svc, err)
			a.log.ErrorContext(ctx, "reconcile failed", "serviceId", pl.svc, "trigger", report.Trigger, "error", err.Error())
		}
		if pl.lookupErr != nil {
			// Everything else of the service was decided and applied; the
			// undecided requests fail it, so that it is tried again.
			report.fail(pl.svc, pl.lookupErr)
		}
		if pl.held != "" {
			// Nothing was decided: it fails as an unread service does.
			report.fail(pl.svc, fmt.Errorf("%s: %s", pl.svc, pl.held))
		}
		report.Decisions = append(report.Decisions, pl.decisions...)
	}
	if len(report.NotReached) > 0 {
		a.log.WarnContext(ctx, "deadline near: services not reached", "trigger", report.Trigger,
			"notReached", len(report.NotReached), "resumeAt", report.NotReached[0])
	}
	if sweep {
		a.resumeAt(slices.Collect(slices.Values(report.NotReached)))
	}
	a.stamp(ctx, report.Decisions, now)
	a.logDecisions(ctx, report.Decisions)
	report.Counts = Count(report.Decisions)
}

// needsAccepted reports whether deciding needs the accepted connections too:
// for revocation (sweeps of a revoking policy) and for connection limits.
func needsAccepted(loaded *policy.Loaded, sweep bool) bool {
	return sweep && loaded.Policy.Revoke || loaded.Policy.HasLimits()
}

// guard holds every revocation of the invocation when revoking could cut off
// consumers by mistake: when more than maxRevocations are due across every
// service, counting as due the revocations that accounts not looked up
// could make (the worst case), or when the count cannot be trusted at all:
// a managed service could not be read. The undecided revocations are never
// made; a part with a rule by organization cannot hold every other
// revocation by failing lookups. It returns why, or "".
func (a *Approver) guard(ctx context.Context, plans []*plan, loaded *policy.Loaded, req Request) string {
	revocations, undecided := 0, 0
	var unread []string
	for _, pl := range plans {
		revocations += pl.due(chooseRevoke)
		undecided += pl.undecidedRevocations()
		if pl.err != nil {
			unread = append(unread, pl.svc)
		}
	}
	if revocations == 0 {
		return ""
	}
	limit := loaded.Policy.MaxRevocations
	var why string
	switch {
	case len(unread) > 0:
		why = fmt.Sprintf("%d revocations held: the connections of %s could not be read, and nothing is revoked while any managed service is unread (the next sweep tries again)",
			revocations, someOf(unread, 3))
	case revocations+undecided > limit && undecided > 0:
		why = fmt.Sprintf("%d revocations held: with %d more that rules by organization or OU could make (their accounts could not be looked up in AWS Organizations), they could exceed maxRevocations %d (the next sweep tries again)",
			revocations, undecided, limit)
	case revocations > limit:
		why = fmt.Sprintf("%d revocations exceed maxRevocations %d: nothing revoked; check the policy, then raise maxRevocations if they are meant", revocations, limit)
	default:
		return ""
	}
	for _, pl := range plans {
		pl.hold(chooseRevoke, why)
	}
	a.log.ErrorContext(ctx, "revocations held", "trigger", req.Trigger, "revocations", revocations, "maxRevocations", limit,
		"unreadServices", unread, "reason", why)
	return why
}

// rejectionGuard holds every rejection of a pending request in the
// invocation when more than maxRejections are due across every service: a
// rejected request cannot be taken back, so a mistaken policy change (or a
// deleted part) must not reject a queue of them at once. Accepts and
// manual decisions go ahead. It returns why, or "".
func (a *Approver) rejectionGuard(ctx context.Context, plans []*plan, loaded *policy.Loaded, req Request) string {
	rejections := 0
	for _, pl := range plans {
		rejections += pl.due(chooseReject)
	}
	limit := loaded.Policy.MaxRejections
	if rejections <= limit {
		return ""
	}
	why := fmt.Sprintf("%d rejections exceed maxRejections %d: none of them made, the requests stay pending; check the policy (approverctl policy plan), then raise maxRejections if they are meant",
		rejections, limit)
	for _, pl := range plans {
		pl.hold(chooseReject, why)
	}
	a.log.ErrorContext(ctx, "rejections held", "trigger", req.Trigger, "rejections", rejections, "maxRejections", limit, "reason", why)
	return why
}

// logParts logs, once per invocation, every part under the path that
// decides nothing, with every problem it has.
func (a *Approver) logParts(ctx context.Context, loaded *policy.Loaded, req Request) {
	for _, issue := range loaded.Policy.Issues {
		level := slog.LevelError
		if issue.Status == policy.PartIgnored {
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{slog.String("trigger", req.Trigger), slog.String("policyParameter", loaded.Parameter),
			slog.String("part", loaded.Parameter+issue.Part), slog.String("status", string(issue.Status)),
			slog.Any("problems", issue.Problems)}
		if len(issue.Services) > 0 {
			attrs = append(attrs, slog.Any("heldServices", issue.Services))
		}
		a.log.LogAttrs(ctx, level, "policy part "+string(issue.Status), attrs...)
	}
}

// someOf names the first n of ids, and how many more there are.
func someOf(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more services", strings.Join(ids[:n], ", "), len(ids)-n)
}

func (a *Approver) logDecisions(ctx context.Context, decisions []Outcome) {
	for _, d := range decisions {
		level := slog.LevelInfo
		if d.Result == ResultFailed {
			level = slog.LevelError
		}
		a.log.LogAttrs(ctx, level, "decision", d.attrs()...)
	}
}

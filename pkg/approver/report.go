package approver

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// Results of a decision: the result field of its line, a value to filter
// and count on. Why is in the decision's Detail. Each comment is the
// result's entry in the reference (docs/operations.md, make docs).
const (
	// ResultAccepted: EC2 accepted the request.
	ResultAccepted = "accepted"
	// ResultRejected: EC2 rejected the request.
	ResultRejected = "rejected"
	// ResultRevoked: EC2 rejected an accepted connection (a revocation).
	ResultRevoked = "revoked"
	// ResultLeftPending: left pending, undecided: for a person (a manual
	// rule), or because the function could not know enough to decide
	// (regionUnknown, a part held); detail says which.
	ResultLeftPending = "left-pending"
	// ResultDryRun: decided in dry run: nothing was called.
	ResultDryRun = "dry-run"
	// ResultHeld: a rejection or revocation a guard held back
	// (maxRejections, maxRevocations).
	ResultHeld = "held"
	// ResultAlreadyAccepted: EC2 did not act, but the connection is already
	// accepted.
	ResultAlreadyAccepted = "already-accepted"
	// ResultAlreadyRejected: EC2 did not act, but the connection is already
	// rejected.
	ResultAlreadyRejected = "already-rejected"
	// ResultGone: the endpoint was deleted, or the request expired, before
	// the call.
	ResultGone = "gone"
	// ResultFailed: anything else; errorCode and detail say why. Nothing
	// is accepted on a failure.
	ResultFailed = "failed"
)

// Outcome is what was decided for one connection, and what came of it. It
// is logged as one JSON line and returned in the summary.
type Outcome struct {
	// ServiceID is the endpoint service (vpce-svc-...).
	ServiceID string `json:"serviceId"`
	// EndpointID is the consumer's endpoint (vpce-...).
	EndpointID string `json:"endpointId"`
	// ConnectionID is the connection's own ID (vpce-conn-...), which its
	// stamp tags are on.
	ConnectionID string `json:"connectionId,omitempty"`
	// Owner is the consumer's account ID (VpcEndpointOwner).
	Owner string `json:"owner"`
	// Region is the Region the endpoint is in (VpcEndpointRegion, or the
	// provider's own); empty when EC2 did not say and the policy decides
	// alike for every Region it could be from.
	Region string `json:"region"`
	// Created is when the consumer created the endpoint.
	Created time.Time `json:"created,omitzero"`
	// State is the connection's EC2 state when it was decided.
	State string `json:"state"`
	// Action is what the policy decided: accept, reject or manual.
	Action policy.Action `json:"action"`
	// Rule is the deciding rule's name, "default" (the defaultAction), or
	// "person" (PersonRule: a person decided with approverctl).
	Rule string `json:"rule"`
	// Reason is why, in words: the rule and what of the request matched.
	Reason string `json:"reason"`
	// Revoked marks the rejection of an already-accepted connection.
	Revoked bool `json:"revoked,omitempty"`
	// DryRun marks a decision made with DRY_RUN: nothing was called.
	DryRun bool `json:"dryRun"`
	// Trigger is what woke the function (schedule, cloudtrail,
	// policy-change, notification, organization-change) or the
	// approverctl command.
	Trigger string `json:"trigger"`
	// PolicyParameter is the SSM parameter (or path) the policy was read
	// from.
	PolicyParameter string `json:"policyParameter,omitempty"`
	// PolicyVersion is the policy's SSM version (for a path, each part's).
	PolicyVersion string `json:"policyVersion,omitempty"`
	// By is the ARN of the person who decided (rule "person").
	By string `json:"by,omitempty"`
	// Result is what came of the decision: one of the results below.
	Result string `json:"result"`
	// Detail explains the result where it needs explaining.
	Detail string `json:"detail,omitempty"`
	// ErrorCode is EC2's error code of a failed call.
	ErrorCode string `json:"errorCode,omitempty"`
	// StampError says why the stamp tags could not be written: the
	// decision stands.
	StampError string `json:"stampError,omitempty"`
	// AnnouncedAt is when the request was announced on the decision topic,
	// from its announced-at tag.
	AnnouncedAt string `json:"announcedAt,omitempty"`
	// OrgPath is the owner's place in AWS Organizations, for an account
	// that was looked up (o-.../r-.../ou-.../...): "" when it is in no
	// organization of ours, or was not looked up.
	OrgPath string `json:"orgPath,omitempty"`
	// MembershipFailed marks a decision left undecided because the owner
	// could not be looked up in AWS Organizations (Result failed).
	MembershipFailed bool `json:"membershipFailed,omitempty"`
	// RegionUnknown marks a request left pending because its Region is
	// unknown and the policy decides differently among the Regions it
	// could be from (Result left-pending).
	RegionUnknown bool `json:"regionUnknown,omitempty"`

	// tags are the connection's privatelink-approver:* tags when it was read.
	tags map[string]string
	// situation is what the decision table chose choice from.
	situation situation
	choice    choice
}

// Applied reports whether EC2 applied the decision: accepted, rejected or
// revoked.
func (d Outcome) Applied() bool {
	return d.Result == ResultAccepted || d.Result == ResultRejected || d.Result == ResultRevoked
}

// HeldByPart reports whether the request was left pending, undecided,
// because a part delegated its service is refused or missing (no action:
// not a person's to decide, not the policy's to announce).
func (d Outcome) HeldByPart() bool {
	return d.Result == ResultLeftPending && d.Action == "" && !d.RegionUnknown
}

// applied is the result of the decision once EC2 applied it.
func (d Outcome) applied() string {
	switch {
	case d.Revoked:
		return ResultRevoked
	case d.Action == policy.Accept:
		return ResultAccepted
	default:
		return ResultRejected
	}
}

// LeftToPerson reports whether the policy leaves the request to a person:
// what an announcement asks a person to decide.
func (d Outcome) LeftToPerson() bool {
	return d.Result == ResultLeftPending && d.Action == policy.Manual
}

// StillPending reports whether the connection is still pendingAcceptance
// after the reconcile: left for a person, in dry run, or failed.
func (d Outcome) StillPending() bool {
	return !d.Revoked && (d.Result == ResultLeftPending || d.Result == ResultDryRun || d.Result == ResultFailed)
}

func (d Outcome) attrs() []slog.Attr {
	attrs := []slog.Attr{
		slog.String("serviceId", d.ServiceID),
		slog.String("endpointId", d.EndpointID),
		slog.String("connectionId", d.ConnectionID),
		slog.String("owner", d.Owner),
		slog.String("region", d.Region),
		slog.Time("created", d.Created),
		slog.String("action", string(d.Action)),
		slog.String("rule", d.Rule),
		slog.String("reason", d.Reason),
		slog.String("state", d.State),
		slog.Bool("dryRun", d.DryRun),
		slog.String("trigger", d.Trigger),
		slog.String("policyParameter", d.PolicyParameter),
		slog.String("policyVersion", d.PolicyVersion),
		slog.String("result", d.Result),
	}
	optional := []struct{ key, value string }{
		{"by", d.By}, {"detail", d.Detail}, {"errorCode", d.ErrorCode}, {"stampError", d.StampError}, {"announcedAt", d.AnnouncedAt},
		{"orgPath", d.OrgPath},
	}
	for _, o := range optional {
		if o.value != "" {
			attrs = append(attrs, slog.String(o.key, o.value))
		}
	}
	if d.Revoked {
		attrs = append(attrs, slog.Bool("revoked", true))
	}
	if d.MembershipFailed {
		attrs = append(attrs, slog.Bool("membershipFailed", true))
	}
	if d.RegionUnknown {
		attrs = append(attrs, slog.Bool("regionUnknown", true))
	}
	return attrs
}

// Counts are decisions by result. The summary, the metrics and approverctl
// all count with Count, so they cannot disagree.
type Counts struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	Revoked  int `json:"revoked"`
	// Manual counts requests left pending for a person.
	Manual int `json:"manual"`
	// DryRunDecisions counts decisions made in dry run, which changed
	// nothing.
	DryRunDecisions int `json:"dryRunDecisions"`
	// Held counts rejections and revocations the guards held back.
	Held int `json:"held"`
	// RevocationsHeld and RejectionsHeld split Held by guard.
	RevocationsHeld int `json:"revocationsHeld"`
	RejectionsHeld  int `json:"rejectionsHeld"`
	// PartHeld counts pending requests left pending because a part
	// delegated their service is refused or missing.
	PartHeld int `json:"partHeld"`
	// Deferred counts pending requests the policy rejects that an
	// invocation other than a sweep left for the next sweep: they waited
	// through the policy's last change.
	Deferred int `json:"deferred"`
	// RegionUnknown counts pending requests left pending because their
	// Region is unknown and the policy decides differently among the
	// Regions they could be from.
	RegionUnknown int `json:"regionUnknown"`
	// AlreadyDecided counts decisions someone else applied first.
	AlreadyDecided int `json:"alreadyDecided"`
	Gone           int `json:"gone"`
	Failed         int `json:"failed"`
	// StampFailures counts applied decisions whose stamp tags could not be
	// written.
	StampFailures int `json:"stampFailures"`
	// MembershipErrors counts decisions left undecided because the owner
	// could not be looked up in AWS Organizations (also in Failed).
	MembershipErrors int `json:"membershipErrors"`
}

// Count counts decisions by result.
func Count(decisions []Outcome) Counts {
	var c Counts
	for _, d := range decisions {
		switch d.Result {
		case ResultAccepted:
			c.Accepted++
		case ResultRejected:
			c.Rejected++
		case ResultRevoked:
			c.Revoked++
		case ResultLeftPending:
			switch {
			case d.RegionUnknown:
				c.RegionUnknown++
			case d.HeldByPart():
				c.PartHeld++
			case d.Action == policy.Reject:
				c.Deferred++
			default:
				c.Manual++
			}
		case ResultDryRun:
			c.DryRunDecisions++
		case ResultHeld:
			c.Held++
			if d.Revoked {
				c.RevocationsHeld++
			} else {
				c.RejectionsHeld++
			}
		case ResultAlreadyAccepted, ResultAlreadyRejected:
			c.AlreadyDecided++
		case ResultGone:
			c.Gone++
		case ResultFailed:
			c.Failed++
		}
		if d.StampError != "" {
			c.StampFailures++
		}
		if d.MembershipFailed {
			c.MembershipErrors++
		}
	}
	return c
}

// ServiceError is a service whose reconcile failed, in whole or in part.
type ServiceError struct {
	ServiceID string `json:"serviceId"`
	Error     string `json:"error"`

	err error
}

// Report is the outcome of one Reconcile: the summary an EventBridge
// invocation returns.
type Report struct {
	Trigger         string   `json:"trigger"`
	DryRun          bool     `json:"dryRun"`
	PolicyParameter string   `json:"policyParameter"`
	PolicyVersion   string   `json:"policyVersion"`
	Services        []string `json:"services"`
	Counts
	Decisions []Outcome `json:"decisions"`
	// DecisionsLeftOut is how many decisions a summary (see Summary) left
	// out of Decisions; the counts cover them all.
	DecisionsLeftOut int            `json:"decisionsLeftOut,omitempty"`
	Errors           []ServiceError `json:"errors,omitempty"`
	// Guard says why revocations were held back (maxRevocations, or a
	// service that could not be read); the invocation then fails.
	Guard string `json:"guard,omitempty"`
	// RejectionGuard says why rejections of pending requests were held
	// back (maxRejections); the invocation then fails.
	RejectionGuard string `json:"rejectionGuard,omitempty"`
	// PolicyPartsRefused counts the parts under the policy's path that
	// decide nothing: refused, missing or ignored.
	PolicyPartsRefused int `json:"policyPartsRefused,omitempty"`
	// ServicesNotRequiringAcceptance are the managed services whose
	// AcceptanceRequired is false: EC2 accepts every allowed principal's
	// request to them at once, whatever the policy says. Set by sweeps
	// (nil otherwise, or when their configurations could not be read).
	ServicesNotRequiringAcceptance []string `json:"servicesNotRequiringAcceptance,omitempty"`
	// UnknownServiceIDs counts the service IDs the event named that were
	// neither known (managed or not) nor looked up: past
	// MaxServiceLookups, they were dropped.
	UnknownServiceIDs int `json:"unknownServiceIds,omitempty"`
	// NotReached are the services whose decisions were not applied: the
	// deadline came first. They have no decision lines; the next reconcile
	// starts with them. They do not fail the invocation.
	NotReached []string `json:"notReached,omitempty"`
	// Notifications is what a sweep did to register connection
	// notifications, when it registers them.
	Notifications *NotificationCounts `json:"notifications,omitempty"`
}

// NotificationCounts are the connection notifications a sweep created, and
// those it could not (or the listing of them, which counts one).
type NotificationCounts struct {
	Created int `json:"created"`
	Failed  int `json:"failed"`
}

func newReport(trigger string, dryRun bool, loaded *policy.Loaded, services []string) *Report {
	r := &Report{Trigger: trigger, DryRun: dryRun, Services: services, Decisions: []Outcome{}}
	if loaded != nil {
		r.PolicyParameter, r.PolicyVersion = loaded.Parameter, loaded.Version
	}
	return r
}

func (r *Report) fail(svc string, err error) {
	r.Errors = append(r.Errors, ServiceError{ServiceID: svc, Error: err.Error(), err: err})
}

// Summary returns the report with at most limit decisions, the failed and
// held ones first, and the number left out (the counts stay those of all):
// what an invocation answers, so that a sweep of many thousands of
// decisions stays within Lambda's response size. Every decision is still
// logged.
func (r *Report) Summary(limit int) *Report {
	if len(r.Decisions) <= limit {
		return r
	}
	out := *r
	first := func(d Outcome) bool { return d.Result == ResultFailed || d.Result == ResultHeld }
	out.Decisions = make([]Outcome, 0, limit)
	for _, pass := range []bool{true, false} {
		for _, d := range r.Decisions {
			if len(out.Decisions) == limit {
				break
			}
			if first(d) == pass {
				out.Decisions = append(out.Decisions, d)
			}
		}
	}
	out.DecisionsLeftOut = len(r.Decisions) - limit
	return &out
}

// ServiceFailed reports whether reconciling svc failed in whole or in part.
func (r *Report) ServiceFailed(svc string) bool {
	for _, e := range r.Errors {
		if e.ServiceID == svc {
			return true
		}
	}
	return false
}

// ServiceDone reports whether svc was reconciled in full: reached and not
// failed.
func (r *Report) ServiceDone(svc string) bool {
	return !r.ServiceFailed(svc) && !slices.Contains(r.NotReached, svc)
}

// Err is nil when every service was reconciled, every decision applied and
// nothing held; otherwise it says what failed.
func (r *Report) Err() error {
	var guards []error
	for _, g := range []string{r.Guard, r.RejectionGuard} {
		if g != "" {
			guards = append(guards, errors.New(g))
		}
	}
	if len(r.Errors) == 0 {
		return errors.Join(guards...)
	}
	errs := make([]error, 0, len(r.Errors)+len(guards))
	errs = append(errs, guards...)
	for _, e := range r.Errors {
		if e.err == nil {
			e.err = errors.New(e.Error)
		}
		errs = append(errs, e.err)
	}
	return fmt.Errorf("%d of %d services failed: %w", len(r.Errors), len(r.Services), errors.Join(errs...))
}

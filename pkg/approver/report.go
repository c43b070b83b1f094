package approver

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// Results of a decision, as logged in its result field.
const (
	ResultAccepted        = "accepted"
	ResultRejected        = "rejected"
	ResultLeftPending     = "left pending for a person"
	ResultDryRun          = "dry run: nothing changed"
	ResultAlreadyAccepted = "already accepted"
	ResultAlreadyRejected = "already rejected"
	ResultGone            = "gone: deleted by its consumer"
	ResultFailed          = "failed"
	ResultRevoked         = "revoked"
	// ResultHeld prefixes a revocation the maxRevocations guard held back.
	ResultHeld = "not revoked"
)

// Decision is what was decided for one connection request, and what came of
// it. It is logged as one JSON line and returned in the summary.
type Decision struct {
	ServiceID  string    `json:"serviceId"`
	EndpointID string    `json:"endpointId"`
	Owner      string    `json:"owner"`
	Region     string    `json:"region"`
	Created    time.Time `json:"created,omitzero"`
	// State is the connection's EC2 state when it was decided.
	State  string        `json:"state"`
	Action policy.Action `json:"action"`
	Rule   string        `json:"rule"`
	Reason string        `json:"reason"`
	// Revoked marks the rejection of an already-accepted connection.
	Revoked         bool   `json:"revoked,omitempty"`
	DryRun          bool   `json:"dryRun"`
	Trigger         string `json:"trigger"`
	PolicyParameter string `json:"policyParameter"`
	PolicyVersion   string `json:"policyVersion"`
	Result          string `json:"result"`
	ErrorCode       string `json:"errorCode,omitempty"`
	Error           string `json:"error,omitempty"`
}

// StillPending reports whether the connection is still pendingAcceptance
// after the reconcile: left for a person, in dry run, or failed.
func (d Decision) StillPending() bool {
	return !d.Revoked && (d.Result == ResultLeftPending || d.Result == ResultDryRun || d.Result == ResultFailed)
}

func (d Decision) attrs() []slog.Attr {
	attrs := []slog.Attr{
		slog.String("serviceId", d.ServiceID),
		slog.String("endpointId", d.EndpointID),
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
	if d.Revoked {
		attrs = append(attrs, slog.Bool("revoked", true))
	}
	if d.Error != "" {
		attrs = append(attrs, slog.String("errorCode", d.ErrorCode), slog.String("error", d.Error))
	}
	return attrs
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
	Trigger         string         `json:"trigger"`
	DryRun          bool           `json:"dryRun"`
	PolicyParameter string         `json:"policyParameter"`
	PolicyVersion   string         `json:"policyVersion"`
	Services        []string       `json:"services"`
	Accepted        int            `json:"accepted"`
	Rejected        int            `json:"rejected"`
	Manual          int            `json:"manual"`
	Revoked         int            `json:"revoked"`
	Failed          int            `json:"failed"`
	Decisions       []Decision     `json:"decisions"`
	Errors          []ServiceError `json:"errors,omitempty"`
	// Guard says why revocations were held back (maxRevocations); the
	// invocation then fails.
	Guard string `json:"guard,omitempty"`
}

func (r *Report) add(svc string, decisions []Decision, err error) {
	r.Decisions = append(r.Decisions, decisions...)
	for _, d := range decisions {
		switch {
		case d.Error != "":
			r.Failed++
		case d.Revoked:
			if d.Result == ResultRevoked || d.Result == ResultDryRun {
				r.Revoked++
			}
		case d.Action == policy.Accept:
			r.Accepted++
		case d.Action == policy.Reject:
			r.Rejected++
		case d.Action == policy.Manual:
			r.Manual++
		}
	}
	if err != nil {
		r.Errors = append(r.Errors, ServiceError{ServiceID: svc, Error: err.Error(), err: err})
	}
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

// Err is nil when every service was reconciled and every decision applied;
// otherwise it names the failed services.
func (r *Report) Err() error {
	if len(r.Errors) == 0 {
		if r.Guard != "" {
			return errors.New(r.Guard)
		}
		return nil
	}
	errs := make([]error, 0, len(r.Errors)+1)
	if r.Guard != "" {
		errs = append(errs, errors.New(r.Guard))
	}
	for _, e := range r.Errors {
		if e.err == nil {
			e.err = errors.New(e.Error)
		}
		errs = append(errs, e.err)
	}
	return fmt.Errorf("%d of %d services failed: %w", len(r.Errors), len(r.Services), errors.Join(errs...))
}

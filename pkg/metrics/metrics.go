// Package metrics writes CloudWatch Embedded Metric Format (EMF) lines: JSON
// log lines that CloudWatch Logs turns into metrics, so the function reports
// its decisions without a single extra API call.
//
// See https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
)

// Namespace is the CloudWatch namespace of every metric.
const Namespace = "PrivateLinkApprover"

// Metric names, as the template's alarms and dashboard use them. Each
// comment is the metric's entry in the reference (docs/operations.md, make
// docs); "per service" metrics are also written with dimension ServiceId
// for each service whose count is not zero.
const (
	// Accepted (per service): requests EC2 accepted in one invocation. A
	// dry run and a decision someone else applied first are not counted.
	Accepted = "Accepted"
	// Rejected (per service): requests EC2 rejected in one invocation.
	Rejected = "Rejected"
	// Manual (per service): requests left pending for a person.
	Manual = "Manual"
	// Revoked (per service): accepted connections EC2 rejected (revoked)
	// in one invocation.
	Revoked = "Revoked"
	// Failed (per service): decisions that could not be applied; also 1
	// for a service that could not be read.
	Failed = "Failed"
	// OldestPendingSeconds (per service, seconds): age of the oldest
	// request still pendingAcceptance after the invocation (manual, dry
	// run, held or failed); 0 when none.
	OldestPendingSeconds = "OldestPendingSeconds"
	// PolicyErrors: 1 when the policy could not be loaded (missing,
	// unreadable or invalid): nothing was decided.
	PolicyErrors = "PolicyErrors"
	// RevocationsHeld: revocations the guard held back in one invocation
	// (over maxRevocations, or a managed service unread).
	RevocationsHeld = "RevocationsHeld"
	// StampFailures: applied decisions whose stamp tags, and announced
	// requests whose announced-at tag, could not be written.
	StampFailures = "StampFailures"
	// NotificationFailures: connection notifications a sweep could not
	// register.
	NotificationFailures = "NotificationFailures"
	// NotReached: services the deadline left for the next reconcile.
	NotReached = "NotReached"
	// MembershipErrors: decisions left undecided because their accounts
	// could not be looked up in AWS Organizations (also in Failed).
	MembershipErrors = "MembershipErrors"
	// RejectionsHeld: rejections of pending requests the maxRejections
	// guard held back in one invocation.
	RejectionsHeld = "RejectionsHeld"
	// PolicyPartsRefused: parts under the policy's path that decided
	// nothing in one invocation (refused, missing or ignored); their
	// services were held.
	PolicyPartsRefused = "PolicyPartsRefused"
	// RegionUnknown: requests left pending because EC2 gave no Region and
	// the policy decides differently among the Regions they could be from.
	RegionUnknown = "RegionUnknown"
	// UnknownServiceIds: service IDs events named that were dropped
	// without a lookup, past the 20 an invocation looks up
	// (approver.MaxServiceLookups): forged or stray notifications.
	UnknownServiceIds = "UnknownServiceIds"
	// ServicesNotRequiringAcceptance: on sweeps, managed services whose
	// AcceptanceRequired is false: EC2 accepts every allowed principal
	// there without the approver.
	ServicesNotRequiringAcceptance = "ServicesNotRequiringAcceptance"
	// DecisionEventFailures: with DECISION_EVENTS, applied decisions whose
	// event could not be put on the default EventBridge bus in one
	// invocation (a failed call, an entry EventBridge failed, or one too
	// large). The decisions stand; their log lines are the record.
	DecisionEventFailures = "DecisionEventFailures"
)

// Total is a count of an invocation that its report does not hold, such as
// DecisionEventFailures: WriteReport writes it in the line without
// dimension.
type Total struct {
	Name  string
	Value int
}

// DimensionServiceID is the dimension of the per-service metrics.
const DimensionServiceID = "ServiceId"

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// line builds one EMF line. The level, msg and timestamp keys keep it a
// regular line of the function's JSON log as well.
func line(now time.Time, dims []string, values map[string]any, defs []metricDef) map[string]any {
	m := map[string]any{
		"_aws": metadata{
			Timestamp:         now.UnixMilli(),
			CloudWatchMetrics: []directive{{Namespace: Namespace, Dimensions: [][]string{dims}, Metrics: defs}},
		},
		"timestamp": now.UTC().Format(time.RFC3339Nano),
		"level":     "INFO",
		"msg":       "metrics",
	}
	for k, v := range values {
		m[k] = v
	}
	return m
}

// serviceCounts are the metrics of one service, or of a whole reconcile.
type serviceCounts struct {
	approver.Counts
	oldest time.Duration
}

func (c serviceCounts) zero() bool {
	return c.Accepted+c.Rejected+c.Manual+c.Revoked+c.Failed == 0 && c.oldest == 0
}

// WriteReport writes the reconcile's metrics. One line without dimension on
// every reconcile, the totals the alarms watch: the decisions by result
// (approver.Count: Accepted, Rejected and Revoked are what EC2 applied,
// Manual what is left to a person), Failed (a service that could not be
// read counts one), the age of the oldest request still pending
// (OldestPendingSeconds, 0 when none), RevocationsHeld, RejectionsHeld,
// StampFailures, NotReached, MembershipErrors, PolicyPartsRefused,
// RegionUnknown, UnknownServiceIds, on sweeps ServicesNotRequiringAcceptance
// and, on sweeps that register them, NotificationFailures, and the totals
// more adds (DecisionEventFailures when decision events are on). Then
// one line with dimension ServiceId for each service with a count that is
// not zero, so that the number of metrics follows the activity, not the
// fleet.
func WriteReport(w io.Writer, report *approver.Report, now time.Time, more ...Total) error {
	bySvc := map[string]*serviceCounts{}
	var order []string
	add := func(svc string) *serviceCounts {
		if bySvc[svc] == nil {
			bySvc[svc] = &serviceCounts{}
			order = append(order, svc)
		}
		return bySvc[svc]
	}
	decisions := map[string][]approver.Outcome{}
	for _, d := range report.Decisions {
		decisions[d.ServiceID] = append(decisions[d.ServiceID], d)
	}
	var total serviceCounts
	total.Counts = approver.Count(report.Decisions)
	for _, svc := range report.Services {
		c := add(svc)
		c.Counts = approver.Count(decisions[svc])
		if report.ServiceFailed(svc) && c.Failed == 0 {
			c.Failed++ // the service itself could not be reconciled
			total.Failed++
		}
		for _, d := range decisions[svc] {
			if d.StillPending() && !d.Created.IsZero() {
				c.oldest = max(c.oldest, now.Sub(d.Created))
			}
		}
		total.oldest = max(total.oldest, c.oldest)
	}
	defs := []metricDef{
		{Accepted, "Count"}, {Rejected, "Count"}, {Manual, "Count"}, {Revoked, "Count"}, {Failed, "Count"},
		{OldestPendingSeconds, "Seconds"},
	}
	values := func(c serviceCounts) map[string]any {
		return map[string]any{Accepted: c.Accepted, Rejected: c.Rejected, Manual: c.Manual, Revoked: c.Revoked,
			Failed: c.Failed, OldestPendingSeconds: int64(c.oldest.Seconds())}
	}
	totals := values(total)
	totals[RevocationsHeld], totals[StampFailures], totals[NotReached] = total.RevocationsHeld, total.StampFailures, len(report.NotReached)
	totals[MembershipErrors], totals[RejectionsHeld], totals[PolicyPartsRefused] = total.MembershipErrors, total.RejectionsHeld, report.PolicyPartsRefused
	totals[RegionUnknown], totals[UnknownServiceIds] = total.RegionUnknown, report.UnknownServiceIDs
	totalDefs := append(slices.Clip(defs), metricDef{RevocationsHeld, "Count"}, metricDef{StampFailures, "Count"}, metricDef{NotReached, "Count"},
		metricDef{MembershipErrors, "Count"}, metricDef{RejectionsHeld, "Count"}, metricDef{PolicyPartsRefused, "Count"},
		metricDef{RegionUnknown, "Count"}, metricDef{UnknownServiceIds, "Count"})
	if report.ServicesNotRequiringAcceptance != nil {
		totals[ServicesNotRequiringAcceptance] = len(report.ServicesNotRequiringAcceptance)
		totalDefs = append(totalDefs, metricDef{ServicesNotRequiringAcceptance, "Count"})
	}
	if n := report.Notifications; n != nil {
		totals[NotificationFailures] = n.Failed
		totalDefs = append(totalDefs, metricDef{NotificationFailures, "Count"})
	}
	for _, t := range more {
		totals[t.Name] = t.Value
		totalDefs = append(totalDefs, metricDef{t.Name, "Count"})
	}
	if err := writeLine(w, line(now, []string{}, totals, totalDefs)); err != nil {
		return err
	}
	for _, svc := range order {
		c := bySvc[svc]
		if c.zero() {
			continue
		}
		v := values(*c)
		v[DimensionServiceID] = svc
		if err := writeLine(w, line(now, []string{DimensionServiceID}, v, defs)); err != nil {
			return err
		}
	}
	return nil
}

// WritePolicyError writes the line for an invocation whose policy could not
// be loaded: PolicyErrors 1, with no dimension.
func WritePolicyError(w io.Writer, now time.Time) error {
	return writeLine(w, line(now, []string{}, map[string]any{PolicyErrors: 1}, []metricDef{{PolicyErrors, "Count"}}))
}

func writeLine(w io.Writer, m map[string]any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode metrics: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

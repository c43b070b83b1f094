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
	"time"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
)

// Namespace is the CloudWatch namespace of every metric.
const Namespace = "PrivateLinkApprover"

// Metric names, as the template's alarms and dashboard use them.
const (
	Accepted             = "Accepted"
	Rejected             = "Rejected"
	Manual               = "Manual"
	Revoked              = "Revoked"
	Failed               = "Failed"
	OldestPendingSeconds = "OldestPendingSeconds"
	PolicyErrors         = "PolicyErrors"
	// RevocationsHeld counts the revocations the guard held back, and
	// StampFailures the applied decisions (and announced requests) whose
	// tags could not be written; both without dimension, on every reconcile.
	RevocationsHeld = "RevocationsHeld"
	StampFailures   = "StampFailures"
	// NotificationFailures counts connection notifications a sweep could
	// not register.
	NotificationFailures = "NotificationFailures"
	// DimensionServiceID is the dimension of the per-service metrics.
	DimensionServiceID = "ServiceId"
)

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

// WriteReport writes one line per service reconciled, with dimension
// ServiceId: the decisions by result (approver.Count: Accepted, Rejected and
// Revoked are what EC2 applied, Manual what is left to a person), Failed,
// and the age of the oldest request still pending after the reconcile (0
// when none). Then one line without dimension for the whole reconcile:
// RevocationsHeld and StampFailures.
func WriteReport(w io.Writer, report *approver.Report, now time.Time) error {
	defs := []metricDef{
		{Accepted, "Count"}, {Rejected, "Count"}, {Manual, "Count"}, {Revoked, "Count"}, {Failed, "Count"},
		{OldestPendingSeconds, "Seconds"},
	}
	bySvc := map[string][]approver.Decision{}
	for _, d := range report.Decisions {
		bySvc[d.ServiceID] = append(bySvc[d.ServiceID], d)
	}
	for _, svc := range report.Services {
		decisions := bySvc[svc]
		c := approver.Count(decisions)
		if report.ServiceFailed(svc) && c.Failed == 0 {
			c.Failed++ // the service itself could not be reconciled
		}
		var oldest time.Duration
		for _, d := range decisions {
			if d.StillPending() && !d.Created.IsZero() {
				oldest = max(oldest, now.Sub(d.Created))
			}
		}
		values := map[string]any{DimensionServiceID: svc, OldestPendingSeconds: int64(oldest.Seconds()),
			Accepted: c.Accepted, Rejected: c.Rejected, Manual: c.Manual, Revoked: c.Revoked, Failed: c.Failed}
		if err := writeLine(w, line(now, []string{DimensionServiceID}, values, defs)); err != nil {
			return err
		}
	}
	total := approver.Count(report.Decisions)
	values := map[string]any{RevocationsHeld: total.Held, StampFailures: total.StampFailures}
	defs = []metricDef{{RevocationsHeld, "Count"}, {StampFailures, "Count"}}
	if n := report.Notifications; n != nil {
		values[NotificationFailures] = n.Failed
		defs = append(defs, metricDef{NotificationFailures, "Count"})
	}
	return writeLine(w, line(now, []string{}, values, defs))
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

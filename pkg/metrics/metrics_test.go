package metrics_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/metrics"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		got = append(got, m)
	}
	return got
}

func directive(t *testing.T, line map[string]any) map[string]any {
	t.Helper()
	aws, ok := line["_aws"].(map[string]any)
	require.True(t, ok, "an EMF line has _aws")
	assert.EqualValues(t, now.UnixMilli(), aws["Timestamp"])
	ds := aws["CloudWatchMetrics"].([]any)
	require.Len(t, ds, 1)
	d := ds[0].(map[string]any)
	assert.Equal(t, metrics.Namespace, d["Namespace"])
	return d
}

func TestWriteReport(t *testing.T) {
	report := &approver.Report{
		Services: []string{"vpce-svc-0aaaaaaaaaaaaaaaa", "vpce-svc-0bbbbbbbbbbbbbbbb", "vpce-svc-0ccccccccccccccccc"},
		Decisions: []approver.Outcome{
			{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Action: "accept", Result: approver.ResultAccepted, Created: now.Add(-time.Hour)},
			{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Action: "accept", Result: approver.ResultAccepted},
			{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Action: "reject", Result: approver.ResultRejected},
			{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Action: "manual", Result: approver.ResultLeftPending, Created: now.Add(-90 * time.Minute)},
			{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Action: "reject", Result: approver.ResultRevoked, Revoked: true, Created: now.Add(-72 * time.Hour)},
			// Held back by the guard: not a revocation that happened.
			{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Action: "reject", Result: approver.ResultHeld, Revoked: true},
			{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Action: "reject", Result: approver.ResultHeld, Revoked: true},
			// Held back by maxRejections: a pending request.
			{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Action: "reject", Result: approver.ResultHeld},
			// A dry run changes nothing: no Accepted.
			{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Action: "accept", Result: approver.ResultDryRun, Created: now.Add(-time.Minute)},
			{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Action: "accept", Result: approver.ResultAccepted, StampError: "AccessDenied"},
			{ServiceID: "vpce-svc-0bbbbbbbbbbbbbbbb", Action: "accept", Result: approver.ResultFailed, ErrorCode: "InternalError", Created: now.Add(-10 * time.Second)},
			// Undecided: its account could not be looked up.
			{ServiceID: "vpce-svc-0bbbbbbbbbbbbbbbb", Result: approver.ResultFailed, ErrorCode: "TooManyRequestsException", MembershipFailed: true,
				Created: now.Add(-5 * time.Second)},
		},
		PolicyPartsRefused: 2,
		Errors:             []approver.ServiceError{{ServiceID: "vpce-svc-0bbbbbbbbbbbbbbbb", Error: "1 of 1 failed"}, {ServiceID: "vpce-svc-0ccccccccccccccccc", Error: "describe failed"}},
	}
	report.Services = append(report.Services, "vpce-svc-0dddddddddddddddd") // reconciled, nothing to count
	var out bytes.Buffer
	require.NoError(t, metrics.WriteReport(&out, report, now))
	got := lines(t, out.String())
	require.Len(t, got, 4, "the totals, then one line per service with a count: not the idle one")

	total := got[0]
	assert.Equal(t, []any{[]any{}}, directive(t, total)["Dimensions"], "the totals have no dimension: the alarms watch them")
	for name, v := range map[string]float64{"Accepted": 3, "Rejected": 1, "Manual": 1, "Revoked": 1, "Failed": 3,
		"OldestPendingSeconds": 5400, "RevocationsHeld": 2, "StampFailures": 1, "NotReached": 0, "MembershipErrors": 1,
		"RejectionsHeld": 1, "PolicyPartsRefused": 2} {
		assert.EqualValues(t, v, total[name], "total %s", name)
	}
	assert.NotContains(t, total, "ServiceId")

	want := []map[string]float64{
		{"Accepted": 3, "Rejected": 1, "Manual": 1, "Revoked": 1, "Failed": 0, "OldestPendingSeconds": 5400},
		{"Accepted": 0, "Rejected": 0, "Manual": 0, "Revoked": 0, "Failed": 2, "OldestPendingSeconds": 10},
		{"Accepted": 0, "Rejected": 0, "Manual": 0, "Revoked": 0, "Failed": 1, "OldestPendingSeconds": 0},
	}
	for i, line := range got[1:] {
		d := directive(t, line)
		assert.Equal(t, []any{[]any{"ServiceId"}}, d["Dimensions"])
		var names []string
		for _, m := range d["Metrics"].([]any) {
			names = append(names, m.(map[string]any)["Name"].(string))
		}
		assert.ElementsMatch(t, []string{"Accepted", "Rejected", "Manual", "Revoked", "Failed", "OldestPendingSeconds"}, names)
		assert.Equal(t, report.Services[i], line["ServiceId"])
		for name, v := range want[i] {
			assert.EqualValues(t, v, line[name], "%s %s", report.Services[i], name)
		}
	}
}

func TestWritePolicyError(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, metrics.WritePolicyError(&out, now))
	got := lines(t, out.String())
	require.Len(t, got, 1)
	d := directive(t, got[0])
	assert.Equal(t, []any{[]any{}}, d["Dimensions"], "no dimension")
	assert.EqualValues(t, 1, got[0]["PolicyErrors"])
	assert.NotContains(t, got[0], "ServiceId")
}

func TestWriteReportAddsTotals(t *testing.T) {
	report := &approver.Report{
		Services:  []string{"vpce-svc-0aaaaaaaaaaaaaaaa"},
		Decisions: []approver.Outcome{{ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Action: "accept", Result: approver.ResultAccepted}},
	}
	tests := []struct {
		name string
		more []metrics.Total
		want map[string]any // DecisionEventFailures in the totals; nil: absent
	}{
		{"none: the metric is not written", nil, nil},
		{"zero is written", []metrics.Total{{Name: metrics.DecisionEventFailures, Value: 0}}, map[string]any{"DecisionEventFailures": 0.0}},
		{"failures", []metrics.Total{{Name: metrics.DecisionEventFailures, Value: 3}}, map[string]any{"DecisionEventFailures": 3.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, metrics.WriteReport(&out, report, now, tt.more...))
			got := lines(t, out.String())
			require.Len(t, got, 2, "the totals and the one service")
			var names []string
			for _, m := range directive(t, got[0])["Metrics"].([]any) {
				names = append(names, m.(map[string]any)["Name"].(string))
			}
			if tt.want == nil {
				assert.NotContains(t, got[0], metrics.DecisionEventFailures)
				assert.NotContains(t, names, metrics.DecisionEventFailures)
			} else {
				assert.Equal(t, tt.want[metrics.DecisionEventFailures], got[0][metrics.DecisionEventFailures])
				assert.Contains(t, names, metrics.DecisionEventFailures)
			}
			assert.NotContains(t, got[1], metrics.DecisionEventFailures, "a total, not per service")
		})
	}
}

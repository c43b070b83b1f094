package approver_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

// composed loads a path policy of a root and parts, as the store would.
func composed(t *testing.T, root string, parts map[string]string) loaderFunc {
	t.Helper()
	var sources []policy.Source
	for name, text := range parts {
		sources = append(sources, policy.Source{Name: name, Text: []byte(text)})
	}
	p, err := policy.Compose("/test/", []byte(root), sources)
	require.NoError(t, err)
	return func(context.Context, bool) (*policy.Loaded, error) {
		return &policy.Loaded{Policy: p, Parameter: "/test/", Version: "sha256:0", Modified: approvertest.PolicyChanged}, nil
	}
}

func TestAHeldPartDecidesNothingOnItsServices(t *testing.T) {
	root := fmt.Sprintf(`{"version": 1, "revoke": true, "delegate": [{"part": "a-team", "services": [%q]}, {"part": "b-team", "services": [%q]}],
	  "rules": [{"name": "blocked", "action": "reject", "accounts": ["999999999999"]}]}`, svcA, svcB)
	f := approvertest.NewEC2(svcA, svcB)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "") // a-team's part would accept it
	f.Add(svcA, "vpce-0000000000000000b", "999999999999", "pendingAcceptance", "") // the root rejects it, but not on a held service
	f.Add(svcA, "vpce-0000000000000000c", "333333333333", "available", "")         // nothing accepts it now: not revoked while held
	f.Add(svcB, "vpce-0000000000000000d", "222222222222", "pendingAcceptance", "")
	f.Add(svcB, "vpce-0000000000000000e", "333333333333", "pendingAcceptance", "")
	var logs bytes.Buffer
	a := approver.New(vpcendpoints.New(f), composed(t, root, map[string]string{
		"a-team": `{"version": 1, "maxRevocations": 100, "rules": [{"name": "all", "action": "accept", "accounts": ["111111111111"]}]}`,
		"b-team": "222222222222",
		"rogue":  `{"version": 1, "rules": [{"name": "all", "action": "accept", "accounts": ["*"]}]}`,
	}), approver.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})

	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"vpce-0000000000000000a": "pendingAcceptance",
		"vpce-0000000000000000b": "pendingAcceptance",
		"vpce-0000000000000000c": "available",
		"vpce-0000000000000000d": "available",
		"vpce-0000000000000000e": "rejected",
	}, f.States())
	byID := byEndpoint(report)
	for _, id := range []string{"vpce-0000000000000000a", "vpce-0000000000000000b"} {
		assert.Equal(t, approver.ResultLeftPending, byID[id].Result)
		assert.Empty(t, byID[id].Action)
		assert.Contains(t, byID[id].Detail, "/test/a-team")
	}
	assert.Equal(t, "b-team", byID["vpce-0000000000000000d"].Rule)
	assert.Equal(t, 2, report.PartHeld)
	assert.Equal(t, 0, report.Manual)
	assert.Equal(t, 2, report.PolicyPartsRefused, "a-team refused, rogue ignored")
	assert.True(t, report.ServiceFailed(svcA), "a held service fails, as an unread one")
	assert.False(t, report.ServiceFailed(svcB))
	require.Error(t, report.Err())
	assert.Contains(t, report.Err().Error(), svcA)

	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, `"msg":"policy part refused"`))
	assert.Contains(t, out, "maxRevocations: only the root part may set it")
	assert.Equal(t, 1, strings.Count(out, `"msg":"policy part ignored"`))
	assert.Contains(t, out, `"part":"/test/rogue"`)
}

func TestRejectionGuard(t *testing.T) {
	tests := []struct {
		name         string
		limit        string // "" for the default
		strangers    int
		dryRun       bool
		wantHeld     bool
		wantRejected int
	}{
		{"at the default limit", "", 99, false, false, 100},
		{"past the default limit", "", 100, false, true, 0},
		{"past a limit the policy sets", `"maxRejections": 2,`, 3, false, true, 0},
		{"zero holds every rejection", `"maxRejections": 0,`, 1, false, true, 0},
		{"a dry run shows it holding", `"maxRejections": 2,`, 3, true, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA, svcB)
			f.Add(svcA, "vpce-00000000000000a00", "111111111111", "pendingAcceptance", "")
			for i := range tt.strangers {
				svc := []string{svcA, svcB}[i%2] // the limit is across services
				f.Add(svc, fmt.Sprintf("vpce-%017x", i+1), "333333333333", "pendingAcceptance", "")
			}
			f.Add(svcA, "vpce-00000000000000b00", "444444444444", "pendingAcceptance", "")
			text := fmt.Sprintf(`{"version": 1, %s "rules": [{"name": "partner", "action": "accept", "accounts": ["111111111111"]},
			  {"name": "later", "action": "accept", "accounts": ["444444444444"], "services": [%q], "regions": ["eu-west-1"]}]}`, tt.limit, svcA)
			a := approver.New(vpcendpoints.New(f), staticPolicy(t, text), approver.Config{DryRun: tt.dryRun})
			report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
			require.NoError(t, err)
			rejected := 0
			for _, st := range f.States() {
				if st == "rejected" {
					rejected++
				}
			}
			assert.Equal(t, tt.wantRejected, rejected)
			if !tt.wantHeld {
				assert.Empty(t, report.RejectionGuard)
				require.NoError(t, report.Err())
				return
			}
			held := tt.strangers + 1 // and the one the default rejects
			assert.Equal(t, held, report.RejectionsHeld)
			assert.Equal(t, 0, report.RevocationsHeld)
			assert.Contains(t, report.RejectionGuard, fmt.Sprintf("%d rejections exceed maxRejections", held))
			require.Error(t, report.Err())
			assert.Contains(t, report.Err().Error(), "maxRejections")
			if !tt.dryRun {
				assert.Equal(t, "available", f.State("vpce-00000000000000a00"), "accepts still go ahead")
				assert.Equal(t, 1, report.Accepted)
			}
			for _, d := range report.Decisions {
				if d.Action == policy.Reject {
					assert.Equal(t, approver.ResultHeld, d.Result, d.EndpointID)
				}
			}
		})
	}
}

// TestAnEventCannotRejectWhatTheSweepHeld: requests that waited through a
// policy change are rejected only by a sweep, which counts them all
// against maxRejections; an event naming their service leaves them for it,
// and still rejects a request made since the change.
func TestAnEventCannotRejectWhatTheSweepHeld(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	for i := range 3 {
		f.Add(svcA, fmt.Sprintf("vpce-%017x", i+1), "333333333333", "pendingAcceptance", "")
	}
	p, err := policy.Parse([]byte(`{"version": 1, "maxRejections": 2, "rules": []}`))
	require.NoError(t, err)
	changed := approvertest.Created(2).Add(time.Second) // a second after the first three
	load := loaderFunc(func(context.Context, bool) (*policy.Loaded, error) {
		return &policy.Loaded{Policy: p, Parameter: "/test/policy", Version: "8", Modified: changed}, nil
	})
	a := approver.New(vpcendpoints.New(f), load, approver.Config{})

	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	assert.Equal(t, 3, report.RejectionsHeld, "the sweep holds all three")

	f.Add(svcA, "vpce-00000000000000100", "333333333333", "pendingAcceptance", "") // since the change
	report, err = a.Reconcile(context.Background(), approver.Request{Trigger: "notification", Services: []string{svcA}})
	require.NoError(t, err)
	require.NoError(t, report.Err(), "leaving them for the sweep is no failure")
	assert.Equal(t, 3, report.Deferred)
	assert.Equal(t, 1, report.Rejected)
	for i := range 3 {
		assert.Equal(t, "pendingAcceptance", f.State(fmt.Sprintf("vpce-%017x", i+1)), "never rejected a few at a time")
	}
	assert.Equal(t, "rejected", f.State("vpce-00000000000000100"))

	// Without the time of the change, nothing an event would reject is.
	unknown := loaderFunc(func(context.Context, bool) (*policy.Loaded, error) {
		return &policy.Loaded{Policy: p, Parameter: "/test/policy", Version: "8"}, nil
	})
	f.Add(svcA, "vpce-00000000000000200", "333333333333", "pendingAcceptance", "")
	report, err = approver.New(vpcendpoints.New(f), unknown, approver.Config{}).Reconcile(context.Background(),
		approver.Request{Trigger: "notification", Services: []string{svcA}})
	require.NoError(t, err)
	assert.Equal(t, 0, report.Rejected)
	assert.Equal(t, "pendingAcceptance", f.State("vpce-00000000000000200"))
}

// TestAnEventLeavesABacklogToTheSweep: a request older than a sweep period
// should have been decided by a sweep; if it is still pending (a backlog
// the sweep held, or an account that moved), only a sweep rejects it, even
// when the policy has not changed since.
func TestAnEventLeavesABacklogToTheSweep(t *testing.T) {
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, "vpce-0000000000000000a", "333333333333", "pendingAcceptance", "") // Created(0)
	for i := 1; i < 10; i++ {
		f.Add(svcA, fmt.Sprintf("vpce-00000000000000%03x", i+0x100), "111111111111", "available", "")
	}
	f.Add(svcA, "vpce-0000000000000000b", "333333333333", "pendingAcceptance", "") // Created(10)
	now := approvertest.Created(10).Add(time.Minute)
	a := approver.New(vpcendpoints.New(f), staticPolicy(t, `{"version": 1, "rules": []}`),
		approver.Config{SweepPeriod: 5 * time.Minute, Now: func() time.Time { return now }})
	report, err := a.Reconcile(context.Background(), approver.Request{Trigger: "notification", Services: []string{svcA}})
	require.NoError(t, err)
	assert.Equal(t, "pendingAcceptance", f.State("vpce-0000000000000000a"), "ten minutes old: left for the sweep")
	assert.Equal(t, "rejected", f.State("vpce-0000000000000000b"), "a minute old: rejected")
	assert.Equal(t, 1, report.Deferred)

	report, err = a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	assert.Equal(t, "rejected", f.State("vpce-0000000000000000a"), "the sweep rejects it")
	assert.Equal(t, 0, report.Deferred)
}

// TestAHeldServiceCostsNoLookup: a part with rules by OU that is refused
// holds its service; nothing there is decided, so no account of it is
// looked up in AWS Organizations (a failing lookup would fail more).
func TestAHeldServiceCostsNoLookup(t *testing.T) {
	root := fmt.Sprintf(`{"version": 1, "delegate": [{"part": "a-team", "services": [%q]}],
	  "rules": [{"name": "partners", "action": "accept", "organizationalUnits": ["ou-ab12-11111111"]}]}`, svcA)
	f := approvertest.NewEC2(svcA, svcB)
	f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "") // on the held service
	f.Add(svcB, "vpce-0000000000000000b", "222222222222", "pendingAcceptance", "") // looked up: in the partners OU
	orgs := newMemberships()
	a := approver.New(vpcendpoints.New(f), composed(t, root, map[string]string{"a-team": "not a policy"}), approver.Config{Membership: orgs})
	_, err := a.Reconcile(context.Background(), approver.Request{Trigger: "schedule", All: true, Sweep: true})
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"222222222222"}}, orgs.asked, "the held service's account is not looked up")
	assert.Equal(t, "pendingAcceptance", f.State("vpce-0000000000000000a"))
	assert.Equal(t, "available", f.State("vpce-0000000000000000b"))
}

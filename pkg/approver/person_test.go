package approver_test

import (
	"context"
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

const alice = "arn:aws:sts::123456789012:assumed-role/admin/alice"

func TestDecideByPerson(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	setup := func() *approvertest.EC2 {
		f := approvertest.NewEC2(svcA)
		f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
		f.Add(svcA, "vpce-0000000000000000b", "222222222222", "available", "")
		f.Add(svcA, "vpce-0000000000000000c", "333333333333", "rejected", "")
		f.Add(svcA, "vpce-0000000000000000d", "333333333333", "deleted", "")
		f.Add(svcA, "vpce-0000000000000000e", "444444444444", "pendingAcceptance", "")
		return f
	}
	all := []string{"vpce-0000000000000000a", "vpce-0000000000000000b", "vpce-0000000000000000c", "vpce-0000000000000000d",
		"vpce-0000000000000000E", "vpce-0000000000000000f"}
	tests := []struct {
		name        string
		action      policy.Action
		wantResults map[string]string
		wantStates  map[string]string
		wantStamp   map[string]string // decision stamps
	}{
		{"accept", policy.Accept, map[string]string{
			"vpce-0000000000000000a": approver.ResultAccepted, "vpce-0000000000000000b": approver.ResultAlreadyAccepted,
			"vpce-0000000000000000c": approver.ResultFailed, "vpce-0000000000000000d": approver.ResultGone,
			"vpce-0000000000000000e": approver.ResultAccepted, "vpce-0000000000000000f": approver.ResultFailed,
		}, map[string]string{"vpce-0000000000000000a": "available", "vpce-0000000000000000e": "available", "vpce-0000000000000000c": "rejected"},
			map[string]string{"vpce-0000000000000000a": "accepted", "vpce-0000000000000000e": "accepted"}},
		{"reject takes pending and accepted connections", policy.Reject, map[string]string{
			"vpce-0000000000000000a": approver.ResultRejected, "vpce-0000000000000000b": approver.ResultRevoked,
			"vpce-0000000000000000c": approver.ResultAlreadyRejected, "vpce-0000000000000000d": approver.ResultGone,
			"vpce-0000000000000000e": approver.ResultRejected, "vpce-0000000000000000f": approver.ResultFailed,
		}, map[string]string{"vpce-0000000000000000a": "rejected", "vpce-0000000000000000b": "rejected"},
			map[string]string{"vpce-0000000000000000a": "rejected", "vpce-0000000000000000b": "revoked", "vpce-0000000000000000e": "rejected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup()
			a := approver.New(vpcendpoints.New(f), nil, approver.Config{Now: func() time.Time { return at }})
			reason := "ticket NET-42\napproved by the partner team " + strings.Repeat("x", 300)
			report, err := a.DecideByPerson(context.Background(), approver.PersonDecision{
				ServiceID: svcA, EndpointIDs: all, Action: tt.action, By: alice, Reason: reason})
			require.NoError(t, err)
			got := map[string]string{}
			for _, d := range report.Decisions {
				got[d.EndpointID] = d.Result
				assert.Equal(t, approver.PersonRule, d.Rule)
				assert.Equal(t, alice, d.By)
				assert.Empty(t, d.PolicyVersion)
			}
			assert.Equal(t, tt.wantResults, got)
			for id, state := range tt.wantStates {
				assert.Equal(t, state, f.State(id), id)
			}
			// One batched call: the decision is one person's act.
			calls := len(f.Accepted) + len(f.Rejected)
			assert.Equal(t, 1, calls)
			for id, decision := range tt.wantStamp {
				st := f.Stamp(id)
				assert.Equal(t, decision, st[approver.TagDecision], id)
				assert.Equal(t, approver.PersonRule, st[approver.TagRule])
				assert.Equal(t, alice, st[approver.TagBy])
				assert.Equal(t, "2026-11-29T10:00:00Z", st[approver.TagDecidedAt])
				assert.NotContains(t, st, approver.TagPolicyVersion, "a person's decision has no policy version")
				assert.Len(t, []rune(st[approver.TagReason]), 256, "cut to what a tag value holds")
				assert.True(t, strings.HasPrefix(st[approver.TagReason], "ticket NET-42 approved by"), "a newline is no tag character: %q", st[approver.TagReason])
			}
			require.Error(t, report.Err(), "an endpoint that could not be decided fails the command")
		})
	}
}

func TestDecideByPersonRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		pd   approver.PersonDecision
		want string
	}{
		{"no reason", approver.PersonDecision{ServiceID: svcA, EndpointIDs: []string{"vpce-0000000000000000a"}, Action: policy.Accept, By: alice, Reason: " \n"}, "a reason is required"},
		{"bad service", approver.PersonDecision{ServiceID: "svc-1", EndpointIDs: []string{"vpce-0000000000000000a"}, Action: policy.Accept, By: alice, Reason: "r"}, `service "svc-1"`},
		{"bad endpoint", approver.PersonDecision{ServiceID: svcA, EndpointIDs: []string{"vpc-1"}, Action: policy.Accept, By: alice, Reason: "r"}, `endpoint "vpc-1"`},
		{"no endpoint", approver.PersonDecision{ServiceID: svcA, Action: policy.Reject, By: alice, Reason: "r"}, "no endpoint named"},
		{"manual is no decision", approver.PersonDecision{ServiceID: svcA, EndpointIDs: []string{"vpce-0000000000000000a"}, Action: policy.Manual, By: alice, Reason: "r"}, `action "manual"`},
		{"nobody", approver.PersonDecision{ServiceID: svcA, EndpointIDs: []string{"vpce-0000000000000000a"}, Action: policy.Accept, Reason: "r"}, "no caller ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := approvertest.NewEC2(svcA)
			f.Add(svcA, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
			_, err := approver.New(vpcendpoints.New(f), nil, approver.Config{}).DecideByPerson(context.Background(), tt.pd)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Empty(t, f.Calls, "bad input changes nothing")
		})
	}
}

func TestAPersonsDecisionTouchesOnlyWhatWasShown(t *testing.T) {
	const (
		same    = "vpce-0000000000000000a" // pending, shown pending
		decided = "vpce-0000000000000000b" // shown pending, accepted meanwhile
	)
	f := approvertest.NewEC2(svcA)
	f.Add(svcA, same, "111111111111", "pendingAcceptance", "")
	f.Add(svcA, decided, "111111111111", "available", "")
	a := approver.New(vpcendpoints.New(f), nil, approver.Config{})
	report, err := a.DecideByPerson(context.Background(), approver.PersonDecision{
		ServiceID: svcA, EndpointIDs: []string{same, decided}, Action: policy.Reject, By: alice, Reason: "incident 42",
		Shown: map[string]string{same: "pendingAcceptance", decided: "pendingAcceptance"}})
	require.NoError(t, err)
	assert.Equal(t, "rejected", f.State(same), "shown as it is: decided")
	assert.Equal(t, "available", f.State(decided), "changed since it was shown: a reject would revoke it unseen")
	for _, d := range report.Decisions {
		if d.EndpointID == decided {
			assert.Equal(t, approver.ResultFailed, d.Result)
			assert.Equal(t, "StateChanged", d.ErrorCode)
			assert.Contains(t, d.Detail, "pendingAcceptance when shown, available now")
		}
	}
}

package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
)

func TestCheckStamp(t *testing.T) {
	pushed := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	stamp := func(edit func(map[string]string)) connection {
		tags := map[string]string{
			approver.TagDecision:      "accepted",
			approver.TagRule:          "acceptance-consumer",
			approver.TagPolicyVersion: "2",
			approver.TagDecidedAt:     "2026-12-01T09:00:05Z",
			approver.TagAnnouncedAt:   "2026-12-01T08:59:00Z",
		}
		if edit != nil {
			edit(tags)
		}
		return connection{State: stateAvailable, Tags: tags}
	}
	tests := []struct {
		name string
		c    connection
		// wantErr is in the error; "" for none.
		wantErr string
	}{
		{"the stamp of the decision", stamp(nil), ""},
		{"decided within the clock skew before the push", stamp(func(m map[string]string) { m[approver.TagDecidedAt] = "2026-12-01T08:58:30Z" }), ""},
		{"another decision", stamp(func(m map[string]string) { m[approver.TagDecision] = "rejected" }), approver.TagDecision},
		{"another rule", stamp(func(m map[string]string) { m[approver.TagRule] = "default" }), approver.TagRule},
		{"another policy version", stamp(func(m map[string]string) { m[approver.TagPolicyVersion] = "1" }), approver.TagPolicyVersion},
		{"no policy version", stamp(func(m map[string]string) { delete(m, approver.TagPolicyVersion) }), approver.TagPolicyVersion},
		{"decided-at not RFC 3339", stamp(func(m map[string]string) { m[approver.TagDecidedAt] = "yesterday" }), "not RFC 3339"},
		{"decided long before the push", stamp(func(m map[string]string) { m[approver.TagDecidedAt] = "2026-12-01T08:00:00Z" }), "before the policy version"},
		{"a person's keys left over", stamp(func(m map[string]string) { m[approver.TagBy] = "arn:aws:iam::123456789012:user/alice" }), approver.TagBy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkStamp(tt.c, "accepted", "acceptance-consumer", "2", pushed)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestCanonicalState(t *testing.T) {
	for in, want := range map[string]string{
		"pendingAcceptance": statePending, // the API
		"PendingAcceptance": statePending, // the SDK's constant
		"Available":         stateAvailable,
		"pending":           stateAccepting,
		"REJECTED":          stateRejected,
		"Deleted":           stateDeleted,
		"expired":           "expired", // not one the steps wait for: as it is
	} {
		assert.Equal(t, want, canonicalState(in), in)
	}
}

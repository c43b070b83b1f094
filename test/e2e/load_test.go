//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// burst is a partner rollout: many pending connections on one service from
// many accounts, some of them allowed.
type burst struct {
	s *scenario
	// want is the state the policy calls for, by endpoint ID.
	want    map[string]string
	allowed []string
}

// newBurst creates accounts x perAccount pending connections to the
// scenario's service; the first allowedAccounts accounts are allowed.
func newBurst(t *testing.T, s *scenario, accounts, perAccount, allowedAccounts int) *burst {
	t.Helper()
	b := &burst{s: s, want: map[string]string{}}
	account := func(i int) string { return fmt.Sprintf("%012d", 210000000000+i) }
	for i := range allowedAccounts {
		b.allowed = append(b.allowed, account(i))
	}
	// The policy first: the requests come after it, as in a rollout (an
	// event rejects only requests made since the policy last changed).
	s.policy(allowlist(accounts*perAccount, b.allowed...))
	for i := range accounts {
		ids, err := moto.CreateEndpoints(ctx(t), s.svc(), localaws.Endpoint{Account: account(i)}, perAccount)
		require.NoError(t, err)
		state := "rejected"
		if i < allowedAccounts {
			state = "available"
		}
		for _, id := range ids {
			b.want[id] = state
		}
	}
	return b
}

// checkSafe asserts the safety invariant: no connection is in a state the
// policy would not give it; pending is the only other allowed state.
func (b *burst) checkSafe(t *testing.T, when string) {
	t.Helper()
	for id, state := range b.s.states(b.s.svc()) {
		want, ours := b.want[id]
		if !ours {
			continue
		}
		if state != want && state != "pendingAcceptance" {
			t.Fatalf("%s: %s is %s, the policy says %s", when, id, state, want)
		}
	}
}

// notifications builds SQS events of size records each, one notification
// per endpoint, as the SNS topic would deliver them.
func (b *burst) notifications(t *testing.T, size int) [][]byte {
	t.Helper()
	var bodies []string
	for id := range b.want {
		bodies = append(bodies, snsEnvelope(t, fmt.Sprintf(`{"ServiceId":%q,"VpcEndpointId":%q,"NotificationType":"Connect"}`, b.s.svc().ID, id)))
	}
	var batches [][]byte
	for start := 0; start < len(bodies); start += size {
		batches = append(batches, sqsEvent(t, bodies[start:min(start+size, len(bodies))]...))
	}
	return batches
}

func statsDelta(t *testing.T, before map[string]int) map[string]int {
	t.Helper()
	after, err := moto.Stats()
	require.NoError(t, err)
	d := map[string]int{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

func TestBurstOfNotificationsCostsOneCallEach(t *testing.T) {
	s := newScenario(t, 1)
	b := newBurst(t, s, 20, 50, 8) // 1,000 requests, 400 allowed
	f := s.function("POLICY_CACHE_SECONDS=60")
	batches := b.notifications(t, 100)
	require.Len(t, batches, 10)

	before, err := moto.Stats()
	require.NoError(t, err)
	for i, batch := range batches {
		var resp batchResponse
		invoke(t, f, batch, &resp)
		require.Empty(t, resp.ids(), "batch %d", i)
	}
	calls := statsDelta(t, before)

	assert.Equal(t, b.want, s.states(s.svc()), "all 1,000 end in the right state")
	assert.Equal(t, 1, calls["ssm:GetParameter"], "one SSM read for the whole run (warm cache)")
	assert.Equal(t, len(batches), calls["ec2:DescribeVpcEndpointConnections"], "one Describe per invocation")
	assert.Equal(t, 1, calls["ec2:AcceptVpcEndpointConnections"], "one Accept call in all")
	assert.Equal(t, 1, calls["ec2:RejectVpcEndpointConnections"], "one Reject call in all")
	assert.Equal(t, 2, calls["ec2:CreateTags"], "one stamp call per tag set: the allowlist's accepts, the default's rejects")
	t.Logf("AWS calls for 1,000 notifications in %d invocations: %v", len(batches), calls)
}

func TestFaultsConvergeSafely(t *testing.T) {
	s := newScenario(t, 1)
	b := newBurst(t, s, 6, 10, 3)
	f := s.function()
	require.NoError(t, moto.Control(map[string]any{"faults": []map[string]any{
		{"action": "ec2:DescribeVpcEndpointConnections", "code": "RequestLimitExceeded", "status": 503, "every": 2},
		{"action": "ec2:AcceptVpcEndpointConnections", "code": "InternalError", "status": 500, "times": 8},
		{"action": "ec2:RejectVpcEndpointConnections", "code": "RequestLimitExceeded", "status": 503, "times": 2},
		{"action": "ssm:GetParameter", "code": "ThrottlingException", "status": 400, "every": 2},
	}}))
	t.Cleanup(func() { _ = moto.Control(map[string]any{}) })
	before, err := moto.Stats()
	require.NoError(t, err)

	// Accept fails 8 times in a row: as many as two calls' 4 attempts, so
	// the first two sweeps fail (and say why) while the rest is applied;
	// every other fault is absorbed by the SDK's retries.
	schedule := s.sample("eventbridge-scheduled-event.json")
	var failures int
	for sweep := 1; sweep <= 5; sweep++ {
		if _, err := f.Invoke(ctx(t), schedule); err != nil {
			failures++
			assert.Contains(t, err.Error(), "InternalError", "sweep %d", sweep)
		}
		b.checkSafe(t, fmt.Sprintf("after sweep %d", sweep))
	}
	assert.Equal(t, b.want, s.states(s.svc()), "repeated sweeps converge to exactly the policy's outcome")
	assert.Equal(t, 2, failures, "the sweeps whose Accept ran out of retries failed")
	calls := statsDelta(t, before)
	assert.Positive(t, calls["fault:ec2:DescribeVpcEndpointConnections"])
	assert.Positive(t, calls["fault:ec2:RejectVpcEndpointConnections"])
	assert.Positive(t, calls["fault:ssm:GetParameter"])
	assert.Equal(t, 8, calls["fault:ec2:AcceptVpcEndpointConnections"])
}

func TestDuplicateAndRacingDeliveries(t *testing.T) {
	t.Run("the same notification twice", func(t *testing.T) {
		s := newScenario(t, 1)
		b := newBurst(t, s, 2, 5, 1)
		f := s.function()
		event := sqsEvent(t, snsEnvelope(t, s.svc().ID))
		for range 2 {
			var resp batchResponse
			invoke(t, f, event, &resp)
			assert.Empty(t, resp.ids())
			assert.Equal(t, b.want, s.states(s.svc()))
		}
	})

	t.Run("two environments racing on one service", func(t *testing.T) {
		s := newScenario(t, 1)
		b := newBurst(t, s, 4, 50, 2)
		one, two := s.function(), s.function()
		event := sqsEvent(t, snsEnvelope(t, s.svc().ID))
		var wg sync.WaitGroup
		answers := make([]batchResponse, 2)
		errs := make([]error, 2)
		for i, f := range []*localaws.Function{one, two} {
			wg.Go(func() {
				answer, err := f.Invoke(ctx(t), event)
				errs[i] = err
				if err == nil {
					errs[i] = json.Unmarshal(answer, &answers[i])
				}
			})
		}
		wg.Wait()
		for i := range 2 {
			require.NoError(t, errs[i])
			assert.Empty(t, answers[i].ids(), "a connection the other environment decided the same way is no error")
		}
		assert.Equal(t, b.want, s.states(s.svc()))
	})

	t.Run("a connection deleted between Describe and Accept", func(t *testing.T) {
		s := newScenario(t, 1)
		s.policy(allowed)
		gone := s.endpoint(s.svc(), allowed, tagged(localaws.TagDeletedByConsumer, "true"))
		kept := s.endpoint(s.svc(), allowed)
		f := s.function()
		var sum summary
		invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)
		assert.Equal(t, 0, sum.Failed)
		assert.Equal(t, map[string]string{gone: "deleted", kept: "available"}, s.states(s.svc()))
		for _, d := range sum.Decisions {
			if d.EndpointID == gone {
				assert.Equal(t, "gone", d.Result)
				assert.Contains(t, d.Detail, "deleted")
				assert.Empty(t, d.ErrorCode)
			}
		}
	})
}

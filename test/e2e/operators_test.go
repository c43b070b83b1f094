//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// run runs approverctl against the local AWS and returns its output and
// exit code.
func runCtl(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(ctl, args...)
	cmd.Env = append(append(os.Environ(), moto.FunctionEnv(localaws.Region)...), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run approverctl: %v", err)
	}
	return out.String(), errOut.String(), code
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

func TestCLIPolicyValidateAndExplain(t *testing.T) {
	good := writeFile(t, "good.json", `{"version": 1, "defaultAction": "manual", "rules": [
	  {"name": "partner", "action": "accept", "accounts": ["111122223333"]},
	  {"name": "eu", "action": "accept", "accounts": ["444455556666"], "regions": ["eu-west-1"], "expires": "2027-06-30T00:00:00Z"},
	  {"name": "blocked", "action": "reject", "accounts": ["999988887777"]}]}`)
	bad := writeFile(t, "bad.json", `{"version": 1, "rules": [
	  {"name": "a", "action": "accept", "accounts": ["111122223333"]},
	  {"name": "b", "action": "accept", "accounts": ["111122223333"]},
	  {"name": "c", "action": "accept", "accounts": ["12345"], "Regions": ["eu-west-1"]}]}`)

	out, _, code := runCtl(t, nil, "policy", "validate", good)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "valid, 3 rule(s), defaultAction manual")

	out, _, code = runCtl(t, nil, "policy", "validate", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, `rules[2].accounts[0]: "12345" is not a 12-digit account ID`)
	assert.Contains(t, out, `rules[2].Regions: unknown field`)

	out, _, code = runCtl(t, nil, "--output", "json", "policy", "validate", bad)
	assert.Equal(t, 1, code)
	var v struct {
		Valid    bool `json:"valid"`
		Problems []struct {
			Path     string `json:"path"`
			Message  string `json:"message"`
			Severity string `json:"severity"`
		} `json:"problems"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	assert.False(t, v.Valid)
	require.Len(t, v.Problems, 2)
	assert.ElementsMatch(t, []string{"rules[2].Regions", "rules[2].accounts[0]"}, []string{v.Problems[0].Path, v.Problems[1].Path})
	assert.Equal(t, "error", v.Problems[0].Severity)

	tests := []struct {
		name       string
		args       []string
		wantAction string
		wantRule   string
	}{
		{"accepted partner", []string{"--account", "111122223333"}, "accept", "partner"},
		{"blocked", []string{"--account", "999988887777"}, "reject", "blocked"},
		{"unknown waits for a person", []string{"--account", "123412341234"}, "manual", "default"},
		{"cross-region partner", []string{"--account", "444455556666", "--endpoint-region", "eu-west-1", "--at", "2027-01-01T00:00:00Z"}, "accept", "eu"},
		{"same-region partner is in --region", []string{"--account", "444455556666", "--at", "2027-01-01T00:00:00Z"}, "manual", "default"},
		{"after the rule expires", []string{"--account", "444455556666", "--endpoint-region", "eu-west-1", "--at", "2027-07-01T00:00:00Z"}, "manual", "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Global flags anywhere on the command line, as with the AWS CLI.
			args := append([]string{"policy", "explain", good, "--service", "vpce-svc-0123456789abcdef0", "--output", "json"}, tt.args...)
			out, stderr, code := runCtl(t, nil, args...)
			require.Equal(t, 0, code, stderr)
			var got struct{ Action, Rule, Reason, Region string }
			require.NoError(t, json.Unmarshal([]byte(out), &got), out)
			assert.Equal(t, tt.wantAction, got.Action)
			assert.Equal(t, tt.wantRule, got.Rule)
			assert.NotEmpty(t, got.Reason)
		})
	}
	out, _, code = runCtl(t, nil, "policy", "explain", good, "--account", "111122223333", "--service", "vpce-svc-0123456789abcdef0")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "DECISION")
	assert.Contains(t, out, "matched accept rule partner")

	_, stderr, code := runCtl(t, nil, "policy", "explain", good, "--account", "12345", "--service", "vpce-svc-0123456789abcdef0")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `--account "12345"`)

	for _, args := range [][]string{{"--help"}, {"policy", "--help"}, {"policy", "validate", "--help"}, {"policy", "explain", "--help"},
		{"policy", "push", "--help"}, {"pending", "--help"}, {"sweep", "--help"}} {
		out, _, code := runCtl(t, nil, args...)
		assert.Equal(t, 0, code, args)
		assert.Contains(t, out, "Usage:", args)
	}
}

func TestCLIPushPendingSweep(t *testing.T) {
	s := newScenario(t, 1)
	a := s.endpoint(s.svc(), allowed)
	b := s.endpoint(s.svc(), stranger)
	env := []string{"SERVICE_IDS=" + s.svc().ID}

	bad := writeFile(t, "bad.json", `{"version": 1, "rules": [{"name": "a", "action": "accept"}]}`)
	_, stderr, code := runCtl(t, env, "policy", "push", bad, "--parameter", s.parameter, "--yes")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "rules[0]: needs at least one of accounts, organizations and organizationalUnits")
	assert.Contains(t, stderr, "nothing was written")
	_, stderr, code = runCtl(t, env, "pending", "--parameter", s.parameter)
	assert.Equal(t, 1, code, "the invalid file was not pushed: there is no policy")
	assert.Contains(t, stderr, "not found")

	good := writeFile(t, "good.json", `{"version": 1, "rules": [{"name": "partner", "action": "accept", "accounts": ["`+allowed+`"]}]}`)
	// Without a terminal and without --yes, push shows its plan and writes
	// nothing.
	out, stderr, code := runCtl(t, env, "policy", "push", good, "--parameter", s.parameter)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "Plan: 1 to accept, 1 to reject")
	assert.Contains(t, stderr, "stdin is not a terminal; pass --yes to create "+s.parameter)
	exists, err := moto.PolicyExists(ctx(t), s.region, s.parameter)
	require.NoError(t, err)
	assert.False(t, exists, "nothing was written")

	out, stderr, code = runCtl(t, env, "policy", "push", good, "--parameter", s.parameter, "--yes")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, s.parameter+": version 1 written")
	out, stderr, code = runCtl(t, env, "policy", "push", good, "--parameter", s.parameter)
	require.Equal(t, 0, code, "the same file again: nothing to do, nothing asked: %s", stderr)
	assert.Contains(t, out, "Nothing to do: "+s.parameter+" version 1 already holds")
	good2 := writeFile(t, "good2.json", `{"version": 1, "rules": [{"name": "partner", "action": "accept", "accounts": ["`+allowed+`", "`+allowed2+`"]}]}`)
	out, stderr, code = runCtl(t, env, "policy", "push", good2, "--parameter", s.parameter, "--secure", "--yes")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, s.parameter+": version 2 written (String, Standard tier)", "an existing parameter keeps its type")

	// pending: what the policy would do, changing nothing; the parameter
	// from the environment, as the function reads it.
	out, stderr, code = runCtl(t, append(env, "POLICY_PARAMETER="+s.parameter), "pending", "--output", "json")
	require.Equal(t, 0, code, stderr)
	var pending struct {
		Pending []struct {
			EndpointID  string `json:"endpointId"`
			Owner       string `json:"owner"`
			WouldDecide string `json:"wouldDecide"`
			Rule        string `json:"rule"`
			AgeSeconds  int64  `json:"ageSeconds"`
		} `json:"pending"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &pending), out)
	would := map[string]string{}
	for _, p := range pending.Pending {
		would[p.EndpointID] = p.WouldDecide
		assert.GreaterOrEqual(t, p.AgeSeconds, int64(0))
	}
	assert.Equal(t, map[string]string{a: "accept", b: "reject"}, would)
	out, _, code = runCtl(t, env, "pending", "--parameter", s.parameter)
	assert.Equal(t, 0, code)
	for _, col := range []string{"ENDPOINT", "OWNER", "AGE", "WOULD", a, allowed, "partner"} {
		assert.Contains(t, out, col)
	}
	assert.Equal(t, map[string]string{a: "pendingAcceptance", b: "pendingAcceptance"}, s.states(s.svc()), "pending changes nothing")

	// A dry-run sweep decides and prints, changing nothing.
	out, _, code = runCtl(t, nil, "sweep", "--dry-run", "--parameter", s.parameter, "--service", s.svc().ID)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "dry run: nothing changed")
	assert.Equal(t, map[string]string{a: "pendingAcceptance", b: "pendingAcceptance"}, s.states(s.svc()))

	// Without a terminal and without --yes, a sweep shows its plan and
	// changes nothing.
	out, stderr, code = runCtl(t, nil, "sweep", "--parameter", s.parameter, "--service", s.svc().ID)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "Plan: accept 1, reject 1 and revoke 0 connection(s) on 1 service(s).")
	assert.Contains(t, stderr, "stdin is not a terminal; pass --yes to sweep")
	assert.Equal(t, map[string]string{a: "pendingAcceptance", b: "pendingAcceptance"}, s.states(s.svc()))

	// A real sweep, as the function would.
	out, stderr, code = runCtl(t, nil, "sweep", "--parameter", s.parameter, "--service", s.svc().ID, "--yes")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "1 accepted, 1 rejected")
	assert.Equal(t, map[string]string{a: "available", b: "rejected"}, s.states(s.svc()))

	out, _, code = runCtl(t, env, "pending", "--parameter", s.parameter)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "No pending connection requests")
}

func TestMetricsAndDecisionMessages(t *testing.T) {
	s := newScenario(t, 2)
	inbox, err := moto.CreateInbox(ctx(t), strings.ToLower(strings.NewReplacer("/", "-").Replace(t.Name())))
	require.NoError(t, err)
	s.policy(`{"version": 1, "defaultAction": "manual", "rules": [
	  {"name": "partner", "action": "accept", "accounts": ["` + allowed + `"]}]}`)
	manual := s.endpoint(s.services[0], stranger)
	accepted := s.endpoint(s.services[0], allowed)
	f := s.function("DECISION_TOPIC_ARN="+inbox.TopicARN, "SWEEP_PERIOD_SECONDS=300")

	var sum summary
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &sum)

	// One EMF line without dimension for the reconcile (the totals the
	// alarms watch), and one per service with a count: not the idle one.
	var lines []map[string]any
	var totals []map[string]any
	for _, l := range f.Logs("metrics") {
		if _, ok := l["ServiceId"]; ok {
			lines = append(lines, l)
		} else {
			totals = append(totals, l)
		}
	}
	require.Len(t, totals, 1)
	require.Len(t, lines, 1)
	for name, want := range map[string]float64{"Accepted": 1, "Manual": 1, "Rejected": 0, "Revoked": 0, "Failed": 0,
		"RevocationsHeld": 0, "StampFailures": 0, "NotReached": 0} {
		assert.EqualValues(t, want, totals[0][name], name)
	}
	assert.GreaterOrEqual(t, totals[0]["OldestPendingSeconds"].(float64), float64(0))
	d := lines[0]["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
	assert.Equal(t, "PrivateLinkApprover", d["Namespace"])
	assert.Equal(t, []any{[]any{"ServiceId"}}, d["Dimensions"])
	assert.Equal(t, s.services[0].ID, lines[0]["ServiceId"])
	assert.EqualValues(t, 1, lines[0]["Accepted"])
	assert.EqualValues(t, 1, lines[0]["Manual"])

	// The manual request is announced once, with the commands to act.
	msgs, err := inbox.Receive(ctx(t))
	require.NoError(t, err)
	require.Len(t, msgs, 1, "only the manual decision is published")
	for _, want := range []string{stranger, manual, s.services[0].ID, "Rule:             default",
		"aws ec2 accept-vpc-endpoint-connections --region us-east-1 --service-id " + s.services[0].ID + " --vpc-endpoint-ids " + manual,
		"aws ec2 reject-vpc-endpoint-connections --region us-east-1 --service-id " + s.services[0].ID + " --vpc-endpoint-ids " + manual} {
		assert.Contains(t, msgs[0].Message, want)
	}
	assert.Contains(t, msgs[0].Subject, stranger)
	assert.NotContains(t, msgs[0].Message, accepted)

	// Announced once: its connection is marked, and a notification naming
	// the endpoint does not announce it again.
	assert.NotEmpty(t, s.tags(s.services[0], manual)["privatelink-approver:announced-at"])
	var resp batchResponse
	invoke(t, f, sqsEvent(t, `{"ServiceId":"`+s.services[0].ID+`","VpcEndpointId":"`+manual+`"}`), &resp)
	msgs, err = inbox.Receive(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, msgs)

	// A broken policy: one line with PolicyErrors 1 and no dimension.
	s.policy(`{"version": 2}`)
	invokeErr(t, f, s.sample("eventbridge-scheduled-event.json"))
	var policyErrors []map[string]any
	for _, l := range f.Logs("metrics") {
		if _, ok := l["PolicyErrors"]; ok {
			policyErrors = append(policyErrors, l)
		}
	}
	require.Len(t, policyErrors, 1)
	assert.EqualValues(t, 1, policyErrors[0]["PolicyErrors"])
	d = policyErrors[0]["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
	assert.Equal(t, []any{[]any{}}, d["Dimensions"])
}

func TestDryRunPublishesNothing(t *testing.T) {
	s := newScenario(t, 1)
	inbox, err := moto.CreateInbox(ctx(t), "dry-run-decisions")
	require.NoError(t, err)
	s.policy(`{"version": 1, "defaultAction": "manual", "rules": []}`)
	s.endpoint(s.svc(), stranger)
	f := s.function("DECISION_TOPIC_ARN="+inbox.TopicARN, "DRY_RUN=true", "PUBLISH_ALL_DECISIONS=true")
	invoke(t, f, s.sample("eventbridge-scheduled-event.json"), &summary{})
	msgs, err := inbox.Receive(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, msgs)
}

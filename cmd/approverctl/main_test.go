package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

var (
	_ SSMAPI = (*ssm.Client)(nil)
	_ STSAPI = (*sts.Client)(nil)
)

const (
	svc      = "vpce-svc-0aaaaaaaaaaaaaaaa"
	callerID = "arn:aws:sts::123456789012:assumed-role/admin/alice"
)

// fakeSSM holds parameters in memory. Its DescribeParameters answers the
// first page of every listing with no items and a NextToken, as SSM may.
type fakeSSM struct {
	mu     sync.Mutex
	params map[string]*ssmtypes.Parameter
	meta   map[string]ssmtypes.ParameterMetadata
	puts   []*ssm.PutParameterInput
	// afterGet runs after each GetParameter (someone writing meanwhile);
	// beforePut before each PutParameter is applied.
	afterGet, beforePut func()
}

func newSSM() *fakeSSM {
	return &fakeSSM{params: map[string]*ssmtypes.Parameter{}, meta: map[string]ssmtypes.ParameterMetadata{}}
}

func (f *fakeSSM) put(name, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := int64(1)
	if p, ok := f.params[name]; ok {
		v = p.Version + 1
	}
	f.params[name] = &ssmtypes.Parameter{Name: aws.String(name), Value: aws.String(value), Version: v, Type: ssmtypes.ParameterTypeString}
	if _, ok := f.meta[name]; !ok {
		f.meta[name] = ssmtypes.ParameterMetadata{Name: aws.String(name), Type: ssmtypes.ParameterTypeString, Tier: ssmtypes.ParameterTierStandard}
	}
}

func (f *fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.params[aws.ToString(in.Name)]
	if f.afterGet != nil {
		defer func() { f.mu.Unlock(); f.afterGet(); f.mu.Lock() }()
	}
	if !ok {
		return nil, &ssmtypes.ParameterNotFound{Message: aws.String("not found")}
	}
	c := *p
	return &ssm.GetParameterOutput{Parameter: &c}, nil
}

func (f *fakeSSM) GetParametersByPath(_ context.Context, in *ssm.GetParametersByPathInput, _ ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &ssm.GetParametersByPathOutput{}
	for _, name := range slices.Sorted(maps.Keys(f.params)) {
		if strings.HasPrefix(name, aws.ToString(in.Path)+"/") {
			out.Parameters = append(out.Parameters, *f.params[name])
		}
	}
	return out, nil
}

func (f *fakeSSM) DescribeParameters(_ context.Context, in *ssm.DescribeParametersInput, _ ...func(*ssm.Options)) (*ssm.DescribeParametersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.NextToken == nil {
		return &ssm.DescribeParametersOutput{NextToken: aws.String("more")}, nil
	}
	out := &ssm.DescribeParametersOutput{}
	for _, flt := range in.ParameterFilters {
		for _, name := range flt.Values {
			if m, ok := f.meta[name]; ok {
				out.Parameters = append(out.Parameters, m)
			}
		}
	}
	return out, nil
}

func (f *fakeSSM) PutParameter(_ context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	f.mu.Lock()
	if _, exists := f.params[aws.ToString(in.Name)]; exists && !aws.ToBool(in.Overwrite) {
		f.mu.Unlock()
		return nil, &ssmtypes.ParameterAlreadyExists{Message: aws.String("The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")}
	}
	f.puts = append(f.puts, in)
	if f.beforePut != nil {
		f.mu.Unlock()
		f.beforePut()
		f.mu.Lock()
	}
	f.mu.Unlock()
	f.put(aws.ToString(in.Name), aws.ToString(in.Value))
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.meta[aws.ToString(in.Name)]
	m.Type, m.Tier, m.KeyId = in.Type, in.Tier, in.KeyId
	f.meta[aws.ToString(in.Name)] = m
	return &ssm.PutParameterOutput{Version: f.params[aws.ToString(in.Name)].Version, Tier: in.Tier}, nil
}

type stsFunc func() (*sts.GetCallerIdentityOutput, error)

func (f stsFunc) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return f()
}

// world is what one test's approverctl sees: EC2, SSM, STS, the
// environment and the terminal.
type world struct {
	ec2  *approvertest.EC2
	ssm  *fakeSSM
	orgs *fakeOrgs
	vars map[string]string
	// api replaces ec2 as the EC2 API the commands call, when set.
	api vpcendpoints.EC2API
	// stsErr fails GetCallerIdentity.
	stsErr error
	// terminal says whether stdin is a terminal; stdin is what is typed
	// (in, when set, reads it instead).
	terminal bool
	stdin    string
	in       io.Reader
	// signals are the interrupts the commands hear, when set.
	signals chan os.Signal
	// connects counts the connections to AWS (every command that calls
	// AWS connects first).
	connects int
	// last is the app of the last run.
	last *app
}

func newWorld() *world {
	return &world{ec2: approvertest.NewEC2(svc), ssm: newSSM(), orgs: newOrgs(), vars: map[string]string{}}
}

// app is an approverctl in the world, writing to out and errOut.
func (w *world) app(out, errOut io.Writer) *app {
	in := w.in
	if in == nil {
		in = strings.NewReader(w.stdin)
	}
	a := &app{stdout: out, stderr: errOut, getenv: func(k string) string { return w.vars[k] },
		stdin: in, terminal: func() bool { return w.terminal },
		connect: func(context.Context, globals) (*clients, error) {
			w.connects++
			var api vpcendpoints.EC2API = w.ec2
			if w.api != nil {
				api = w.api
			}
			return &clients{region: "us-east-1", ec2: api, ssm: w.ssm, sts: stsFunc(func() (*sts.GetCallerIdentityOutput, error) {
				if w.stsErr != nil {
					return nil, w.stsErr
				}
				return &sts.GetCallerIdentityOutput{Arn: aws.String(callerID)}, nil
			}), orgs: w.orgs.as, credentials: "EnvConfigCredentials"}, nil
		}}
	if w.signals != nil {
		a.interrupts = func() (<-chan os.Signal, func()) { return w.signals, func() {} }
	}
	w.last = a
	return a
}

// run runs approverctl in process and returns its output and exit code.
func (w *world) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut syncBuffer
	code = w.app(&out, &errOut).execute(args)
	return out.String(), errOut.String(), code
}

// syncBuffer is a bytes.Buffer safe for the command and its interrupt
// handling to write at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func file(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.json")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

func TestBadFlagsChangeNothing(t *testing.T) {
	good := file(t, "111111111111")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown output", []string{"--output", "yaml", "policy", "validate", good}, nil, `--output "yaml": must be table or json`},
		{"explain: bad account", []string{"policy", "explain", good, "--account", "12345", "--service", svc}, nil, `--account "12345"`},
		{"explain: bad endpoint and region", []string{"policy", "explain", good, "--account", "111111111111", "--service", svc,
			"--endpoint", "vpc-1", "--endpoint-region", "EU"}, nil, `--endpoint "vpc-1"`},
		{"explain: no account", []string{"policy", "explain", good, "--service", svc}, nil, `required flag(s) "account"`},
		{"push: no parameter", []string{"policy", "push", good}, nil, `required flag(s) "parameter"`},
		{"push: a path", []string{"policy", "push", good, "--parameter", "/p/"}, nil, "name one parameter"},
		{"plan: no policy", []string{"policy", "plan", good}, nil, "no policy: give --parameter NAME or set POLICY_PARAMETER"},
		{"plan: a path needs --part", []string{"policy", "plan", good, "--parameter", "/p/"}, nil, "give --part NAME"},
		{"plan: --part outside the path", []string{"policy", "plan", good, "--parameter", "/p/", "--part", "/q/x"}, nil, `--part "/q/x"`},
		{"plan: --part of one parameter", []string{"policy", "plan", good, "--parameter", "/x", "--part", "a"}, nil, "is one parameter, not a path"},
		{"pending: bad service", []string{"pending", "--parameter", "/x", "--service", "svc-1"}, nil, "--service"},
		{"sweep: bad SERVICE_IDS", []string{"sweep", "--parameter", "/x"}, map[string]string{"SERVICE_IDS": "nope"}, "SERVICE_IDS"},
		{"accept: no reason", []string{"accept", "--service", svc, "vpce-0000000000000000a"}, nil, `required flag(s) "reason"`},
		{"accept: blank reason", []string{"accept", "--service", svc, "--reason", "  ", "vpce-0000000000000000a"}, nil, "--reason is required"},
		{"reject: no service", []string{"reject", "--reason", "r", "vpce-0000000000000000a"}, nil, `required flag(s) "service"`},
		{"accept: no endpoint", []string{"accept", "--service", svc, "--reason", "r"}, nil, "requires at least 1 arg"},
		{"accept: bad endpoint", []string{"accept", "--service", svc, "--reason", "r", "vpc-1"}, nil, `endpoint "vpc-1"`},
		{"reject: bad service", []string{"reject", "--service", "svc-1", "--reason", "r", "vpce-0000000000000000a"}, nil, `service "svc-1"`},
		{"accept: bad service and endpoint, all said", []string{"accept", "--service", "bad", "--reason", "r", "vpce-1"}, nil,
			`--service "bad": want an endpoint service ID (vpce-svc-...); endpoint "vpce-1": want a VPC endpoint ID`},
		{"push: no such file", []string{"policy", "push", "/nonexistent/policy.json", "--parameter", "/x", "--yes"}, nil, "no such file"},
		{"push: an invalid file", []string{"policy", "push", file(t, "12345"), "--parameter", "/x", "--yes"}, nil, `"12345" is not a 12-digit account ID`},
		{"push: a file SSM cannot hold", []string{"policy", "push", file(t, accounts(700)), "--parameter", "/x", "--yes"}, nil,
			"cannot be stored; nothing was written"},
		{"push: a plain list as a root part", []string{"policy", "push", good, "--parameter", "/p/root", "--yes"}, nil, "the root part must be a JSON document"},
		{"push: bad --role", []string{"policy", "push", good, "--parameter", "/x", "--role", "nope", "--yes"}, nil, "--role"},
		{"plan: no such file", []string{"policy", "plan", "/nonexistent/policy.json", "--parameter", "/x"}, nil, "no such file"},
		{"plan: an invalid file", []string{"policy", "plan", file(t, "[]"), "--parameter", "/x"}, nil, "a JSON array is not a policy"},
		{"plan: an invalid part", []string{"policy", "plan", file(t, "version: 1"), "--parameter", "/p/", "--part", "a"}, nil, "reads as YAML"},
		{"sweep: --dry-run and --yes", []string{"sweep", "--parameter", "/x", "--dry-run", "--yes"}, nil, "nothing to approve"},
		{"org: bad account", []string{"org", "1234"}, nil, `account "1234"`},
		{"audit: bad ORGANIZATION_ROLE_ARN", []string{"audit", "--parameter", "/x"}, map[string]string{"ORGANIZATION_ROLE_ARN": "role"}, "ORGANIZATION_ROLE_ARN"},
		{"validate: bad --role", []string{"policy", "validate", file(t, `{"version": 1, "rules": [{"name": "a", "action": "accept", "organizations": ["o-abc1234567"]}]}`),
			"--role", "nope"}, nil, "--role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			for k, v := range tt.env {
				w.vars[k] = v
			}
			w.ec2.Add(svc, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
			_, stderr, code := w.run(t, tt.args...)
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, tt.want)
			assert.Zero(t, w.connects, "arguments are checked before any AWS call")
			assert.Empty(t, w.ssm.puts, "nothing written")
			assert.Empty(t, w.ec2.Accepted)
			assert.Empty(t, w.ec2.Rejected)
			assert.Empty(t, w.ec2.TagCalls)
		})
	}
}

// accounts is a plain list of n distinct account IDs, 13 bytes each.
func accounts(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%012d\n", 100000000000+i)
	}
	return b.String()
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"policy", "--help"}, {"policy", "validate", "--help"}, {"policy", "explain", "--help"},
		{"policy", "plan", "--help"}, {"policy", "push", "--help"}, {"pending", "--help"}, {"sweep", "--help"},
		{"accept", "--help"}, {"reject", "--help"}, {"org", "--help"}, {"audit", "--help"}, {"version", "--help"}} {
		out, _, code := newWorld().run(t, args...)
		assert.Equal(t, 0, code, args)
		assert.Contains(t, out, "Usage:", args)
	}
}

func TestValidateAndExplain(t *testing.T) {
	w := newWorld()
	good := file(t, `{"version": 1, "defaultAction": "manual", "revoke": true, "rules": [
	  {"name": "one-endpoint", "action": "accept", "accounts": ["111111111111"], "endpoints": ["vpce-0a1b2c3d4e5f67890"]}]}`)
	bad := file(t, `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["12345"]}]}`)

	out, _, code := w.run(t, "policy", "validate", good)
	assert.Equal(t, 0, code)
	assert.Equal(t, good+": valid, 1 rule(s), defaultAction manual, revoke (at most 10 per invocation), at most 100 rejections per invocation\n", out)

	// A root part: its delegations are checked too.
	root := file(t, `{"version": 1, "maxRejections": 20, "delegate": [{"part": "payments", "services": ["`+svc+`"], "actions": ["accept"]}], "rules": []}`)
	out, _, code = w.run(t, "policy", "validate", root)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "valid, root part, 0 rule(s)")
	assert.Contains(t, out, "at most 20 rejections per invocation")
	assert.Contains(t, out, "delegates payments: accept on "+svc)
	badRoot := file(t, `{"version": 1, "delegate": [{"part": "a", "services": ["svc-1"]}, {"part": "a", "services": ["`+svc+`"]}], "rules": []}`)
	out, _, code = w.run(t, "policy", "validate", badRoot)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, `delegate[0].services[0]: "svc-1" is not an endpoint service ID`)
	assert.Contains(t, out, `delegate[1].part: "a" is already delegated by delegate[0]`)
	out, _, code = w.run(t, "policy", "validate", bad, "-o", "json")
	assert.Equal(t, 1, code)
	var v struct {
		Valid    bool
		Problems []map[string]string
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	assert.False(t, v.Valid)
	assert.Equal(t, []map[string]string{{"path": "rules[0].accounts[0]", "message": `"12345" is not a 12-digit account ID or "*"`, "severity": "error"}}, v.Problems)

	// The policy and the CLI agree on IDs: an upper-case endpoint ID is the
	// same endpoint.
	out, _, code = w.run(t, "policy", "explain", good, "--account", "111111111111", "--service", svc, "--endpoint", "vpce-0A1B2C3D4E5F67890")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "DECISION")
	assert.Contains(t, out, "matched accept rule one-endpoint")
	out, _, code = w.run(t, "-o", "json", "policy", "explain", good, "--account", "222222222222", "--service", svc, "--endpoint-region", "eu-west-1")
	assert.Equal(t, 0, code)
	var e struct{ Action, Rule, Region string }
	require.NoError(t, json.Unmarshal([]byte(out), &e))
	assert.Equal(t, "manual", e.Action)
	assert.Equal(t, "default", e.Rule)
	assert.Equal(t, "eu-west-1", e.Region)
}

func TestPlan(t *testing.T) {
	const stored = `{"version": 1, "rules": [{"name": "partners", "action": "accept", "accounts": ["111111111111", "222222222222"]}]}`
	setup := func() *world {
		w := newWorld()
		w.vars["SERVICE_IDS"] = svc
		w.ec2.Add(svc, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
		w.ec2.Add(svc, "vpce-0000000000000000b", "222222222222", "pendingAcceptance", "")
		w.ec2.Add(svc, "vpce-0000000000000000c", "222222222222", "available", "")
		return w
	}
	t.Run("the stored policy itself: exit 0", func(t *testing.T) {
		w := setup()
		w.ssm.put("/pl/policy", stored)
		out, stderr, code := w.run(t, "policy", "plan", file(t, stored), "--parameter", "/pl/policy")
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, out, "No changes")
		assert.Contains(t, out, "Plan: 0 to accept, 0 to reject, 0 left to a person, 0 to revoke; 2 pending and 1 accepted connection(s) read on 1 service(s).")
	})
	t.Run("a change: exit 2, as a table and as JSON", func(t *testing.T) {
		w := setup()
		w.vars["POLICY_PARAMETER"] = "/pl/policy"
		w.ssm.put("/pl/policy", stored)
		proposed := file(t, `{"version": 1, "revoke": true, "maxRevocations": 0, "rules": [{"name": "a", "action": "accept", "accounts": ["111111111111"]}]}`)
		out, _, code := w.run(t, "policy", "plan", proposed)
		assert.Equal(t, 2, code)
		for _, want := range []string{"vpce-0000000000000000b", "accept (partners)", "reject (default)", "vpce-0000000000000000c", "keep", "revoke (default)",
			"Plan: 0 to accept, 1 to reject, 0 left to a person, 1 to revoke", "The guard would hold: 1 revocations exceed maxRevocations 0"} {
			assert.Contains(t, out, want)
		}
		out, _, code = w.run(t, "policy", "plan", proposed, "--output", "json")
		assert.Equal(t, 2, code)
		var p struct {
			Changed    bool
			GuardHolds bool
			Summary    struct{ Reject, Revoke int }
			Changes    []struct {
				EndpointID string
				Current    struct{ Action, Rule string }
				Proposed   struct{ Action, Rule string }
			}
		}
		require.NoError(t, json.Unmarshal([]byte(out), &p), out)
		assert.True(t, p.Changed)
		assert.True(t, p.GuardHolds)
		assert.Equal(t, 1, p.Summary.Reject)
		assert.Equal(t, 1, p.Summary.Revoke)
		require.Len(t, p.Changes, 2)
		assert.Equal(t, "vpce-0000000000000000b", p.Changes[0].EndpointID)
		assert.Equal(t, "accept", p.Changes[0].Current.Action)
		assert.Equal(t, "reject", p.Changes[0].Proposed.Action)
		assert.Empty(t, w.ec2.Accepted, "a plan changes nothing")
		assert.Empty(t, w.ec2.Rejected)
	})
	t.Run("nothing stored: every action is a change", func(t *testing.T) {
		w := setup()
		out, _, code := w.run(t, "policy", "plan", file(t, "111111111111"), "--parameter", "/pl/none")
		assert.Equal(t, 2, code)
		assert.Contains(t, out, "Nothing is stored at /pl/none yet.")
		assert.Contains(t, out, "Plan: 1 to accept, 1 to reject")
	})
	t.Run("an invalid stored policy decides nothing", func(t *testing.T) {
		w := setup()
		w.ssm.put("/pl/policy", `{"version": 2}`)
		out, _, code := w.run(t, "policy", "plan", file(t, stored), "--parameter", "/pl/policy")
		assert.Equal(t, 2, code)
		assert.Contains(t, out, "The stored policy is invalid")
	})
	t.Run("an invalid file: exit 1", func(t *testing.T) {
		w := setup()
		_, stderr, code := w.run(t, "policy", "plan", file(t, `{"version": 1}`), "--parameter", "/pl/policy")
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, "is invalid")
	})
	t.Run("a part under a path: merged with its root, and a part overstepping refused", func(t *testing.T) {
		w := setup()
		w.ssm.put("/pl/parts/root", `{"version": 1, "delegate": [{"part": "partners", "services": ["`+svc+`"], "actions": ["accept"]},
		  {"part": "more", "services": ["`+svc+`"], "actions": ["accept"]}],
		  "rules": [{"name": "blocked", "action": "reject", "accounts": ["222222222222"]}]}`)
		w.ssm.put("/pl/parts/partners", "111111111111")
		w.ssm.put("/pl/parts/more", "222222222222")
		out, stderr, code := w.run(t, "policy", "plan", file(t, "222222222222"), "--parameter", "/pl/parts/", "--part", "more")
		assert.Equal(t, 0, code, "the root still rejects 2222's request: %s%s", out, stderr)
		// A single parameter under a rooted path is planned as a part of it.
		out, stderr, code = w.run(t, "policy", "plan", file(t, "222222222222"), "--parameter", "/pl/parts/more")
		assert.Equal(t, 0, code, "%s%s", out, stderr)
		_, stderr, code = w.run(t, "policy", "plan", file(t, `{"version": 1, "defaultAction": "manual", "rules": []}`),
			"--parameter", "/pl/parts/", "--part", "/pl/parts/more")
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, "would be refused by the root part /pl/parts/root")
		assert.Contains(t, stderr, "defaultAction: only the root part may set it")
	})
	t.Run("the rejection guard", func(t *testing.T) {
		w := setup()
		w.ssm.put("/pl/policy", stored)
		out, stderr, code := w.run(t, "policy", "plan", file(t, `{"version": 1, "maxRejections": 1, "rules": []}`), "--parameter", "/pl/policy")
		require.Equal(t, 2, code, stderr)
		assert.Contains(t, out, "The rejection guard would hold: 2 rejections exceed maxRejections 1")
	})
}

func TestPush(t *testing.T) {
	t.Run("an existing parameter keeps its type and key, found on a later page", func(t *testing.T) {
		w := newWorld()
		w.ssm.put("/pl/policy", "111111111111")
		w.ssm.meta["/pl/policy"] = ssmtypes.ParameterMetadata{Name: aws.String("/pl/policy"), Type: ssmtypes.ParameterTypeSecureString,
			KeyId: aws.String("alias/policy"), Tier: ssmtypes.ParameterTierAdvanced}
		w.ec2.Add(svc, "vpce-0000000000000000a", "222222222222", "pendingAcceptance", "")
		out, stderr, code := w.run(t, "policy", "push", file(t, "111111111111,222222222222"), "--parameter", "/pl/policy", "--yes")
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, out, "Plan: 1 to accept, 0 to reject", "the plan is printed before writing")
		assert.Contains(t, out, "/pl/policy: version 2 written (SecureString, Advanced tier)")
		require.Len(t, w.ssm.puts, 1)
		assert.Equal(t, "alias/policy", aws.ToString(w.ssm.puts[0].KeyId))
		assert.Equal(t, "pendingAcceptance", w.ec2.State("vpce-0000000000000000a"), "push decides nothing itself")
	})
	// A root under /pl/parts/ delegating b; POLICY_PARAMETER names nothing:
	// push finds the path by its root.
	root := `{"version": 1, "defaultAction": "manual", "delegate": [{"part": "b", "services": ["` + svc + `"], "actions": ["accept"]}], "rules": []}`
	refusals := []struct {
		name, text, parameter, want string
	}{
		{"a part that sets what only the root may", `{"version": 1, "defaultAction": "reject", "rules": []}`, "/pl/parts/b",
			"defaultAction: only the root part may set it"},
		{"a part that uses an action it was not delegated", `{"version": 1, "rules": [{"name": "x", "action": "reject", "accounts": ["111111111111"]}]}`, "/pl/parts/b",
			`rules[0].action: "reject" is not delegated to this part`},
		{"a part on a service it was not delegated", `{"version": 1, "rules": [{"name": "x", "action": "accept", "accounts": ["*"], "services": ["vpce-svc-0ffffffffffffffff"]}]}`, "/pl/parts/b",
			"vpce-svc-0ffffffffffffffff is not delegated to this part"},
		{"a part the root does not delegate", "111111111111", "/pl/parts/c", "would be ignored"},
		{"a part deeper under the path", "111111111111", "/pl/parts/teams/c", "would be ignored"},
		{"an invalid root", `{"version": 1, "delegate": [{"part": "b", "services": []}], "rules": []}`, "/pl/parts/root", "delegate[0].services: must not be empty"},
	}
	for _, tt := range refusals {
		t.Run(tt.name+": refused, with no POLICY_PARAMETER", func(t *testing.T) {
			w := newWorld()
			w.ssm.put("/pl/parts/root", root)
			w.ssm.put("/pl/parts/b", "111111111111")
			_, stderr, code := w.run(t, "policy", "push", file(t, tt.text), "--parameter", tt.parameter, "--yes")
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, "nothing was written")
			assert.Contains(t, stderr, tt.want)
			assert.Empty(t, w.ssm.puts)
		})
	}
	t.Run("a delegated part: JSON with the plan", func(t *testing.T) {
		w := newWorld()
		w.ssm.put("/pl/parts/root", root)
		w.ec2.Add(svc, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
		out, stderr, code := w.run(t, "-o", "json", "policy", "push", file(t, "111111111111"), "--parameter", "/pl/parts/b", "--secure", "--yes")
		require.Equal(t, 0, code, stderr)
		var p struct {
			Version int64
			Type    string
			Plan    struct{ Summary struct{ Accept int } }
		}
		require.NoError(t, json.Unmarshal([]byte(out), &p), out)
		assert.Equal(t, int64(1), p.Version)
		assert.Equal(t, "SecureString", p.Type)
		assert.Equal(t, 1, p.Plan.Summary.Accept, "planned as part of the path's policy")
	})
	t.Run("a new root part is checked as a root", func(t *testing.T) {
		w := newWorld()
		_, stderr, code := w.run(t, "policy", "push", file(t, root), "--parameter", "/pl/new/root", "--yes")
		require.Equal(t, 0, code, stderr)
		require.Len(t, w.ssm.puts, 1)
	})
}

func TestPendingAndSweep(t *testing.T) {
	w := newWorld()
	w.vars["POLICY_PARAMETER"] = "/pl/policy"
	w.ssm.put("/pl/policy", `{"version": 1, "defaultAction": "manual", "rules": [{"name": "p", "action": "accept", "accounts": ["111111111111"]}]}`)
	w.ec2.Add(svc, "vpce-0000000000000000a", "111111111111", "pendingAcceptance", "")
	w.ec2.Add(svc, "vpce-0000000000000000b", "333333333333", "pendingAcceptance", "")

	out, _, code := w.run(t, "pending")
	assert.Equal(t, 0, code)
	for _, want := range []string{"ENDPOINT", "WOULD", "ANNOUNCED", "vpce-0000000000000000a", "accept", "vpce-0000000000000000b", "manual"} {
		assert.Contains(t, out, want)
	}
	out, _, code = w.run(t, "pending", "-o", "json")
	assert.Equal(t, 0, code)
	var p struct {
		Pending []struct{ EndpointID, WouldDecide, ConnectionID string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &p))
	require.Len(t, p.Pending, 2)
	assert.Equal(t, approvertest.ConnectionID("vpce-0000000000000000a"), p.Pending[0].ConnectionID)

	out, _, code = w.run(t, "sweep", "--dry-run")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "0 accepted, 0 rejected, 0 revoked, 0 held, 1 manual, 0 failed, 1 decided in dry run (nothing changed) on 1 service(s) (dry run: nothing changed)")
	assert.Equal(t, "pendingAcceptance", w.ec2.State("vpce-0000000000000000a"))

	out, _, code = w.run(t, "sweep", "--yes")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "1 accepted, 0 rejected, 0 revoked, 0 held, 1 manual, 0 failed on 1 service(s)")
	assert.Equal(t, "available", w.ec2.State("vpce-0000000000000000a"))
	assert.Equal(t, "accepted", w.ec2.Stamp("vpce-0000000000000000a")["privatelink-approver:decision"], "a sweep by hand stamps as the function does")

	out, _, code = w.run(t, "pending")
	assert.Equal(t, 0, code)
	assert.NotContains(t, out, "vpce-0000000000000000a")
}

func TestAcceptAndReject(t *testing.T) {
	w := newWorld()
	w.ec2.Add(svc, "vpce-0000000000000000a", "333333333333", "pendingAcceptance", "")
	w.ec2.Add(svc, "vpce-0000000000000000b", "333333333333", "pendingAcceptance", "")
	w.ec2.Add(svc, "vpce-0000000000000000c", "444444444444", "available", "")

	out, stderr, code := w.run(t, "accept", "--service", svc, "--reason", "NET-1234, approved by the partner team",
		"vpce-0000000000000000a", "vpce-0000000000000000b", "--yes")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "2 accepted, 0 rejected, 0 revoked, 0 held, 0 manual, 0 failed by "+callerID)
	assert.Len(t, w.ec2.Accepted, 1, "one batched call")
	st := w.ec2.Stamp("vpce-0000000000000000a")
	assert.Equal(t, map[string]string{"privatelink-approver:decision": "accepted", "privatelink-approver:rule": "person",
		"privatelink-approver:by": callerID, "privatelink-approver:reason": "NET-1234, approved by the partner team",
		"privatelink-approver:decided-at": st["privatelink-approver:decided-at"]}, st)

	out, _, code = w.run(t, "-o", "json", "reject", "--service", svc, "--reason", "contract ended", "vpce-0000000000000000c", "vpce-0000000000000000f", "--yes")
	assert.Equal(t, 1, code, "an unknown endpoint fails the command")
	var r struct {
		Revoked, Failed int
		Decisions       []struct{ EndpointID, Result, By string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	assert.Equal(t, 1, r.Revoked)
	assert.Equal(t, 1, r.Failed)
	assert.Equal(t, "rejected", w.ec2.State("vpce-0000000000000000c"))
	assert.Equal(t, "revoked", w.ec2.Stamp("vpce-0000000000000000c")["privatelink-approver:decision"])
	assert.Equal(t, callerID, r.Decisions[0].By)
}

func TestValidateARootWithoutDelegate(t *testing.T) {
	w := newWorld()
	f := file(t, `{"version": 1, "rules": [{"name": "a/b", "action": "accept", "accounts": ["*"]}]}`)
	_, _, code := w.run(t, "policy", "validate", f)
	assert.Equal(t, 0, code, "valid as a policy in one parameter")
	out, _, code := w.run(t, "policy", "validate", "--root", f)
	assert.Equal(t, 1, code, "a root's rule names hold no /")
	assert.Contains(t, out, "must not contain /")
}

//go:build e2e

// Package e2e drives the real bootstrap binary under the Lambda Runtime
// Interface Emulator against moto with the PrivateLink extension, and
// asserts outcomes: connection states in the emulator, invocation errors,
// answers and decision lines.
//
// Run with `make test-e2e` (or `go test -tags e2e ./test/e2e`). It needs
// python3 with moto, and aws-lambda-rie (`make tools`); APPROVER_BOOTSTRAP
// may name a prebuilt binary, else the test builds one.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

var (
	moto      *localaws.Moto
	bootstrap string
	ctl       string
	rie       string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "approver-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	if bootstrap, err = buildBootstrap(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if ctl, err = buildCtl(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if rie, err = findRIE(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	python := os.Getenv("PYTHON")
	if python == "" {
		python = "python3"
	}
	moto, err = localaws.StartMoto(python, dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer moto.Stop()
	return m.Run()
}

func buildBootstrap(dir string) (string, error) {
	if p := os.Getenv("APPROVER_BOOTSTRAP"); p != "" {
		return filepath.Abs(p)
	}
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, "../../functions/approver")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the function: %v\n%s", err, b)
	}
	return out, nil
}

func buildCtl(dir string) (string, error) {
	if p := os.Getenv("APPROVERCTL"); p != "" {
		return filepath.Abs(p)
	}
	out := filepath.Join(dir, "approverctl")
	cmd := exec.Command("go", "build", "-o", out, "../../cmd/approverctl")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build approverctl: %v\n%s", err, b)
	}
	return out, nil
}

func findRIE() (string, error) {
	if p := os.Getenv("AWS_LAMBDA_RIE"); p != "" {
		return filepath.Abs(p)
	}
	if p, err := filepath.Abs(filepath.Join("..", "..", "bin", "aws-lambda-rie")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p, nil // where `make tools` puts it
		}
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "aws-lambda-rie")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("aws-lambda-rie not found: run `make tools` or set AWS_LAMBDA_RIE")
	}
	return p, nil
}

// ctx bounds one test's calls.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// scenario is one test's provider: its services and policy parameter.
type scenario struct {
	t         *testing.T
	region    string
	services  []localaws.Service
	parameter string
}

// newScenario creates n endpoint services and names a policy parameter
// of the test's own.
func newScenario(t *testing.T, n int) *scenario {
	t.Helper()
	return newScenarioIn(t, n, localaws.Region)
}

// newScenarioIn is newScenario with the provider in region: a region of
// its own isolates a test that sweeps every service the provider owns.
func newScenarioIn(t *testing.T, n int, region string) *scenario {
	t.Helper()
	name := regexp.MustCompile(`[^a-zA-Z0-9_.-]+`).ReplaceAllString(t.Name(), "-")
	s := &scenario{t: t, region: region, parameter: "/e2e/" + name}
	svcs, err := moto.CreateServices(ctx(t), region, n)
	require.NoError(t, err)
	s.services = svcs
	return s
}

func (s *scenario) svc() localaws.Service { return s.services[0] }

// endpoint creates a pending endpoint from account to svc.
func (s *scenario) endpoint(svc localaws.Service, account string, opts ...func(*localaws.Endpoint)) string {
	s.t.Helper()
	e := localaws.Endpoint{Account: account}
	for _, o := range opts {
		o(&e)
	}
	id, err := moto.CreateEndpoint(ctx(s.t), svc, e)
	require.NoError(s.t, err)
	return id
}

func inRegion(r string) func(*localaws.Endpoint) {
	return func(e *localaws.Endpoint) { e.Region = r }
}

func tagged(k, v string) func(*localaws.Endpoint) {
	return func(e *localaws.Endpoint) {
		if e.Tags == nil {
			e.Tags = map[string]string{}
		}
		e.Tags[k] = v
	}
}

// nextSecond returns once the clock has passed into the next second. EC2
// gives a request's creation to the second, and an event (not a sweep)
// leaves for the sweep a rejection of a request made before the second the
// policy last changed in: a test that changes the policy after creating
// requests waits for the second to turn first, so that its requests did
// wait through the change whatever the machine's speed.
func nextSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
}

// allowlist is the plain-list policy of accounts as a JSON document whose
// maxRejections lets a test of scale reject many requests at once.
func allowlist(maxRejections int, accounts ...string) string {
	quoted, _ := json.Marshal(accounts)
	return fmt.Sprintf(`{"version": 1, "maxRejections": %d, "rules": [{"name": "allowlist", "action": "accept", "accounts": %s}]}`, maxRejections, quoted)
}

func (s *scenario) policy(value string) {
	s.t.Helper()
	require.NoError(s.t, moto.PutPolicy(ctx(s.t), s.region, s.parameter, value, ""))
}

// states returns the state of every connection of svc.
func (s *scenario) states(svc localaws.Service) map[string]string {
	s.t.Helper()
	st, err := moto.States(ctx(s.t), svc)
	require.NoError(s.t, err)
	return st
}

// tags returns the tags of the connection of endpoint id to svc.
func (s *scenario) tags(svc localaws.Service, id string) map[string]string {
	s.t.Helper()
	conns, err := moto.Connections(ctx(s.t), svc)
	require.NoError(s.t, err)
	c, ok := conns[id]
	require.True(s.t, ok, "no connection from %s to %s", id, svc.ID)
	return c.Tags
}

// function starts the real binary managing the scenario's services (or
// as env says), with no policy cache unless env sets one.
func (s *scenario) function(env ...string) *localaws.Function {
	s.t.Helper()
	var ids []string
	for _, svc := range s.services {
		ids = append(ids, svc.ID)
	}
	base := append(moto.FunctionEnv(s.region),
		"POLICY_PARAMETER="+s.parameter,
		"SERVICE_IDS="+strings.Join(ids, ","),
		"POLICY_CACHE_SECONDS=0",
	)
	f, err := localaws.StartFunction(rie, bootstrap, append(base, env...), nil)
	require.NoError(s.t, err)
	s.t.Cleanup(func() {
		if s.t.Failed() {
			s.t.Logf("function output:\n%s", f.Output())
		}
		f.Stop()
	})
	return f
}

// sample reads events/name with the scenario's first service and parameter
// in place of the sample's.
func (s *scenario) sample(name string) []byte {
	s.t.Helper()
	b, err := localaws.SampleEvent(name,
		localaws.SampleServiceID, s.svc().ID,
		localaws.SamplePolicyParameter, s.parameter)
	require.NoError(s.t, err)
	return b
}

// summary is the JSON an EventBridge invocation returns.
type summary struct {
	Trigger string `json:"trigger"`
	Revoked int    `json:"revoked"`
	Held    int    `json:"held"`
	// NotReached are the services the deadline left for the next sweep.
	NotReached []string   `json:"notReached"`
	Guard      string     `json:"guard"`
	Version    string     `json:"policyVersion"`
	DryRun     bool       `json:"dryRun"`
	Services   []string   `json:"services"`
	Accepted   int        `json:"accepted"`
	Rejected   int        `json:"rejected"`
	Manual     int        `json:"manual"`
	Failed     int        `json:"failed"`
	Decisions  []decision `json:"decisions"`
	Ignored    string     `json:"ignored"`
}

type decision struct {
	ServiceID  string `json:"serviceId"`
	EndpointID string `json:"endpointId"`
	Owner      string `json:"owner"`
	Action     string `json:"action"`
	Rule       string `json:"rule"`
	Reason     string `json:"reason"`
	DryRun     bool   `json:"dryRun"`
	Trigger    string `json:"trigger"`
	Result     string `json:"result"`
	Detail     string `json:"detail"`
	ErrorCode  string `json:"errorCode"`
	// ConnectionID is the connection the decision's stamp is on.
	ConnectionID string `json:"connectionId"`
	StampError   string `json:"stampError"`
	Revoked      bool   `json:"revoked"`
	By           string `json:"by"`
}

func (s summary) rules() map[string]string {
	out := map[string]string{}
	for _, d := range s.Decisions {
		out[d.EndpointID] = d.Rule
	}
	return out
}

// invoke expects success and decodes the answer into out.
func invoke(t *testing.T, f *localaws.Function, payload []byte, out any) {
	t.Helper()
	answer, err := f.Invoke(ctx(t), payload)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(answer, out), "answer: %s", answer)
}

// invokeErr expects the invocation to fail and returns its message.
func invokeErr(t *testing.T, f *localaws.Function, payload []byte) string {
	t.Helper()
	answer, err := f.Invoke(ctx(t), payload)
	require.Error(t, err, "answer: %s", answer)
	var fe *localaws.FunctionError
	require.ErrorAs(t, err, &fe)
	return fe.Message
}

// sqsEvent builds an SQS event whose records carry bodies, with message IDs
// m0, m1, ...
func sqsEvent(t *testing.T, bodies ...string) []byte {
	t.Helper()
	out, err := localaws.SQSEvent(bodies...)
	require.NoError(t, err)
	return out
}

// snsEnvelope wraps message as SNS delivers it to SQS without raw delivery.
func snsEnvelope(t *testing.T, message string) string {
	t.Helper()
	out, err := localaws.SNSEnvelope(message)
	require.NoError(t, err)
	return out
}

type batchResponse struct {
	BatchItemFailures []struct {
		ItemIdentifier string `json:"itemIdentifier"`
	} `json:"batchItemFailures"`
}

func (b batchResponse) ids() []string {
	out := []string{}
	for _, f := range b.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

// jsonReplace replaces old with new in a sample payload.
func jsonReplace(b []byte, old, new string) ([]byte, error) {
	if !strings.Contains(string(b), old) {
		return nil, fmt.Errorf("%q not in the payload", old)
	}
	return []byte(strings.ReplaceAll(string(b), old, new)), nil
}

// allStates returns the state of every connection of every service of the
// scenario.
func (s *scenario) allStates() map[string]string {
	s.t.Helper()
	all := map[string]string{}
	for _, svc := range s.services {
		for id, st := range s.states(svc) {
			all[id] = st
		}
	}
	return all
}

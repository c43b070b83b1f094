package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/membership"
)

var _ organizationsLister = (*organizations.Client)(nil)

const (
	acctA = "111100000001"
	acctB = "111100000002"
	acctC = "111100000003"
	// fleetPolicy accepts 111111111111 and leaves the others to a person.
	fleetPolicy = `{"version": 1, "defaultAction": "manual", "rules": [{"name": "partner", "action": "accept", "accounts": ["111111111111"]}]}`
)

// fleetWorld is a fleet seen from the caller's world: each account and
// Region has its own EC2 and SSM, and refused accounts' roles cannot be
// assumed.
type fleetWorld struct {
	*world
	mu      sync.Mutex
	targets map[target]*world
	refused map[string]bool
	// roles are the role ARNs assumed.
	roles []string
}

func newFleetWorld() *fleetWorld {
	return &fleetWorld{world: newWorld(), targets: map[target]*world{}, refused: map[string]bool{}}
}

// in is the world of account in region, made on first use.
func (f *fleetWorld) in(account, region string) *world {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := target{account: account, region: region}
	if f.targets[t] == nil {
		f.targets[t] = newWorld()
	}
	return f.targets[t]
}

func (f *fleetWorld) assume(role string) assumedClients {
	f.mu.Lock()
	f.roles = append(f.roles, role)
	f.mu.Unlock()
	parsed, err := arn.Parse(role)
	return func(_ context.Context, region string) (*clients, error) {
		if err != nil {
			return nil, err
		}
		if f.refused[parsed.AccountID] {
			return nil, roleError(role, &smithy.GenericAPIError{Code: "AccessDenied", Message: "User is not authorized to perform: sts:AssumeRole on resource: " + role})
		}
		w := f.in(parsed.AccountID, region)
		return &clients{region: region, ec2: w.ec2, ssm: w.ssm}, nil
	}
}

// run runs approverctl in the caller's world, with the fleet's roles to
// assume.
func (f *fleetWorld) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut syncBuffer
	a := f.app(&out, &errOut)
	connect := a.connect
	a.connect = func(ctx context.Context, g globals) (*clients, error) {
		c, err := connect(ctx, g)
		if err == nil {
			c.assume = f.assume
		}
		return c, err
	}
	code = a.execute(args)
	return out.String(), errOut.String(), code
}

// pendingIn adds a pending request from 111111111111 (which the policy
// accepts) in account and region, with the policy stored, and returns its
// endpoint ID.
func (f *fleetWorld) pendingIn(account, region string, n int) string {
	w := f.in(account, region)
	endpoint := fmt.Sprintf("vpce-%017x", n)
	w.ec2.Add(svc, endpoint, "111111111111", "pendingAcceptance", "")
	w.ssm.put("/pl/policy", fleetPolicy)
	return endpoint
}

func TestFleetArguments(t *testing.T) {
	good := file(t, fleetPolicy)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no accounts", []string{"fleet", "pending", "--parameter", "/x"}, "give --accounts A,B,... or --ou OU_ID"},
		{"empty accounts", []string{"fleet", "pending", "--accounts", "", "--parameter", "/x"}, "--accounts: give at least one account ID"},
		{"a short account", []string{"fleet", "pending", "--accounts", acctA + ",12345", "--parameter", "/x"}, `--accounts: "12345" is not a 12-digit account ID`},
		{"accounts and an OU", []string{"fleet", "pending", "--accounts", acctA, "--ou", "ou-ab12-11111111", "--parameter", "/x"}, "give --accounts or --ou, not both"},
		{"a bad OU", []string{"fleet", "audit", "--ou", "ou-1", "--parameter", "/x"}, `--ou "ou-1": want an OU ID`},
		{"an org role without an OU", []string{"fleet", "pending", "--accounts", acctA, "--org-role", "arn:aws:iam::999999999999:role/r", "--parameter", "/x"},
			"--org-role lists the accounts of --ou"},
		{"a bad org role", []string{"fleet", "pending", "--ou", "r-ab12", "--org-role", "reader", "--parameter", "/x"}, "--org-role"},
		{"an empty Region", []string{"fleet", "pending", "--accounts", acctA, "--regions", "eu-west-1,,us-east-1", "--parameter", "/x"}, "--regions: an empty Region"},
		{"no Region", []string{"fleet", "pending", "--accounts", acctA, "--regions", "", "--parameter", "/x"}, "--regions: give at least one Region"},
		{"a bad Region", []string{"fleet", "pending", "--accounts", acctA, "--regions", "Europe", "--parameter", "/x"}, `--regions: "Europe" is not a Region name`},
		{"a bad role name", []string{"fleet", "pending", "--accounts", acctA, "--role-name", "role/reader", "--parameter", "/x"}, `--role-name "role/reader"`},
		{"no policy", []string{"fleet", "pending", "--accounts", acctA}, "no policy: give --parameter NAME"},
		{"every problem at once", []string{"fleet", "pending", "--accounts", "1", "--regions", "x"}, `"1" is not a 12-digit account ID; --regions: "x" is not a Region name such as eu-west-1; no policy`},
		{"plan: no file", []string{"fleet", "plan", "--accounts", acctA, "--parameter", "/x"}, "accepts 1 arg(s)"},
		{"plan: an invalid file", []string{"fleet", "plan", file(t, "12345"), "--accounts", acctA, "--parameter", "/x"}, `"12345" is not a 12-digit account ID`},
		{"plan: a path needs --part", []string{"fleet", "plan", good, "--accounts", acctA, "--parameter", "/p/"}, "give --part NAME"},
		{"plan: bad flags before the file", []string{"fleet", "plan", "/nonexistent.json", "--accounts", "1", "--parameter", "/x"}, `"1" is not a 12-digit account ID`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleetWorld()
			_, stderr, code := f.run(t, tt.args...)
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, tt.want)
			assert.Zero(t, f.connects, "arguments are checked before any AWS call")
			assert.Empty(t, f.roles, "no role assumed")
		})
	}
}

func TestFleetHelp(t *testing.T) {
	for _, args := range [][]string{{"fleet", "--help"}, {"fleet", "pending", "--help"}, {"fleet", "plan", "--help"}, {"fleet", "audit", "--help"}} {
		out, _, code := newFleetWorld().run(t, args...)
		assert.Equal(t, 0, code, args)
		assert.Contains(t, out, "Usage:", args)
		assert.Contains(t, out, "Exit status: 1 when a pair failed", args)
	}
}

func TestFleetRunsAtMostEightAtOnce(t *testing.T) {
	var targets []target
	for i := range 20 {
		targets = append(targets, target{account: fmt.Sprintf("%012d", i), region: "eu-west-1"})
	}
	var inFlight, most, ran atomic.Int32
	release := make(chan struct{})
	done := make(chan []targetResult)
	go func() {
		done <- runFleet(context.Background(), targets, fleetParallelism, func(_ context.Context, tg target) (outcome, error) {
			n := inFlight.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-release
			inFlight.Add(-1)
			ran.Add(1)
			return outcome{view: view{Rows: [][]string{{tg.account}}}}, nil
		})
	}()
	require.Eventually(t, func() bool { return inFlight.Load() == fleetParallelism }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // time for a ninth to start, were it allowed
	assert.Equal(t, int32(fleetParallelism), inFlight.Load())
	close(release)
	results := <-done
	assert.Equal(t, int32(8), most.Load(), "at most 8 in flight, and 8 used")
	assert.Equal(t, int32(20), ran.Load())
	for i, r := range results {
		assert.Equal(t, targets[i], r.target, "results in the targets' order")
		assert.Equal(t, [][]string{{targets[i].account}}, r.view.Rows)
	}
}

func TestFleetStopsStartingWhenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	targets := make([]target, 12)
	var started atomic.Int32
	results := runFleet(ctx, targets, 2, func(context.Context, target) (outcome, error) {
		if started.Add(1) == 2 {
			cancel()
		}
		return outcome{}, nil
	})
	assert.Less(t, started.Load(), int32(12))
	assert.ErrorIs(t, results[11].err, context.Canceled)
}

func TestFleetPendingWithARefusedRole(t *testing.T) {
	f := newFleetWorld()
	f.refused[acctB] = true
	regions := []string{"eu-west-1", "us-east-1"}
	want := map[target]string{}
	for i, account := range []string{acctA, acctB, acctC} {
		for j, r := range regions {
			want[target{account, r}] = f.pendingIn(account, r, 10*i+j)
		}
	}
	args := []string{"fleet", "pending", "--accounts", acctA + "," + acctB + "," + acctC, "--regions", strings.Join(regions, ","), "--parameter", "/pl/policy"}
	out, stderr, code := f.run(t, args...)
	assert.Equal(t, 1, code, "a failed pair fails the command")
	assert.Contains(t, stderr, "2 of 6 account and Region pair(s) failed")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Regexp(t, `^ACCOUNT\s+REGION\s+SERVICE\s+ENDPOINT\s+OWNER\s+.*WOULD.*ERROR$`, lines[0])
	for tg, endpoint := range want {
		if tg.account == acctB {
			assert.Regexp(t, fmt.Sprintf(`(?m)^%s\s+%s\s+(-\s+){10}assume role arn:aws:iam::%s:role/privatelink-approver-fleet-reader: api error AccessDenied`,
				tg.account, tg.region, acctB), out)
			assert.NotContains(t, out, endpoint)
			continue
		}
		assert.Regexp(t, fmt.Sprintf(`(?m)^%s\s+%s\s+%s\s+%s\s+111111111111\s.*\saccept\s+partner\s.*-$`, tg.account, tg.region, svc, endpoint), out)
	}
	assert.Contains(t, out, "6 account and Region pair(s): 4 read, 2 failed.")
	assert.ElementsMatch(t, []string{
		"arn:aws:iam::" + acctA + ":role/privatelink-approver-fleet-reader",
		"arn:aws:iam::" + acctB + ":role/privatelink-approver-fleet-reader",
		"arn:aws:iam::" + acctC + ":role/privatelink-approver-fleet-reader",
	}, f.roles, "one role per account, shared by its Regions; the partition is the caller's")

	out, _, code = f.run(t, append(args, "--output", "json")...)
	assert.Equal(t, 1, code)
	var pairs []struct {
		Account, Region, Error string
		Result                 *struct {
			Pending []struct{ EndpointID, WouldDecide string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &pairs), out)
	require.Len(t, pairs, 6)
	for i, p := range pairs {
		assert.Equal(t, []string{acctA, acctB, acctC}[i/2], p.Account, "accounts in the order given, then Regions")
		assert.Equal(t, regions[i%2], p.Region)
		if p.Account == acctB {
			assert.Contains(t, p.Error, "AccessDenied")
			assert.Nil(t, p.Result)
			continue
		}
		assert.Empty(t, p.Error)
		require.NotNil(t, p.Result)
		require.Len(t, p.Result.Pending, 1)
		assert.Equal(t, want[target{p.Account, p.Region}], p.Result.Pending[0].EndpointID)
		assert.Equal(t, "accept", p.Result.Pending[0].WouldDecide)
	}
	for _, w := range f.targets {
		assert.Empty(t, w.ec2.Accepted, "the fleet changes nothing")
		assert.Empty(t, w.ec2.Rejected)
		assert.Empty(t, w.ec2.TagCalls)
		assert.Empty(t, w.ssm.puts)
	}

	// Without the refused account, every pair is read: exit 0.
	_, stderr, code = f.run(t, "fleet", "pending", "--accounts", acctA+","+acctC, "--regions", strings.Join(regions, ","), "--parameter", "/pl/policy")
	assert.Equal(t, 0, code, stderr)
}

func TestFleetPlanExitStatus(t *testing.T) {
	const changed = `{"version": 1, "defaultAction": "manual", "rules": []}`
	setup := func() *fleetWorld {
		f := newFleetWorld()
		for i, account := range []string{acctA, acctB} {
			f.pendingIn(account, "us-east-1", i)
		}
		return f
	}
	t.Run("nothing would change anywhere: 0", func(t *testing.T) {
		out, stderr, code := setup().run(t, "fleet", "plan", file(t, fleetPolicy), "--accounts", acctA+","+acctB, "--parameter", "/pl/policy")
		assert.Equal(t, 0, code, stderr)
		assert.NotContains(t, out, "ACCOUNT", "no row to show")
		for _, account := range []string{acctA, acctB} {
			assert.Contains(t, out, account+" us-east-1:\n  No changes: ")
		}
		assert.Contains(t, out, "  Plan: 0 to accept, 0 to reject")
	})
	t.Run("something would somewhere: 2", func(t *testing.T) {
		f := setup()
		f.in(acctB, "us-east-1").ssm.put("/pl/policy", changed)
		out, stderr, code := f.run(t, "fleet", "plan", file(t, fleetPolicy), "--accounts", acctA+","+acctB, "--parameter", "/pl/policy")
		assert.Equal(t, 2, code, stderr)
		assert.Regexp(t, `(?m)^`+acctB+`\s+us-east-1\s+`+svc+`\s+vpce-00000000000000001\s+111111111111\s+pendingAcceptance\s+manual \(default\)\s+accept \(partner\)`, out)
		assert.Contains(t, out, acctB+" us-east-1: Plan: 1 to accept")
	})
	t.Run("a failed pair: 1, whatever the others would change", func(t *testing.T) {
		f := setup()
		f.in(acctB, "us-east-1").ssm.put("/pl/policy", changed)
		f.refused[acctA] = true
		out, _, code := f.run(t, "fleet", "plan", file(t, fleetPolicy), "--accounts", acctA+","+acctB, "--parameter", "/pl/policy")
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "accept (partner)", "the other pairs are still shown")
	})
	t.Run("a file the pair's root refuses is that pair's error", func(t *testing.T) {
		f := setup()
		f.in(acctB, "us-east-1").ssm.put("/pl/root", `{"version": 1, "delegate": [{"part": "policy", "services": ["`+svc+`"], "actions": ["accept"]}], "rules": []}`)
		out, _, code := f.run(t, "fleet", "plan", file(t, `{"version": 1, "defaultAction": "manual", "rules": []}`), "--accounts", acctA+","+acctB, "--parameter", "/pl/policy")
		assert.Equal(t, 1, code)
		assert.Regexp(t, `(?m)^`+acctB+`\s+us-east-1\s+(-\s+){7}.* would be refused by the root part /pl/root: defaultAction: only the root part may set it`, out)
	})
	t.Run("a shared policy's ARN is read as it is, in every account", func(t *testing.T) {
		const shared = "arn:aws:ssm:us-east-1:999999999999:parameter/shared/policy"
		f := setup()
		for _, account := range []string{acctA, acctB} {
			f.in(account, "us-east-1").ssm.put(shared, fleetPolicy)
		}
		_, stderr, code := f.run(t, "fleet", "plan", file(t, fleetPolicy), "--accounts", acctA+","+acctB, "--parameter", shared)
		assert.Equal(t, 0, code, stderr)
	})
}

func TestFleetStatus(t *testing.T) {
	ok := targetResult{}
	changes := targetResult{outcome: outcome{status: errChanges}}
	findings := targetResult{outcome: outcome{status: errFindings}}
	open := targetResult{outcome: outcome{status: errors.New("the audit is not complete")}}
	failed := targetResult{err: errors.New("assume role: AccessDenied")}
	tests := []struct {
		name    string
		results []targetResult
		want    int
	}{
		{"no pair", nil, 0},
		{"nothing anywhere", []targetResult{ok, ok}, 0},
		{"changes somewhere", []targetResult{ok, changes}, 2},
		{"findings and one not complete: the findings", []targetResult{open, findings}, 2},
		{"one not complete", []targetResult{ok, open}, 1},
		{"a failure with changes", []targetResult{changes, failed}, 1},
		{"a failure alone", []targetResult{failed, ok}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fleetStatus(tt.results)
			got := 0
			switch {
			case errors.Is(err, errChanges):
				got = 2
			case err != nil:
				got = 1
			}
			assert.Equal(t, tt.want, got, "%v", err)
		})
	}
}

func TestFleetAudit(t *testing.T) {
	f := newFleetWorld()
	f.pendingIn(acctA, "us-east-1", 1)
	f.pendingIn(acctB, "us-east-1", 2)
	f.in(acctB, "us-east-1").ec2.Add(svc, "vpce-0000000000000000f", "333333333333", "available", "")
	f.in(acctB, "us-east-1").ssm.put("/pl/policy", `{"version": 1, "revoke": true, "rules": [{"name": "partner", "action": "accept", "accounts": ["111111111111"]}]}`)
	out, stderr, code := f.run(t, "fleet", "audit", "--accounts", acctA+","+acctB, "--parameter", "/pl/policy")
	assert.Equal(t, 2, code, stderr)
	assert.Regexp(t, `(?m)^ACCOUNT\s+REGION\s+SERVICE\s+MANAGED\s+WHY\s+ACCEPTANCE\s+ALLOWED PRINCIPALS\s+ERROR$`, out)
	assert.Regexp(t, `(?m)^`+acctA+`\s+us-east-1\s+`+svc+`\s+yes\s`, out)
	assert.Contains(t, out, acctB+" us-east-1:\n  Accepted connections the policy now rejects (drift):")
	assert.Contains(t, out, "vpce-0000000000000000f")
}

func TestFleetOU(t *testing.T) {
	f := newFleetWorld()
	orgs := &fakeOUs{fakeOrgs: newOrgs(), children: map[string][]string{"r-ab12": {"ou-ab12-11111111"}, "ou-ab12-11111111": {"ou-ab12-22222222"}},
		accounts: map[string][]orgtypes.Account{
			"r-ab12":           {{Id: aws.String(acctC), Status: orgtypes.AccountStatusActive}},
			"ou-ab12-11111111": {{Id: aws.String(acctB), State: orgtypes.AccountStateActive}, {Id: aws.String("111100000009"), State: orgtypes.AccountStateSuspended}},
			"ou-ab12-22222222": {{Id: aws.String(acctA)}},
		}}
	for _, account := range []string{acctA, acctB, acctC} {
		f.pendingIn(account, "us-east-1", 1)
	}
	var out, errOut syncBuffer
	a := f.app(&out, &errOut)
	connect := a.connect
	a.connect = func(ctx context.Context, g globals) (*clients, error) {
		c, err := connect(ctx, g)
		c.assume = f.assume
		c.sts = stsFunc(func() (*sts.GetCallerIdentityOutput, error) {
			return &sts.GetCallerIdentityOutput{Arn: aws.String("arn:aws-us-gov:sts::123456789012:assumed-role/admin/alice")}, nil
		})
		c.orgs = orgs.as
		return c, err
	}
	code := a.execute([]string{"fleet", "pending", "--ou", "ou-ab12-11111111", "--role-name", "reader", "--parameter", "/pl/policy",
		"--org-role", "arn:aws-us-gov:iam::999999999999:role/org-reader"})
	require.Equal(t, 0, code, errOut.String())
	assert.ElementsMatch(t, []string{"arn:aws-us-gov:iam::" + acctA + ":role/reader", "arn:aws-us-gov:iam::" + acctB + ":role/reader"}, f.roles,
		"the accounts at any depth under the OU, as --role-name in the caller's partition; the suspended one left out")
	assert.Contains(t, errOut.String(), "left out 1 account(s) under ou-ab12-11111111 that are not active: 111100000009 (SUSPENDED)")
	assert.Contains(t, orgs.roles, "arn:aws-us-gov:iam::999999999999:role/org-reader", "the accounts listed as --org-role")
	assert.GreaterOrEqual(t, orgs.pages, 4, "every page read")
}

// fakeOUs is an organization's tree: child OUs and accounts by parent, one
// item a page.
type fakeOUs struct {
	*fakeOrgs
	children map[string][]string
	accounts map[string][]orgtypes.Account
	mu       sync.Mutex
	roles    []string
	pages    int
}

func (f *fakeOUs) as(role string) membership.OrganizationsAPI {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roles = append(f.roles, role)
	return f
}

// page returns item i of n and the token of the next, one item a page.
func page(token *string, n int) (int, *string) {
	i := 0
	if token != nil {
		_, _ = fmt.Sscan(*token, &i)
	}
	if i+1 < n {
		return i, aws.String(fmt.Sprint(i + 1))
	}
	return i, nil
}

func (f *fakeOUs) ListAccountsForParent(_ context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	f.pages++
	all := f.accounts[aws.ToString(in.ParentId)]
	if len(all) == 0 {
		return &organizations.ListAccountsForParentOutput{}, nil
	}
	i, next := page(in.NextToken, len(all))
	return &organizations.ListAccountsForParentOutput{Accounts: all[i : i+1], NextToken: next}, nil
}

func (f *fakeOUs) ListOrganizationalUnitsForParent(_ context.Context, in *organizations.ListOrganizationalUnitsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error) {
	f.pages++
	all := f.children[aws.ToString(in.ParentId)]
	if len(all) == 0 {
		return &organizations.ListOrganizationalUnitsForParentOutput{}, nil
	}
	i, next := page(in.NextToken, len(all))
	return &organizations.ListOrganizationalUnitsForParentOutput{OrganizationalUnits: []orgtypes.OrganizationalUnit{{Id: aws.String(all[i])}}, NextToken: next}, nil
}

func TestASharedPolicyIsReadInEachRegionsCopy(t *testing.T) {
	tests := []struct {
		parameter, region, want string
	}{
		{"arn:aws:ssm:eu-west-1:999988887777:parameter/privatelink/policy", "us-east-1", "arn:aws:ssm:us-east-1:999988887777:parameter/privatelink/policy"},
		{"arn:aws:ssm:eu-west-1:999988887777:parameter/privatelink/policy", "eu-west-1", "arn:aws:ssm:eu-west-1:999988887777:parameter/privatelink/policy"},
		{"/privatelink-approver/policy", "us-east-1", "/privatelink-approver/policy"},
		{"/privatelink-approver/policies/", "us-east-1", "/privatelink-approver/policies/"},
	}
	for _, tt := range tests {
		got := scope{parameter: tt.parameter, role: "r"}.inRegion(tt.region)
		assert.Equal(t, tt.want, got.parameter, tt.parameter+" in "+tt.region)
		assert.Equal(t, "r", got.role)
	}
}

package membership_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/membership"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

const (
	org    = "o-abc1234567"
	root   = "r-ab12"
	ouTop  = "ou-ab12-11111111"
	ouLow  = "ou-ab12-22222222"
	member = "111111111111" // root -> ouTop -> ouLow -> member
	direct = "222222222222" // root -> direct
	other  = "999999999999" // not in the organization
)

// fakeOrg is an organization: each child's parent, and errors by child
// ("" for DescribeOrganization).
type fakeOrg struct {
	mu      sync.Mutex
	parents map[string]string
	errs    map[string]error
	calls   map[string]int
	// emptyFirst answers each child's first page with no parent and a
	// NextToken, as Organizations may.
	emptyFirst bool
}

func newFakeOrg() *fakeOrg {
	return &fakeOrg{
		parents: map[string]string{member: ouLow, ouLow: ouTop, ouTop: root, direct: root},
		errs:    map[string]error{},
		calls:   map[string]int{},
	}
}

func (f *fakeOrg) ListParents(_ context.Context, in *organizations.ListParentsInput, _ ...func(*organizations.Options)) (*organizations.ListParentsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	child := aws.ToString(in.ChildId)
	f.calls["ListParents"]++
	f.calls[child]++
	if err := f.errs[child]; err != nil {
		return nil, err
	}
	if f.emptyFirst && in.NextToken == nil {
		return &organizations.ListParentsOutput{NextToken: aws.String("more")}, nil
	}
	p, ok := f.parents[child]
	if !ok {
		return nil, &types.AccountNotFoundException{Message: aws.String("not found")}
	}
	typ := types.ParentTypeOrganizationalUnit
	if p == root {
		typ = types.ParentTypeRoot
	}
	return &organizations.ListParentsOutput{Parents: []types.Parent{{Id: aws.String(p), Type: typ}}}, nil
}

func (f *fakeOrg) DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["DescribeOrganization"]++
	if err := f.errs[""]; err != nil {
		return nil, err
	}
	return &organizations.DescribeOrganizationOutput{Organization: &types.Organization{Id: aws.String(org)}}, nil
}

func (f *fakeOrg) count(what string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[what]
}

func (f *fakeOrg) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = map[string]int{}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func apiError(code string) error { return &smithy.GenericAPIError{Code: code, Message: "injected"} }

func TestLookup(t *testing.T) {
	tests := []struct {
		name     string
		errs     map[string]error
		account  string
		want     policy.Membership
		wantPath string
		wantCode string
	}{
		{"two OUs below the root", nil, member,
			policy.Membership{Organization: org, Root: root, OUs: []string{ouTop, ouLow}}, org + "/" + root + "/" + ouTop + "/" + ouLow, ""},
		{"directly under the root", nil, direct, policy.Membership{Organization: org, Root: root}, org + "/" + root, ""},
		{"not in the organization (AccountNotFoundException)", nil, other, policy.Membership{}, "", ""},
		{"not in the organization (ChildNotFoundException)",
			map[string]error{other: &types.ChildNotFoundException{Message: aws.String("no child")}}, other, policy.Membership{}, "", ""},
		{"throttled", map[string]error{member: &types.TooManyRequestsException{Message: aws.String("slow down")}}, member,
			policy.Membership{}, "", "TooManyRequestsException"},
		{"denied", map[string]error{member: &types.AccessDeniedException{Message: aws.String("no")}}, member,
			policy.Membership{}, "", "AccessDeniedException"},
		{"organizations not in use is a failure, never 'not a member'",
			map[string]error{member: &types.AWSOrganizationsNotInUseException{Message: aws.String("no org")}}, member,
			policy.Membership{}, "", "AWSOrganizationsNotInUseException"},
		{"an OU that cannot be found is a failure",
			map[string]error{ouTop: &types.ChildNotFoundException{Message: aws.String("gone")}}, member,
			policy.Membership{}, "", "ChildNotFoundException"},
		{"the organization cannot be described", map[string]error{"": apiError("ServiceException")}, member,
			policy.Membership{}, "", "ServiceException"},
		{"an error without a code", map[string]error{member: errors.New("connection reset")}, member,
			policy.Membership{}, "", membership.CodeLookupFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeOrg()
			for k, v := range tt.errs {
				f.errs[k] = v
			}
			r := membership.New(f, membership.Config{TTL: time.Minute})
			res := r.Lookup(context.Background(), []string{tt.account})[tt.account]
			if tt.wantCode != "" {
				var lerr *membership.LookupError
				require.ErrorAs(t, res.Err, &lerr)
				assert.Equal(t, tt.wantCode, lerr.Code)
				assert.Equal(t, tt.account, lerr.Account)
				assert.Contains(t, lerr.Error(), tt.account)
				return
			}
			require.NoError(t, res.Err)
			assert.Equal(t, tt.want, res.Membership)
			assert.Equal(t, tt.wantPath, res.Membership.Path())
		})
	}
}

// The burst: 20 member accounts two OUs below the root. The first
// lookup asks each account's parent, the two OUs' once, and the
// organization once; the next ones ask nothing until the lookups expire or
// are forgotten.
func TestLookupCostAndCache(t *testing.T) {
	f := newFakeOrg()
	var accounts []string
	for i := range 20 {
		a := fmt.Sprintf("3333333333%02d", i)
		f.parents[a] = ouLow
		accounts = append(accounts, a, a) // named twice: asked once
	}
	c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	r := membership.New(f, membership.Config{TTL: 5 * time.Minute, Now: c.now})

	lookupAll := func() {
		t.Helper()
		res := r.Lookup(context.Background(), accounts)
		require.Len(t, res, 20)
		for a, got := range res {
			require.NoError(t, got.Err, a)
			require.Equal(t, []string{ouTop, ouLow}, got.Membership.OUs, a)
		}
	}
	lookupAll()
	assert.Equal(t, 22, f.count("ListParents"), "20 accounts and 2 OUs")
	assert.Equal(t, 1, f.count("DescribeOrganization"))
	assert.LessOrEqual(t, f.count("ListParents")+f.count("DescribeOrganization"), 20*4, "the issue's bound")

	f.reset()
	c.t = c.t.Add(4 * time.Minute)
	lookupAll()
	assert.Zero(t, f.count("ListParents")+f.count("DescribeOrganization"), "kept")

	c.t = c.t.Add(2 * time.Minute)
	lookupAll()
	assert.Equal(t, 22, f.count("ListParents"), "expired: asked again")

	f.reset()
	r.Forget()
	lookupAll()
	assert.Equal(t, 22, f.count("ListParents"), "forgotten: asked again")
	assert.Equal(t, 1, f.count("DescribeOrganization"))
}

func TestLookupKeepsNoFailure(t *testing.T) {
	f := newFakeOrg()
	f.errs[ouTop] = &types.TooManyRequestsException{Message: aws.String("slow down")}
	f.parents["444444444444"] = ouLow
	r := membership.New(f, membership.Config{TTL: time.Hour})

	res := r.Lookup(context.Background(), []string{member, "444444444444", direct})
	require.Error(t, res[member].Err)
	for _, a := range []string{"444444444444", direct} {
		var lerr *membership.LookupError
		require.ErrorAs(t, res[a].Err, &lerr, "after a failure, the others are not asked")
		assert.Equal(t, "TooManyRequestsException", lerr.Code)
		assert.Contains(t, lerr.Error(), "not asked, the lookup of "+member+" failed first")
	}
	assert.Equal(t, 1, f.count(ouTop))
	assert.Zero(t, f.count(direct)+f.count("444444444444"), "not asked")

	delete(f.errs, ouTop)
	res = r.Lookup(context.Background(), []string{member})
	require.NoError(t, res[member].Err, "a failure is not kept")
	assert.Equal(t, []string{ouTop, ouLow}, res[member].Membership.OUs)
	assert.Equal(t, 1, f.count(member), "the account's own parent was kept")
}

func TestLookupWithoutCache(t *testing.T) {
	f := newFakeOrg()
	f.parents["444444444444"] = ouLow
	r := membership.New(f, membership.Config{TTL: 0})
	for range 2 {
		res := r.Lookup(context.Background(), []string{member, "444444444444"})
		require.NoError(t, res[member].Err)
		require.NoError(t, res["444444444444"].Err)
	}
	assert.Equal(t, 2*4, f.count("ListParents"), "each lookup asks again, sharing the OUs within it")
	assert.Equal(t, 2, f.count("DescribeOrganization"))
	assert.Equal(t, 0, f.count(other))
}

func TestLookupReadsEveryPage(t *testing.T) {
	f := newFakeOrg()
	f.emptyFirst = true
	r := membership.New(f, membership.Config{TTL: time.Minute})
	res := r.Lookup(context.Background(), []string{member})[member]
	require.NoError(t, res.Err)
	assert.Equal(t, []string{ouTop, ouLow}, res.Membership.OUs)
	assert.Equal(t, 6, f.count("ListParents"), "two pages a level")
}

// forgetting calls Forget during the first ListParents: what that lookup
// learns is not kept.
type forgetting struct {
	*fakeOrg
	r    *membership.Resolver
	once sync.Once
}

func (f *forgetting) ListParents(ctx context.Context, in *organizations.ListParentsInput, o ...func(*organizations.Options)) (*organizations.ListParentsOutput, error) {
	f.once.Do(f.r.Forget)
	return f.fakeOrg.ListParents(ctx, in, o...)
}

func TestAForgetDuringALookupKeepsNothingItLearnt(t *testing.T) {
	f := &forgetting{fakeOrg: newFakeOrg()}
	r := membership.New(f, membership.Config{TTL: time.Hour})
	f.r = r
	require.NoError(t, r.Lookup(context.Background(), []string{member})[member].Err)
	require.NoError(t, r.Lookup(context.Background(), []string{member})[member].Err)
	assert.Equal(t, 2, f.count(member), "asked again: the first answer began before Forget")
	assert.Equal(t, 2, f.count("DescribeOrganization"))
	require.NoError(t, r.Lookup(context.Background(), []string{member})[member].Err)
	assert.Equal(t, 2, f.count(member), "the second was kept")
}

func TestNotAMemberIsNeverKept(t *testing.T) {
	f := newFakeOrg()
	r := membership.New(f, membership.Config{TTL: time.Hour})
	for range 3 {
		res := r.Lookup(context.Background(), []string{other, other})
		require.NoError(t, res[other].Err)
		assert.False(t, res[other].Membership.Member())
	}
	assert.Equal(t, 3, f.count(other), "asked once per lookup, never kept across them")
	assert.Zero(t, f.count("DescribeOrganization"), "no organization ID for an account outside it")

	// The account joins: the next lookup sees it, whatever the TTL.
	f.parents[other] = root
	res := r.Lookup(context.Background(), []string{other})
	require.NoError(t, res[other].Err)
	assert.Equal(t, policy.Membership{Organization: org, Root: root}, res[other].Membership)
}

func (f *fakeOrg) DescribeOrganizationalUnit(_ context.Context, in *organizations.DescribeOrganizationalUnitInput, _ ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := aws.ToString(in.OrganizationalUnitId)
	f.calls["DescribeOrganizationalUnit"]++
	if err := f.errs["describe "+id]; err != nil {
		return nil, err
	}
	if _, ok := f.parents[id]; !ok {
		return nil, &types.OrganizationalUnitNotFoundException{Message: aws.String("no such OU")}
	}
	return &organizations.DescribeOrganizationalUnitOutput{OrganizationalUnit: &types.OrganizationalUnit{Id: aws.String(id)}}, nil
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name        string
		refs        []policy.Reference
		errs        map[string]error
		wantInvalid []string // IDs named by *ReferenceError
		wantCode    string   // the *LookupError's code, when it could not tell
	}{
		{name: "nothing named"},
		{name: "the organization and its OUs", refs: []policy.Reference{{Rule: "a", ID: org}, {Rule: "b", ID: ouTop}, {Rule: "b", ID: ouLow}}},
		{name: "another organization", refs: []policy.Reference{{Rule: "competitor", ID: "o-competitor1"}, {Rule: "b", ID: ouTop}},
			wantInvalid: []string{"o-competitor1"}},
		{name: "an unknown OU and another organization, both named", refs: []policy.Reference{{Rule: "a", ID: "o-competitor1"}, {Rule: "b", ID: "ou-zz99-99999999"}},
			wantInvalid: []string{"o-competitor1", "ou-zz99-99999999"}},
		{name: "the organization cannot be described", refs: []policy.Reference{{Rule: "a", ID: org}},
			errs: map[string]error{"": &types.TooManyRequestsException{Message: aws.String("slow down")}}, wantCode: "TooManyRequestsException"},
		{name: "an OU cannot be described", refs: []policy.Reference{{Rule: "a", ID: ouTop}},
			errs: map[string]error{"describe " + ouTop: &types.AccessDeniedException{Message: aws.String("no")}}, wantCode: "AccessDeniedException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeOrg()
			for k, v := range tt.errs {
				f.errs[k] = v
			}
			err := membership.New(f, membership.Config{TTL: time.Minute}).Check(context.Background(), tt.refs)
			if tt.wantCode != "" {
				var lerr *membership.LookupError
				require.ErrorAs(t, err, &lerr)
				assert.Equal(t, tt.wantCode, lerr.Code)
				assert.Contains(t, err.Error(), "check the policy's organizations and OUs")
				return
			}
			var got []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var rerr *membership.ReferenceError
					require.ErrorAs(t, e, &rerr)
					got = append(got, rerr.ID)
					assert.Contains(t, e.Error(), "rule "+rerr.Rule+" names "+rerr.ID)
				}
			}
			assert.Equal(t, tt.wantInvalid, got)
		})
	}
}

func TestCheckKeepsWhatIsValidOnly(t *testing.T) {
	f := newFakeOrg()
	c := &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	r := membership.New(f, membership.Config{TTL: 5 * time.Minute, Now: c.now})
	refs := []policy.Reference{{Rule: "a", ID: org}, {Rule: "b", ID: ouTop}, {Rule: "c", ID: "ou-zz99-99999999"}}
	for range 3 {
		require.Error(t, r.Check(context.Background(), refs))
	}
	assert.Equal(t, 1, f.count("DescribeOrganization"))
	assert.Equal(t, 1+3, f.count("DescribeOrganizationalUnit"), "the OU found is kept; the one not found is asked each time")

	f.reset()
	c.t = c.t.Add(6 * time.Minute)
	require.NoError(t, r.Check(context.Background(), refs[:2]))
	assert.Equal(t, 1, f.count("DescribeOrganizationalUnit"), "asked again once the cache period is over")
}

// Package membership looks up where accounts sit in AWS Organizations, for
// the policy's rules by organization and OU: the account's parents up to
// the root (ListParents, one call a level) and the organization's ID
// (DescribeOrganization).
//
// Lookups are kept for a while (Config.TTL) per execution environment: an
// account's parent, each OU's parent (OUs cannot be moved, so accounts in
// one OU share the walk above it) and the organization ID. A failed lookup
// is never kept, and never read as "not a member": only AWS saying that the
// account is not in the organization (AccountNotFoundException,
// ChildNotFoundException) makes an account a non-member, and that answer is
// never kept either: an account may join at any time.
//
// Check makes sure the organizations and OUs a policy names are of the
// organization the lookups answer for (DescribeOrganization,
// DescribeOrganizationalUnit): a rule naming another organization would
// otherwise never match anyone.
//
// See https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListParents.html
// and https://docs.aws.amazon.com/organizations/latest/APIReference/API_DescribeOrganization.html
package membership

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/privatelink-approver/privatelink-approver/pkg/awserr"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// OrganizationsAPI is the part of the Organizations client the resolver
// calls.
type OrganizationsAPI interface {
	ListParents(ctx context.Context, params *organizations.ListParentsInput, optFns ...func(*organizations.Options)) (*organizations.ListParentsOutput, error)
	DescribeOrganization(ctx context.Context, params *organizations.DescribeOrganizationInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	DescribeOrganizationalUnit(ctx context.Context, params *organizations.DescribeOrganizationalUnitInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error)
}

// DefaultTTL is how long lookups are kept when MEMBERSHIP_CACHE_SECONDS is
// unset.
const DefaultTTL = 5 * time.Minute

// MaxTTL is the longest MEMBERSHIP_CACHE_SECONDS allows.
const MaxTTL = time.Hour

// maxDepth bounds the walk to the root: Organizations nests OUs at most
// five deep below the root, so an account is at most six levels down.
const maxDepth = 8

// Config holds the resolver's settings.
type Config struct {
	// TTL is how long a lookup is kept; 0 keeps nothing between calls of
	// Lookup.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Resolver looks up accounts' memberships. It is safe for concurrent use.
type Resolver struct {
	client OrganizationsAPI
	ttl    time.Duration
	now    func() time.Time

	mu sync.Mutex
	// generation counts Forget calls: a lookup that began before one keeps
	// nothing it learnt.
	generation uint64
	// parents maps an account or OU to its parent, as ListParents said.
	parents map[string]kept[parent]
	// organization is the organization ID, as DescribeOrganization said.
	organization kept[string]
	// ous are the OUs DescribeOrganizationalUnit found in the
	// organization.
	ous map[string]kept[bool]
}

type parent struct {
	id string
	// root is true for the organization's root; member is false for an
	// account that is not in the organization (no parent).
	root, member bool
}

type kept[T any] struct {
	value T
	until time.Time
	ok    bool
}

func (k kept[T]) fresh(now time.Time) bool { return k.ok && now.Before(k.until) }

// New returns a Resolver calling client.
func New(client OrganizationsAPI, cfg Config) *Resolver {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Resolver{client: client, ttl: cfg.TTL, now: cfg.Now, parents: map[string]kept[parent]{}, ous: map[string]kept[bool]{}}
}

// Result is one account's lookup: its membership, or why it could not be
// had (a *LookupError).
type Result struct {
	Membership policy.Membership
	Err        error
}

// LookupError is a failed lookup: the account's place is unknown.
type LookupError struct {
	Account string
	// Code is the AWS error code (TooManyRequestsException,
	// AccessDeniedException, AWSOrganizationsNotInUseException, or the
	// STS code when the role could not be assumed), or LookupFailed.
	Code string
	Err  error
}

func (e *LookupError) Error() string {
	if e.Account == "" {
		return fmt.Sprintf("check the policy's organizations and OUs in AWS Organizations: %v", e.Err)
	}
	return fmt.Sprintf("look up account %s in AWS Organizations: %v", e.Account, e.Err)
}

func (e *LookupError) Unwrap() error { return e.Err }

// CodeLookupFailed is the Code of a failure that carries no AWS error code
// (a timeout, a network error, an answer that makes no sense).
const CodeLookupFailed = "LookupFailed"

// Forget drops everything kept: the next lookups ask Organizations again.
// A change of the policy, or an account moved in the organization, calls
// it.
func (r *Resolver) Forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.generation++
	r.parents = map[string]kept[parent]{}
	r.organization = kept[string]{}
	r.ous = map[string]kept[bool]{}
}

// Lookup returns the membership of each account, asking Organizations for
// what is not kept. After a failed lookup (its retries spent) it asks for
// no more: the accounts left fail with the same code. Each account, OU and the organization are asked for at
// most once per call (every page of ListParents is read: Organizations may
// answer a page with no results and a NextToken), one call after the other
// (Organizations' request rates are low, and the SDK's retryer handles its
// throttling).
func (r *Resolver) Lookup(ctx context.Context, accounts []string) map[string]Result {
	// Within one call, a failure is remembered too: an OU that failed for
	// one account is not asked again for the next.
	r.mu.Lock()
	generation := r.generation
	r.mu.Unlock()
	call := &lookup{r: r, now: r.now(), generation: generation, parents: map[string]parent{}, failed: map[string]error{}}
	out := make(map[string]Result, len(accounts))
	var first *LookupError
	for _, account := range accounts {
		if _, done := out[account]; done {
			continue
		}
		if first != nil {
			// Throttled, denied, or the role cannot be assumed: asking for
			// the next accounts would fail the same way, and make a
			// throttled Organizations slower still.
			out[account] = Result{Err: &LookupError{Account: account, Code: first.Code,
				Err: fmt.Errorf("not asked, the lookup of %s failed first: %w", first.Account, first.Err)}}
			continue
		}
		m, err := call.membership(ctx, account)
		if err != nil {
			first = &LookupError{Account: account, Code: errorCode(err), Err: err}
			out[account] = Result{Err: first}
			continue
		}
		out[account] = Result{Membership: m}
	}
	return out
}

// lookup is one call of Lookup: what it learnt, kept or not, is shared by
// all its accounts.
type lookup struct {
	r          *Resolver
	now        time.Time
	generation uint64
	parents    map[string]parent
	org        string
	failed     map[string]error
}

func (l *lookup) membership(ctx context.Context, account string) (policy.Membership, error) {
	var ous []string
	child := account
	for range maxDepth {
		p, err := l.parent(ctx, child, child == account)
		if err != nil {
			return policy.Membership{}, err
		}
		if !p.member {
			return policy.Membership{}, nil
		}
		if p.root {
			org, err := l.organization(ctx)
			if err != nil {
				return policy.Membership{}, err
			}
			// From the root down.
			for i, j := 0, len(ous)-1; i < j; i, j = i+1, j-1 {
				ous[i], ous[j] = ous[j], ous[i]
			}
			return policy.Membership{Organization: org, Root: p.id, OUs: ous}, nil
		}
		ous = append(ous, p.id)
		child = p.id
	}
	return policy.Membership{}, fmt.Errorf("no root within %d levels above the account", maxDepth)
}

// parent is child's parent, kept or asked for.
func (l *lookup) parent(ctx context.Context, child string, isAccount bool) (parent, error) {
	if p, ok := l.parents[child]; ok {
		return p, nil
	}
	if err, failed := l.failed[child]; failed {
		return parent{}, err
	}
	r := l.r
	r.mu.Lock()
	k := r.parents[child]
	r.mu.Unlock()
	if k.fresh(l.now) {
		l.parents[child] = k.value
		return k.value, nil
	}
	parents, err := listParents(ctx, r.client, child)
	var p parent
	switch {
	case err != nil && isAccount && notInOrganization(err):
		// Not a member: an answer for this call only, never kept. An
		// account may join at any time, and its first requests must not
		// be refused on what was true minutes before.
		l.parents[child] = parent{}
		return parent{}, nil
	case err != nil:
		err = fmt.Errorf("ListParents %s: %w", child, err)
		l.failed[child] = err
		return parent{}, err
	case len(parents) != 1 || aws.ToString(parents[0].Id) == "":
		// A child has exactly one parent.
		err = fmt.Errorf("ListParents %s: %d parents, expected one", child, len(parents))
		l.failed[child] = err
		return parent{}, err
	default:
		p = parent{id: aws.ToString(parents[0].Id), root: parents[0].Type == types.ParentTypeRoot, member: true}
	}
	l.parents[child] = p
	r.keep(l.generation, func() { r.parents[child] = kept[parent]{value: p, until: l.now.Add(r.ttl), ok: true} })
	return p, nil
}

// listParents reads every page of ListParents: Organizations may answer a
// List call with no results and a NextToken.
func listParents(ctx context.Context, client OrganizationsAPI, child string) ([]types.Parent, error) {
	var out []types.Parent
	pages := organizations.NewListParentsPaginator(client, &organizations.ListParentsInput{ChildId: aws.String(child)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Parents...)
	}
	return out, nil
}

// organization is the organization's ID, kept or asked for.
func (l *lookup) organization(ctx context.Context) (string, error) {
	if l.org != "" {
		return l.org, nil
	}
	if err, failed := l.failed[""]; failed {
		return "", err
	}
	r := l.r
	r.mu.Lock()
	k := r.organization
	r.mu.Unlock()
	if k.fresh(l.now) {
		l.org = k.value
		return k.value, nil
	}
	out, err := r.client.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err == nil && (out.Organization == nil || aws.ToString(out.Organization.Id) == "") {
		err = errors.New("the answer has no organization ID")
	}
	if err != nil {
		err = fmt.Errorf("DescribeOrganization: %w", err)
		l.failed[""] = err
		return "", err
	}
	id := aws.ToString(out.Organization.Id)
	l.org = id
	r.keep(l.generation, func() { r.organization = kept[string]{value: id, until: l.now.Add(r.ttl), ok: true} })
	return id, nil
}

// keep runs set under the lock, unless nothing is to be kept (TTL 0) or
// Forget was called since the lookup began (what it learnt may be what
// Forget meant to drop): within one Lookup, it is shared all the same.
func (r *Resolver) keep(generation uint64, set func()) {
	if r.ttl <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if generation == r.generation {
		set()
	}
}

// notInOrganization reports whether AWS said the account is not in the
// organization.
func notInOrganization(err error) bool {
	var notFound *types.AccountNotFoundException
	var noChild *types.ChildNotFoundException
	return errors.As(err, &notFound) || errors.As(err, &noChild)
}

func errorCode(err error) string {
	if code := awserr.Code(err); code != "" {
		return code
	}
	return CodeLookupFailed
}

// ReferenceError says that a policy names an organization or OU that is not
// of the function's organization: such a rule could never match, so the
// policy is not usable.
type ReferenceError struct {
	Rule, ID string
	// Organization is the function's organization.
	Organization string
	Why          string
}

func (e *ReferenceError) Error() string {
	return fmt.Sprintf("rule %s names %s, %s", e.Rule, e.ID, e.Why)
}

// Check verifies that every organization the references name is the
// organization the lookups answer for, and that every OU is one of its OUs
// (DescribeOrganizationalUnit). It returns every *ReferenceError found,
// joined, or a *LookupError (Account empty) when Organizations could not
// tell. What it found valid is kept for the TTL; nothing invalid is kept.
func (r *Resolver) Check(ctx context.Context, refs []policy.Reference) error {
	if len(refs) == 0 {
		return nil
	}
	r.mu.Lock()
	generation := r.generation
	r.mu.Unlock()
	call := &lookup{r: r, now: r.now(), generation: generation, parents: map[string]parent{}, failed: map[string]error{}}
	org, err := call.organization(ctx)
	if err != nil {
		return &LookupError{Code: errorCode(err), Err: err}
	}
	var invalid []error
	for _, ref := range refs {
		if !ref.IsOU() {
			if ref.ID != org {
				invalid = append(invalid, &ReferenceError{Rule: ref.Rule, ID: ref.ID, Organization: org,
					Why: "not the organization " + org + " the approver looks accounts up in: AWS Organizations answers only for its own organization, so the rule could never match"})
			}
			continue
		}
		found, err := call.ou(ctx, ref.ID)
		if err != nil {
			return &LookupError{Code: errorCode(err), Err: err}
		}
		if !found {
			invalid = append(invalid, &ReferenceError{Rule: ref.Rule, ID: ref.ID, Organization: org,
				Why: "not an OU of the organization " + org + " (DescribeOrganizationalUnit found none): the rule could never match"})
		}
	}
	return errors.Join(invalid...)
}

// ou reports whether the organization has the OU, kept or asked for.
func (l *lookup) ou(ctx context.Context, id string) (bool, error) {
	r := l.r
	r.mu.Lock()
	k := r.ous[id]
	r.mu.Unlock()
	if k.fresh(l.now) {
		return true, nil
	}
	_, err := r.client.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String(id)})
	var notFound *types.OrganizationalUnitNotFoundException
	switch {
	case errors.As(err, &notFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("DescribeOrganizationalUnit %s: %w", id, err)
	}
	r.keep(l.generation, func() { r.ous[id] = kept[bool]{value: true, until: l.now.Add(r.ttl), ok: true} })
	return true, nil
}

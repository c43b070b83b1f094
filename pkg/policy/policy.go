package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
)

// Action is what a policy decides for one connection request.
type Action string

// The actions a decision can carry. Manual leaves the request pending for a
// person; it is only ever a defaultAction, never a rule's action.
const (
	Accept Action = "accept"
	Reject Action = "reject"
	Manual Action = "manual"
)

// DefaultRuleName is the rule name reported when no rule matched and the
// policy's defaultAction decided. It is reserved: no rule may use it.
const DefaultRuleName = "default"

// PersonRuleName is the rule reported for a decision a person made
// (approverctl accept or reject), whatever the policy says. It is reserved:
// a sweep tells a person's accept from a rule's by it.
const PersonRuleName = "person"

// AllowlistRuleName names the single accept rule of a plain-list policy.
const AllowlistRuleName = "allowlist"

// AnyAccount in a rule's accounts matches every consumer account.
const AnyAccount = "*"

// DefaultMaxRevocations is maxRevocations when a policy does not set it.
const DefaultMaxRevocations = 10

// DefaultMaxRejections is maxRejections when a policy does not set it.
const DefaultMaxRejections = 100

// Policy is a validated allowlist. Build one with Parse; the zero value
// decides nothing useful.
type Policy struct {
	// DefaultAction applies when no rule matches: Reject or Manual.
	DefaultAction Action
	// Revoke makes sweeps also reject already-accepted connections whose
	// decision is now Reject.
	Revoke bool
	// MaxRevocations is the most connections one invocation may revoke; past
	// it, it revokes none and fails.
	MaxRevocations int
	// MaxRejections is the most pending requests one invocation may
	// reject; past it, it rejects none of them and fails.
	MaxRejections int
	// Rules in document order: under a path, the root's, then each
	// delegated part's (named PART/NAME) in the parts' name order.
	Rules []Rule
	// Delegations are the root part's: which part may decide what on which
	// services. Empty for a policy held in one parameter.
	Delegations []Delegation
	// Issues are the parts under the path that decide nothing: refused,
	// missing or ignored (Compose).
	Issues []PartIssue

	// held are the services a refused or missing part leaves undecided,
	// with why.
	held map[string]string

	// byAccount indexes rules by consumer account so that a decision costs
	// one map lookup however many accounts the policy lists.
	byAccount map[string][]int32
	// anyAccount holds the rules whose accounts include "*".
	anyAccount []int32
	// orgRules holds the rules that name organizations or OUs; byOrgID
	// indexes them by each organization and OU ID they name, so that a
	// decision with a known membership looks at the rules of its path only.
	orgRules  []int32
	byOrgID   map[string][]int32
	hasLimits bool
	// regions are the Regions the rules name, sorted, once each.
	regions []string
}

// Held says why no request on svc may be decided: a part delegated svc is
// refused or missing. ok is false for every other service.
func (p *Policy) Held(svc string) (why string, ok bool) {
	why, ok = p.held[svc]
	return why, ok
}

// HasOrganizationRules reports whether any rule names organizations or
// organizational units: deciding may then need accounts' memberships.
func (p *Policy) HasOrganizationRules() bool { return len(p.orgRules) > 0 }

// Regions lists the Regions the rules name, sorted: a request's Region
// matters to the policy only when it is one of them or not.
func (p *Policy) Regions() []string { return p.regions }

// HasLimits reports whether any rule sets maxEndpoints: deciding then needs
// each account's count of accepted connections.
func (p *Policy) HasLimits() bool { return p.hasLimits }

// Rule is one named entry of a policy. It names consumers by Accounts,
// Organizations and OrganizationalUnits (at least one of them): a request
// matches when its account matches any of them. Empty Services, Endpoints
// and Regions mean "any"; when set, they narrow the rule.
type Rule struct {
	Name     string
	Action   Action
	Accounts []string
	// Organizations match the accounts that are members of them (o-...).
	Organizations []string
	// OrganizationalUnits match the accounts in them or in any OU below
	// them (ou-...).
	OrganizationalUnits []string
	Services            []string
	Endpoints           []string
	Regions             []string
	// Expires is zero when the rule never expires; otherwise the rule applies
	// while the evaluation time is before it.
	Expires time.Time
	// MaxEndpoints, when above zero, lets an accept rule accept a request
	// only while the account has fewer accepted connections to the service.
	MaxEndpoints int
}

// Request is one connection request as the provider sees it.
type Request struct {
	// Account is the consumer's account ID (VpcEndpointOwner).
	Account string
	// ServiceID is the endpoint service, vpce-svc-...
	ServiceID string
	// EndpointID is the consumer's endpoint, vpce-...
	EndpointID string
	// Region is the consumer endpoint's region: VpcEndpointRegion, or the
	// provider's own region when EC2 reports none (same-region PrivateLink).
	Region string
	// Accepted counts the account's accepted connections to the service
	// (EC2 states pending and available, and those accepted earlier in the
	// same run), for rules with MaxEndpoints.
	Accepted int
	// Existing marks a connection that is already accepted, evaluated for
	// revocation: limits do not apply to it (a limit never revokes).
	Existing bool
	// Org is the account's place in AWS Organizations, for rules that name
	// organizations or OUs; nil when it was not looked up (or the lookup
	// failed). Decide then says whether it needed it (Unresolved).
	Org *Membership
}

// Membership is an account's place in AWS Organizations: the organization
// it is a member of, its root, and the OUs from the root down to the
// account's parent. The zero value is an account in no organization of
// ours.
type Membership struct {
	Organization string
	Root         string
	OUs          []string
}

// Member reports whether the account is in the organization.
func (m Membership) Member() bool { return m.Organization != "" }

// Path is the account's place as one string: the organization ID, the root
// ID, then every OU from the root down to the account's parent, joined by
// "/" (o-abc1234567/r-ab12/ou-ab12-11111111); "" for an account in no
// organization.
func (m Membership) Path() string {
	if !m.Member() {
		return ""
	}
	return strings.Join(append([]string{m.Organization, m.Root}, m.OUs...), "/")
}

// ParsePath reads a Path: an organization ID, a root ID and any number of
// OU IDs joined by "/". The empty string is an account in no organization.
func ParsePath(s string) (Membership, error) {
	if s == "" {
		return Membership{}, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || !awsid.IsOrganizationID(parts[0]) || !awsid.IsRootID(parts[1]) {
		return Membership{}, fmt.Errorf("organization path %q must start with an organization ID and a root ID, such as o-abc1234567/r-ab12/ou-ab12-11111111", s)
	}
	for _, ou := range parts[2:] {
		if !awsid.IsOUID(ou) {
			return Membership{}, fmt.Errorf("organization path %q: %q is not an OU ID (ou-, 4 to 32 lowercase letters or digits, -, 8 to 32 more)", s, ou)
		}
	}
	return Membership{Organization: parts[0], Root: parts[1], OUs: parts[2:]}, nil
}

// Decision is the outcome of evaluating a Request.
type Decision struct {
	Action Action
	// Rule is the deciding rule's name, or DefaultRuleName.
	Rule string
	// ExpiredRule names a rule that would have matched had it not expired,
	// when no live rule matched; it explains surprising defaults.
	ExpiredRule string
	// LimitedRule names an accept rule that matched but whose maxEndpoints
	// the account has reached (Accepted of Limit), when no later rule accepted.
	LimitedRule     string
	Accepted, Limit int
	// Via is the organization or OU through which the deciding rule
	// matched, when it did not name the account itself.
	Via string
	// Unresolved is set when the account's membership was not known
	// (Request.Org nil) and a rule naming organizations or OUs could change
	// the action: Action is then what the other rules decide, and must not
	// be applied. UnresolvedRule names the first rule naming organizations
	// or OUs that could match, whenever one could (Unresolved or not).
	Unresolved     bool
	UnresolvedRule string

	// possible are the actions the decision could have with the
	// membership known (a bit per action), when Unresolved.
	possible uint8
	// ruleReject is set when a reject rule (not defaultAction) could
	// decide it, when Unresolved.
	ruleReject bool
	// needsOrg is set when a rule naming organizations or OUs could match
	// the request and no reject rule naming the account decided it.
	needsOrg bool
}

// RuleCould reports whether a rule (not defaultAction) could decide a had
// the account's membership been known: for a resolved decision, whether it
// is a and a rule made it.
func (d Decision) RuleCould(a Action) bool {
	switch {
	case !d.Unresolved && a == Reject && d.Action == Reject:
		// defaultAction rejects whatever the membership, but a reject rule
		// by organization or OU might be the one that does.
		return d.Rule != DefaultRuleName || d.ruleReject
	case !d.Unresolved:
		return d.Action == a && d.Rule != DefaultRuleName
	case a == Reject:
		return d.ruleReject
	default:
		return d.Could(a)
	}
}

// Could reports whether the decision could be a had the account's
// membership been known: for a resolved decision, whether it is a.
func (d Decision) Could(a Action) bool {
	if !d.Unresolved {
		return d.Action == a
	}
	return d.possible&actionBit(a) != 0
}

func actionBit(a Action) uint8 {
	switch a {
	case Accept:
		return 1
	case Reject:
		return 2
	default:
		return 4
	}
}

// Reason says in words why the decision was made.
func (d Decision) Reason() string {
	var why string
	switch {
	case d.Unresolved:
		return "undecided: rule " + d.UnresolvedRule + " names organizations or OUs, and the account's place in the organization could not be looked up"
	case d.Rule != DefaultRuleName && d.Via != "":
		why = "matched " + string(d.Action) + " rule " + d.Rule + " through " + d.Via
		if d.Action == Reject {
			why += " (a reject rule wins over any accept rule)"
		} else {
			why += " and no reject rule"
		}
	case d.Rule != DefaultRuleName && d.Action == Reject:
		why = "matched reject rule " + d.Rule + " (a reject rule wins over any accept rule)"
	case d.Rule != DefaultRuleName:
		why = "matched accept rule " + d.Rule + " and no reject rule"
	case d.ExpiredRule != "":
		why = "no rule in force matched (rule " + d.ExpiredRule + " matched but has expired); defaultAction is " + string(d.Action)
	default:
		why = "no rule matched; defaultAction is " + string(d.Action)
	}
	if d.LimitedRule != "" {
		why = fmt.Sprintf("rule %s did not apply: the account has %d accepted connections to this service, its maxEndpoints is %d; %s",
			d.LimitedRule, d.Accepted, d.Limit, why)
	}
	return why
}

// Decide evaluates req at time now. A matching reject rule wins over any
// matching accept rule; among rules of the same action the first in document
// order is reported; no match yields DefaultAction. Rules naming
// organizations or OUs match through req.Org; without it, the decision is
// Unresolved when they could change its action. It does not allocate.
func (p *Policy) Decide(req Request, now time.Time) Decision {
	const none = int32(-1)
	firstAccept, firstReject, firstExpired, firstLimited := none, none, none, none
	// Rules naming organizations or OUs that could match when req.Org is
	// unknown.
	unknownAccept, unknownReject, firstUnknown := false, false, none
	consider := func(indexes []int32, byOrg bool) {
		for _, i := range indexes {
			r := &p.Rules[i]
			if !r.narrowsTo(req) {
				continue
			}
			if byOrg && (slices.Contains(r.Accounts, req.Account) || slices.Contains(r.Accounts, AnyAccount)) {
				continue // matched by the account already
			}

			if !r.Expires.IsZero() && !now.Before(r.Expires) {
				if req.Org != nil || !byOrg {
					firstExpired = minIndex(firstExpired, i)
				}
				continue
			}
			if r.MaxEndpoints > 0 && !req.Existing && req.Accepted >= r.MaxEndpoints {
				if req.Org != nil || !byOrg {
					firstLimited = minIndex(firstLimited, i)
				}
				continue
			}
			if byOrg && req.Org == nil {
				unknownReject = unknownReject || r.Action == Reject
				unknownAccept = unknownAccept || r.Action == Accept
				firstUnknown = minIndex(firstUnknown, i)
				continue
			}
			if r.Action == Reject {
				firstReject = minIndex(firstReject, i)
			} else {
				firstAccept = minIndex(firstAccept, i)
			}
		}
	}
	consider(p.byAccount[req.Account], false)
	consider(p.anyAccount, false)
	switch {
	case len(p.orgRules) == 0:
	case req.Org == nil:
		consider(p.orgRules, true) // which could match: all of them
	case req.Org.Member():
		// The index holds only the rules naming these IDs: they match.
		consider(p.byOrgID[req.Org.Organization], true)
		for _, ou := range req.Org.OUs {
			consider(p.byOrgID[ou], true)
		}
	}

	var d Decision
	switch {
	case firstReject != none:
		d = Decision{Action: Reject, Rule: p.Rules[firstReject].Name}
		d.Via = p.Rules[firstReject].via(req)
		return d
	case firstAccept != none:
		d = Decision{Action: Accept, Rule: p.Rules[firstAccept].Name, Via: p.Rules[firstAccept].via(req)}
	default:
		d = Decision{Action: p.DefaultAction, Rule: DefaultRuleName}
		if firstExpired != none {
			d.ExpiredRule = p.Rules[firstExpired].Name
		}
	}
	if firstLimited != none && (firstAccept == none || firstLimited < firstAccept) {
		d.LimitedRule, d.Accepted, d.Limit = p.Rules[firstLimited].Name, req.Accepted, p.Rules[firstLimited].MaxEndpoints
	}
	if firstUnknown != none {
		d.needsOrg, d.UnresolvedRule = true, p.Rules[firstUnknown].Name
		d.possible = actionBit(d.Action)
		if unknownReject {
			d.possible |= actionBit(Reject)
			d.ruleReject = true
		}
		if unknownAccept {
			d.possible |= actionBit(Accept)
		}
		d.Unresolved = d.possible != actionBit(d.Action)
	}
	return d
}

// NeedsMembership reports whether deciding req could depend on the
// account's place in the organization: a rule naming organizations or OUs
// could match it, and no reject rule naming the account decides it anyway.
// Only then is the account looked up.
func (p *Policy) NeedsMembership(req Request, now time.Time) bool {
	if len(p.orgRules) == 0 {
		return false
	}
	req.Org = nil
	return p.Decide(req, now).needsOrg
}

func minIndex(current, i int32) int32 {
	if current < 0 || i < current {
		return i
	}
	return current
}

// memberVia is the first of the rule's organizations and OUs that m is in,
// or "".
func (r *Rule) memberVia(m Membership) string {
	if !m.Member() {
		return ""
	}
	if slices.Contains(r.Organizations, m.Organization) {
		return m.Organization
	}
	for _, ou := range m.OUs {
		if slices.Contains(r.OrganizationalUnits, ou) {
			return ou
		}
	}
	return ""
}

// via says how a matching rule matched req: "" when it names the account
// (or any account), else the organization or OU.
func (r *Rule) via(req Request) string {
	if req.Org == nil || slices.Contains(r.Accounts, req.Account) || slices.Contains(r.Accounts, AnyAccount) {
		return ""
	}
	return r.memberVia(*req.Org)
}

// narrowsTo reports whether the rule's optional services, endpoints and
// regions admit req. Accounts are matched by the index, not here.
func (r *Rule) narrowsTo(req Request) bool {
	return listAdmits(r.Services, req.ServiceID) &&
		listAdmits(r.Endpoints, req.EndpointID) &&
		listAdmits(r.Regions, req.Region)
}

// listAdmits is true for an empty list (no narrowing) or one holding v.
func listAdmits(list []string, v string) bool {
	return len(list) == 0 || slices.Contains(list, v)
}

// index builds the account index. Parse calls it after validation.
func (p *Policy) index() {
	p.byAccount = make(map[string][]int32)
	p.byOrgID = make(map[string][]int32)
	p.anyAccount, p.orgRules, p.regions = nil, nil, nil
	for i, r := range p.Rules {
		p.hasLimits = p.hasLimits || r.MaxEndpoints > 0
		p.regions = append(p.regions, r.Regions...)
		if len(r.Organizations) > 0 || len(r.OrganizationalUnits) > 0 {
			p.orgRules = append(p.orgRules, int32(i))
		}
		named := map[string]bool{}
		for _, id := range slices.Concat(r.Organizations, r.OrganizationalUnits) {
			if !named[id] {
				named[id] = true
				p.byOrgID[id] = append(p.byOrgID[id], int32(i))
			}
		}
		seen := make(map[string]bool, len(r.Accounts))
		for _, a := range r.Accounts {
			if seen[a] {
				continue
			}
			seen[a] = true
			if a == AnyAccount {
				p.anyAccount = append(p.anyAccount, int32(i))
				continue
			}
			p.byAccount[a] = append(p.byAccount[a], int32(i))
		}
	}
	slices.Sort(p.regions)
	p.regions = slices.Compact(p.regions)
}

// Loaded is a valid policy and where it came from: what a policy store
// returns, and what the approver decides with.
type Loaded struct {
	Policy *Policy
	// Parameter is the SSM parameter name (or path).
	Parameter string
	// Version identifies what was read, logged with every decision: the
	// parameter's version, or for a path a digest of its parameters' names
	// and versions.
	Version string
	// Digest identifies the content read (names, versions and values): a
	// parameter deleted and created again restarts at version 1, so the
	// version alone cannot tell that the stored policy changed.
	Digest string
	// Modified is when what was read last changed (the newest
	// LastModifiedDate of its parameters); zero when SSM did not say.
	Modified time.Time
	// Cached is true when the store served the copy an earlier read made:
	// the stored policy may have changed since.
	Cached bool
}

// ErrNoPolicy is matched (errors.Is) by every error that means no usable
// policy could be had (missing, unreadable, invalid): nothing is decided.
var ErrNoPolicy = errors.New("no usable policy")

// Reference is an organization or OU a rule names: rules by organization
// match only through lookups in the function's own organization, so each
// must be of it (package membership checks).
type Reference struct {
	// Rule is the first rule naming ID.
	Rule string
	// ID is an organization ID (o-...) or an OU ID (ou-...).
	ID string
}

// IsOU reports whether the reference is to an organizational unit.
func (r Reference) IsOU() bool { return strings.HasPrefix(r.ID, "ou-") }

// References lists every organization and OU the rules name, once each, in
// rule order, with the first rule naming it.
func (p *Policy) References() []Reference {
	var out []Reference
	seen := map[string]bool{}
	for _, i := range p.orgRules {
		r := &p.Rules[i]
		for _, id := range slices.Concat(r.Organizations, r.OrganizationalUnits) {
			if !seen[id] {
				seen[id] = true
				out = append(out, Reference{Rule: r.Name, ID: id})
			}
		}
	}
	return out
}

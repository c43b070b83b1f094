package policy

import (
	"fmt"
	"slices"
	"time"
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
	// Rules in document order.
	Rules []Rule

	// byAccount indexes rules by consumer account so that a decision costs
	// one map lookup however many accounts the policy lists.
	byAccount map[string][]int32
	// anyAccount holds the rules whose accounts include "*".
	anyAccount []int32
	hasLimits  bool
}

// HasLimits reports whether any rule sets maxEndpoints: deciding then needs
// each account's count of accepted connections.
func (p *Policy) HasLimits() bool { return p.hasLimits }

// Rule is one named entry of a policy. Empty Services, Endpoints and Regions
// mean "any"; when set, they narrow the rule.
type Rule struct {
	Name      string
	Action    Action
	Accounts  []string
	Services  []string
	Endpoints []string
	Regions   []string
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
}

// Reason says in words why the decision was made.
func (d Decision) Reason() string {
	var why string
	switch {
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
// order is reported; no match yields DefaultAction. It does not allocate.
func (p *Policy) Decide(req Request, now time.Time) Decision {
	const none = int32(-1)
	firstAccept, firstReject, firstExpired, firstLimited := none, none, none, none
	consider := func(indexes []int32) {
		for _, i := range indexes {
			r := &p.Rules[i]
			if !r.narrowsTo(req) {
				continue
			}
			if !r.Expires.IsZero() && !now.Before(r.Expires) {
				if firstExpired == none || i < firstExpired {
					firstExpired = i
				}
				continue
			}
			if r.MaxEndpoints > 0 && !req.Existing && req.Accepted >= r.MaxEndpoints {
				if firstLimited == none || i < firstLimited {
					firstLimited = i
				}
				continue
			}
			if r.Action == Reject {
				if firstReject == none || i < firstReject {
					firstReject = i
				}
			} else if firstAccept == none || i < firstAccept {
				firstAccept = i
			}
		}
	}
	consider(p.byAccount[req.Account])
	consider(p.anyAccount)

	var d Decision
	switch {
	case firstReject != none:
		return Decision{Action: Reject, Rule: p.Rules[firstReject].Name}
	case firstAccept != none:
		d = Decision{Action: Accept, Rule: p.Rules[firstAccept].Name}
	default:
		d = Decision{Action: p.DefaultAction, Rule: DefaultRuleName}
		if firstExpired != none {
			d.ExpiredRule = p.Rules[firstExpired].Name
		}
	}
	if firstLimited != none && (firstAccept == none || firstLimited < firstAccept) {
		d.LimitedRule, d.Accepted, d.Limit = p.Rules[firstLimited].Name, req.Accepted, p.Rules[firstLimited].MaxEndpoints
	}
	return d
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
	p.anyAccount = nil
	for i, r := range p.Rules {
		p.hasLimits = p.hasLimits || r.MaxEndpoints > 0
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
}

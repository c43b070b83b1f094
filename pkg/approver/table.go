package approver

import (
	"fmt"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// What the reconcile does with one connection is chosen here, and only
// here: one table over everything the choice depends on, read top down,
// the first matching row winning. TestDecisionTable walks every
// combination of the inputs against it.

// verdict is what the policy says of a connection, reduced to what the
// choice depends on.
type verdict string

const (
	verdictAccept verdict = "accept"
	verdictManual verdict = "manual"
	// verdictRejectByRule: a reject rule decides it.
	verdictRejectByRule verdict = "reject-by-rule"
	// verdictRejectByDefault: no rule matched; defaultAction rejects.
	verdictRejectByDefault verdict = "reject-by-default"
	// verdictRejectByDefaultOrUnknown: defaultAction rejects, and a reject
	// rule by organization or OU might too, but the account could not be
	// looked up: the action is known, not whether a rule makes it.
	verdictRejectByDefaultOrUnknown verdict = "reject-by-default-or-unknown-rule"
	// verdictUnknownRuleReject: a reject rule by organization or OU could
	// decide it, and the account could not be looked up.
	verdictUnknownRuleReject verdict = "unknown-could-reject-by-rule"
	// verdictUnknownDefaultReject: the account could not be looked up;
	// only defaultAction could reject it.
	verdictUnknownDefaultReject verdict = "unknown-could-reject-by-default"
	// verdictUnknownNoReject: the account could not be looked up; it would
	// not be rejected whatever its place.
	verdictUnknownNoReject verdict = "unknown-never-reject"
	// verdictRegionUnknown: the connection has no VpcEndpointRegion, its
	// service accepts other Regions than the provider's, and the policy
	// decides differently among them.
	verdictRegionUnknown verdict = "region-unknown"
)

// verdicts lists every verdict, for the table's test.
var verdicts = []verdict{verdictAccept, verdictManual, verdictRejectByRule, verdictRejectByDefault, verdictRejectByDefaultOrUnknown,
	verdictUnknownRuleReject, verdictUnknownDefaultReject, verdictUnknownNoReject, verdictRegionUnknown}

// policyVerdict reduces a policy decision.
func policyVerdict(pd policy.Decision) verdict {
	switch {
	case pd.Unresolved && pd.RuleCould(policy.Reject):
		return verdictUnknownRuleReject
	case pd.Unresolved && pd.Could(policy.Reject):
		return verdictUnknownDefaultReject
	case pd.Unresolved:
		return verdictUnknownNoReject
	case pd.Action == policy.Accept:
		return verdictAccept
	case pd.Action == policy.Manual:
		return verdictManual
	case pd.Rule != policy.DefaultRuleName:
		return verdictRejectByRule
	case pd.RuleCould(policy.Reject):
		return verdictRejectByDefaultOrUnknown
	default:
		return verdictRejectByDefault
	}
}

// situation is everything the choice for one connection depends on.
type situation struct {
	// Accepted marks an accepted connection that a revoking sweep
	// evaluates; otherwise it is a pending request.
	Accepted bool
	// PartHeld: a part delegated the connection's service is refused or
	// missing.
	PartHeld bool
	Verdict  verdict
	// Person: the connection carries a person's accept stamp.
	Person bool
	// Predates: a pending request that was waiting when the policy last
	// changed (or when that is unknown), seen by an invocation that is not
	// a sweep. Only a sweep, which sees every service, can count all the
	// rejections a policy change makes against maxRejections: an event
	// naming one service must not reject, a few at a time, what the sweep
	// held.
	Predates bool
	// Guard: the guard of its kind holds: for a pending request, more
	// rejections are due than maxRejections; for an accepted connection,
	// more revocations than maxRevocations, or their count is unknown (a
	// service unread, an account not looked up).
	Guard bool
}

// choice is what the reconcile does with a connection.
type choice string

const (
	chooseAccept choice = "accept"
	chooseReject choice = "reject"
	chooseRevoke choice = "revoke"
	// chooseHeld: it would be rejected or revoked, but the guard holds it.
	chooseHeld choice = "held"
	// chooseLeftPending: the policy leaves it to a person.
	chooseLeftPending choice = "left-pending"
	// chooseHeldByPart: left pending, its service's part refused or missing.
	chooseHeldByPart choice = "held-by-part"
	// chooseUndecided: what it needs could not be looked up; it stays as it
	// is, and fails its service.
	chooseUndecided choice = "undecided"
	// chooseKeep: an accepted connection stays accepted; no decision line.
	chooseKeep choice = "keep"
	// chooseDeferred: left pending for the next sweep to reject, which
	// counts it against maxRejections with every other.
	chooseDeferred choice = "deferred"
	// chooseRegionUnknown: left pending until EC2 reports its Region.
	chooseRegionUnknown choice = "region-unknown"
)

// match is one column of a row: any value, or only some.
type match[T comparable] struct {
	any  bool
	only []T
}

func (m match[T]) admits(v T) bool {
	if m.any {
		return true
	}
	for _, o := range m.only {
		if o == v {
			return true
		}
	}
	return false
}

func only[T comparable](v ...T) match[T] { return match[T]{only: v} }
func anyOf[T comparable]() match[T]      { return match[T]{any: true} }

// row is one line of the decision table.
type row struct {
	Accepted match[bool]
	PartHeld match[bool]
	Verdict  match[verdict]
	Person   match[bool]
	Predates match[bool]
	Guard    match[bool]
	Then     choice
	// Why says why the row is what it is.
	Why string
}

var (
	yes, no    = only(true), only(false)
	whatever   = anyOf[bool]()
	anyVerdict = anyOf[verdict]()
	rejects    = only(verdictRejectByRule, verdictRejectByDefault, verdictRejectByDefaultOrUnknown)
)

// decisionTable: the first row that matches decides.
var decisionTable = []row{
	// A pending request.
	{no, yes, anyVerdict, whatever, whatever, whatever, chooseHeldByPart, "a refused or missing part could have decided it otherwise: nothing on its service is decided"},
	{no, no, only(verdictRegionUnknown), whatever, whatever, whatever, chooseRegionUnknown, "the policy decides differently in the Regions it could be from: never decided on a guess"},
	{no, no, only(verdictUnknownRuleReject, verdictUnknownDefaultReject, verdictUnknownNoReject), whatever, whatever, whatever, chooseUndecided, "its action depends on an account that could not be looked up"},
	{no, no, only(verdictManual), whatever, whatever, whatever, chooseLeftPending, "the policy leaves it to a person"},
	{no, no, only(verdictAccept), whatever, whatever, whatever, chooseAccept, "a rule accepts it; no guard bounds accepts"},
	{no, no, rejects, whatever, yes, whatever, chooseDeferred, "it waited through the policy's last change: only a sweep counts every rejection that change makes"},
	{no, no, rejects, whatever, no, yes, chooseHeld, "more rejections are due than maxRejections: none is made"},
	{no, no, rejects, whatever, no, no, chooseReject, "a rule or defaultAction rejects it"},

	// An accepted connection, in a sweep of a policy that revokes.
	{yes, yes, anyVerdict, whatever, whatever, whatever, chooseKeep, "a refused or missing part could have kept it: nothing on its service is revoked"},
	{yes, no, only(verdictAccept, verdictManual, verdictUnknownNoReject), whatever, whatever, whatever, chooseKeep, "nothing would revoke it; manual never revokes"},
	{yes, no, only(verdictRegionUnknown), whatever, whatever, whatever, chooseKeep, "the policy decides differently in the Regions it could be from: never revoked on a guess"},
	{yes, no, only(verdictUnknownRuleReject), whatever, whatever, whatever, chooseUndecided, "a reject rule by organization or OU could revoke it, and the account could not be looked up: never revoked on a guess"},
	{yes, no, only(verdictUnknownDefaultReject), yes, whatever, whatever, chooseKeep, "only defaultAction could revoke it, and a person's accept stands against defaultAction"},
	{yes, no, only(verdictUnknownDefaultReject), no, whatever, whatever, chooseUndecided, "defaultAction could revoke it, and the account could not be looked up: never revoked on a guess"},
	{yes, no, only(verdictRejectByDefault), yes, whatever, whatever, chooseKeep, "a person's accept stands unless a reject rule names it"},
	{yes, no, only(verdictRejectByDefaultOrUnknown), yes, whatever, whatever, chooseUndecided, "a person's accept, and whether a reject rule by organization or OU names it is unknown"},
	{yes, no, rejects, whatever, whatever, yes, chooseHeld, "the revocation guard holds: too many, or their count unknown"},
	{yes, no, rejects, whatever, whatever, no, chooseRevoke, "a rule (or, for an accept that is not a person's, defaultAction) rejects it"},
}

// choose is the decision table's answer for s. A situation no row matches
// (none should: the table's test walks them all) leaves the connection as
// it is.
func choose(s situation) choice {
	for _, r := range decisionTable {
		if r.Accepted.admits(s.Accepted) && r.PartHeld.admits(s.PartHeld) && r.Verdict.admits(s.Verdict) &&
			r.Person.admits(s.Person) && r.Predates.admits(s.Predates) && r.Guard.admits(s.Guard) {
			return r.Then
		}
	}
	if s.Accepted {
		return chooseKeep
	}
	return chooseUndecided
}

// String is the situation as the table's test names it.
func (s situation) String() string {
	return fmt.Sprintf("accepted=%t partHeld=%t verdict=%s person=%t predates=%t guard=%t", s.Accepted, s.PartHeld, s.Verdict, s.Person, s.Predates, s.Guard)
}

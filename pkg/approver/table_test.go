package approver

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// everySituation is every combination of the decision table's inputs.
func everySituation() []situation {
	var out []situation
	for _, accepted := range []bool{false, true} {
		for _, partHeld := range []bool{false, true} {
			for _, v := range verdicts {
				for _, person := range []bool{false, true} {
					for _, predates := range []bool{false, true} {
						for _, guard := range []bool{false, true} {
							out = append(out, situation{Accepted: accepted, PartHeld: partHeld, Verdict: v, Person: person, Predates: predates, Guard: guard})
						}
					}
				}
			}
		}
	}
	return out
}

// firstRow is the index of the table's row that decides s, or -1.
func firstRow(s situation) int {
	for i, r := range decisionTable {
		if r.Accepted.admits(s.Accepted) && r.PartHeld.admits(s.PartHeld) && r.Verdict.admits(s.Verdict) &&
			r.Person.admits(s.Person) && r.Predates.admits(s.Predates) && r.Guard.admits(s.Guard) {
			return i
		}
	}
	return -1
}

// reference is the choice written as the reconcile made it before the
// table, branch by branch (the revocation rule as pkg/approver/decide.go
// had it: couldRevoke, then the cases in order), with the inputs the table
// added since: a held part, a request that waited through the policy's
// change, the guards. It is independent of the table's rows.
func reference(s situation) choice {
	unknown := s.Verdict == verdictUnknownRuleReject || s.Verdict == verdictUnknownDefaultReject || s.Verdict == verdictUnknownNoReject
	rejects := s.Verdict == verdictRejectByRule || s.Verdict == verdictRejectByDefault || s.Verdict == verdictRejectByDefaultOrUnknown
	if !s.Accepted {
		switch {
		case s.PartHeld:
			return chooseHeldByPart
		case s.Verdict == verdictRegionUnknown:
			return chooseRegionUnknown
		case unknown:
			return chooseUndecided
		case s.Verdict == verdictManual:
			return chooseLeftPending
		case s.Verdict == verdictAccept:
			return chooseAccept
		case s.Predates:
			return chooseDeferred
		case s.Guard:
			return chooseHeld
		}
		return chooseReject
	}
	if s.PartHeld || s.Verdict == verdictRegionUnknown {
		return chooseKeep
	}
	// policy.Decision's RuleCould(Reject) and Could(Reject), by verdict.
	ruleCould := s.Verdict == verdictUnknownRuleReject || s.Verdict == verdictRejectByRule || s.Verdict == verdictRejectByDefaultOrUnknown
	could := ruleCould || s.Verdict == verdictUnknownDefaultReject || s.Verdict == verdictRejectByDefault
	byDefault := s.Verdict == verdictRejectByDefault || s.Verdict == verdictRejectByDefaultOrUnknown
	lookupFailed := unknown || s.Verdict == verdictRejectByDefaultOrUnknown
	couldRevoke := ruleCould || (could && !s.Person)
	switch {
	case (unknown || (s.Person && byDefault && lookupFailed)) && couldRevoke:
		return chooseUndecided
	case unknown, !rejects:
		return chooseKeep
	case s.Person && byDefault:
		return chooseKeep
	case s.Guard:
		return chooseHeld
	}
	return chooseRevoke
}

// TestDecisionTable walks every combination of the inputs: each is decided
// by a row, every row decides some, the table agrees with the reference
// written branch by branch, and none breaks the invariants the approver
// promises.
func TestDecisionTable(t *testing.T) {
	used := make([]bool, len(decisionTable))
	for _, s := range everySituation() {
		i := firstRow(s)
		require.GreaterOrEqual(t, i, 0, "no row decides %s", s)
		used[i] = true
		got := choose(s)
		assert.Equal(t, reference(s), got, "%s: the table and the reference disagree", s)

		unknown := s.Verdict == verdictUnknownRuleReject || s.Verdict == verdictUnknownDefaultReject || s.Verdict == verdictUnknownNoReject
		acts := got == chooseAccept || got == chooseReject || got == chooseRevoke
		switch {
		case s.PartHeld && acts:
			t.Errorf("%s: %s, but a held part's service is never decided", s, got)
		case s.Guard && (got == chooseReject || got == chooseRevoke):
			t.Errorf("%s: %s past a guard", s, got)
		case !s.Accepted && (got == chooseRevoke || got == chooseKeep):
			t.Errorf("%s: %s is for accepted connections", s, got)
		case s.Accepted && (got == chooseAccept || got == chooseReject || got == chooseLeftPending):
			t.Errorf("%s: %s is for pending requests", s, got)
		case unknown && acts:
			t.Errorf("%s: %s on a failed lookup", s, got)
		case got == chooseAccept && s.Verdict != verdictAccept:
			t.Errorf("%s: accepted without an accepting rule", s)
		case got == chooseRevoke && s.Person && s.Verdict != verdictRejectByRule:
			t.Errorf("%s: a person's accept revoked by defaultAction", s)
		case got == chooseHeld && !s.Guard:
			t.Errorf("%s: held with no guard holding", s)
		case got == chooseReject && s.Predates:
			t.Errorf("%s: a request that waited through the policy's change rejected outside a sweep", s)
		case got == chooseDeferred && (s.Accepted || s.Predates == false):
			t.Errorf("%s: deferred", s)
		}
	}
	for i, u := range used {
		assert.True(t, u, "row %d (%s) decides nothing: an earlier row shadows it", i, decisionTable[i].Why)
	}
}

// TestDecisionTableRows spells out one situation per row, as a reviewer
// would read them.
func TestDecisionTableRows(t *testing.T) {
	tests := []struct {
		name string
		s    situation
		want choice
	}{
		{"pending, its part missing, a rule accepts", situation{PartHeld: true, Verdict: verdictAccept}, chooseHeldByPart},
		{"pending, lookup failed, a reject rule by OU could match", situation{Verdict: verdictUnknownRuleReject}, chooseUndecided},
		{"pending, lookup failed, it would never be rejected", situation{Verdict: verdictUnknownNoReject}, chooseUndecided},
		{"pending, manual", situation{Verdict: verdictManual}, chooseLeftPending},
		{"pending, accept, the rejection guard holding", situation{Verdict: verdictAccept, Guard: true}, chooseAccept},
		{"pending, rejected by default, guard holding", situation{Verdict: verdictRejectByDefault, Guard: true}, chooseHeld},
		{"pending, rejected by a rule", situation{Verdict: verdictRejectByRule}, chooseReject},
		{"pending, rejected by default", situation{Verdict: verdictRejectByDefault}, chooseReject},
		{"pending before the policy changed, rejected, not a sweep", situation{Verdict: verdictRejectByRule, Predates: true}, chooseDeferred},
		{"pending before the policy changed, rejected, not a sweep, guard holding", situation{Verdict: verdictRejectByRule, Predates: true, Guard: true}, chooseDeferred},
		{"pending before the policy changed, accepted, not a sweep", situation{Verdict: verdictAccept, Predates: true}, chooseAccept},
		{"accepted, its part refused, a rule rejects", situation{Accepted: true, PartHeld: true, Verdict: verdictRejectByRule}, chooseKeep},
		{"accepted, still accepted", situation{Accepted: true, Verdict: verdictAccept}, chooseKeep},
		{"accepted, manual now", situation{Accepted: true, Verdict: verdictManual}, chooseKeep},
		{"accepted, a reject rule by OU could match, lookup failed", situation{Accepted: true, Verdict: verdictUnknownRuleReject}, chooseUndecided},
		{"a person's accept, only the default could reject, lookup failed", situation{Accepted: true, Verdict: verdictUnknownDefaultReject, Person: true}, chooseKeep},
		{"accepted, only the default could reject, lookup failed", situation{Accepted: true, Verdict: verdictUnknownDefaultReject}, chooseUndecided},
		{"a person's accept, rejected by default", situation{Accepted: true, Verdict: verdictRejectByDefault, Person: true}, chooseKeep},
		{"a person's accept, rejected by default, a reject rule by OU unknown", situation{Accepted: true, Verdict: verdictRejectByDefaultOrUnknown, Person: true}, chooseUndecided},
		{"a person's accept, rejected by a rule", situation{Accepted: true, Verdict: verdictRejectByRule, Person: true}, chooseRevoke},
		{"accepted, rejected by default", situation{Accepted: true, Verdict: verdictRejectByDefault}, chooseRevoke},
		{"accepted, rejected by default or an unknown rule", situation{Accepted: true, Verdict: verdictRejectByDefaultOrUnknown}, chooseRevoke},
		{"accepted, rejected by a rule, the revocation guard holding", situation{Accepted: true, Verdict: verdictRejectByRule, Guard: true}, chooseHeld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, choose(tt.s), "%s", tt.s)
		})
	}
}

func TestFitTagValue(t *testing.T) {
	long := strings.Repeat("teams/", 60) + "payments/partners"
	longer := long + "x"
	tests := []struct {
		name, value string
	}{
		{"short", "payments/partners"},
		{"256 characters", strings.Repeat("é", 256)},
		{"a long part name", long},
		{"a longer one", longer},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FitTagValue(tt.value)
			assert.LessOrEqual(t, utf8.RuneCountInString(got), maxTagValue)
			if utf8.RuneCountInString(tt.value) <= maxTagValue {
				assert.Equal(t, tt.value, got, "a value that fits is kept whole")
			} else {
				assert.Equal(t, maxTagValue, utf8.RuneCountInString(got))
				assert.True(t, strings.HasPrefix(got, tt.value[:200]), "it starts as the value does")
			}
			assert.Equal(t, got, FitTagValue(tt.value), "deterministic")
			if other, dup := seen[got]; dup {
				t.Errorf("%q and %q stamp the same value", other, tt.value)
			}
			seen[got] = tt.value
		})
	}
}

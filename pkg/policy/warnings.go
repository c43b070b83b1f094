package policy

import (
	"fmt"
	"slices"
	"time"
)

// Warnings lists what is valid in p but probably not what its writer
// meant, at time now: each rule that has already expired, and a policy
// that accepts nobody (a reject rule for every request, or defaultAction
// reject with no accept rule in force and no part delegated accept). They
// never make a policy invalid; each has SeverityWarning and a field path
// into the document p was parsed from (Parse or ParseRoot: the paths of a
// composed policy's part rules would not be).
func (p *Policy) Warnings(now time.Time) []Problem {
	var out []Problem
	warn := func(path, format string, args ...any) {
		out = append(out, Problem{Path: path, Message: fmt.Sprintf(format, args...), Severity: SeverityWarning})
	}
	live := func(r Rule) bool { return r.Expires.IsZero() || now.Before(r.Expires) }
	accepting, expiredAccepts := 0, 0
	rejectAll := -1
	for i, r := range p.Rules {
		if !live(r) {
			warn(fmt.Sprintf("rules[%d].expires", i), "rule %s expired at %s: it no longer applies (remove it, or move its expiry)",
				r.Name, r.Expires.UTC().Format(time.RFC3339))
		}
		switch {
		case r.Action == Accept && live(r):
			accepting++
		case r.Action == Accept:
			expiredAccepts++
		case live(r) && rejectAll < 0 && slices.Contains(r.Accounts, AnyAccount) &&
			len(r.Services) == 0 && len(r.Endpoints) == 0 && len(r.Regions) == 0:
			rejectAll = i
		}
	}
	delegatesAccept := slices.ContainsFunc(p.Delegations, func(d Delegation) bool { return slices.Contains(d.Actions, Accept) })
	switch {
	case rejectAll >= 0:
		warn(fmt.Sprintf("rules[%d]", rejectAll), "rule %s rejects every request (accounts \"*\", on every service, endpoint and Region), and a reject rule wins over any accept rule: this policy accepts nobody",
			p.Rules[rejectAll].Name)
	case p.DefaultAction == Reject && accepting == 0 && !delegatesAccept && expiredAccepts > 0:
		warn("", "this policy accepts nobody: defaultAction is reject, and every accept rule has expired")
	case p.DefaultAction == Reject && accepting == 0 && !delegatesAccept:
		warn("", "this policy accepts nobody: defaultAction is reject, and no rule accepts")
	}
	return out
}

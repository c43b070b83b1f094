package policy

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
)

// RootPartName is the name, relative to the path, of a path policy's root
// part: the only part that may set defaultAction, revoke, maxRevocations,
// maxRejections and delegate.
const RootPartName = "root"

// Delegation is what the root part lets one part decide: its rules apply
// only to Services, and may only take Actions.
type Delegation struct {
	// Part is the parameter's name relative to the path (payments, or
	// teams/payments).
	Part     string   `json:"part"`
	Services []string `json:"services"`
	// Actions are accept, reject or both (both when the root omits it).
	Actions []Action `json:"actions"`
}

// PartStatus says why a part decides nothing.
type PartStatus string

// The statuses of a PartIssue.
const (
	// PartRefused: the part is invalid, sets a field only the root may
	// set, names a service outside its delegation, or uses an action it was
	// not delegated. Its services are held.
	PartRefused PartStatus = "refused"
	// PartMissing: the root delegates to a part that does not exist (it
	// was deleted, or expired). Its services are held.
	PartMissing PartStatus = "missing"
	// PartIgnored: a parameter under the path that the root does not
	// delegate to. It decides nothing and holds nothing.
	PartIgnored PartStatus = "ignored"
)

// PartIssue is a part under a path that decides nothing, and why.
type PartIssue struct {
	// Part is the parameter's name relative to the path.
	Part     string     `json:"part"`
	Status   PartStatus `json:"status"`
	Problems []string   `json:"problems"`
	// Services are the services the part was delegated, held while the
	// part is refused or missing (none for an ignored part).
	Services []string `json:"services,omitempty"`
}

func (i PartIssue) String() string {
	return fmt.Sprintf("part %s is %s: %s", i.Part, i.Status, strings.Join(i.Problems, "; "))
}

// partNamePattern is a parameter name relative to a path, as SSM allows
// them: letters, digits, _ . - and / between segments. It is compiled on
// first use, not at the function's start.
var partNamePattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+)*$`)
})

// delegations reads the root's delegate list.
func (v *validator) delegations(raw json.RawMessage) []Delegation {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		v.add("delegate", "must be a list of {\"part\", \"services\", \"actions\"} objects")
		return nil
	}
	var out []Delegation
	seen := map[string]int{}
	for i, item := range items {
		path := fmt.Sprintf("delegate[%d]", i)
		members, ok := v.object(path, item, "part", "services", "actions")
		if !ok {
			continue
		}
		var d Delegation
		if name, ok := v.str(path+".part", members, true); ok {
			switch {
			case !partNamePattern().MatchString(name):
				v.add(path+".part", "%q is not a parameter name relative to the path (letters, digits, _ . - and / between them, such as payments or teams/payments)", name)
			case strings.EqualFold(name, DefaultRuleName), strings.EqualFold(name, PersonRuleName):
				v.add(path+".part", "%q is reserved", name)
			case strings.EqualFold(name[strings.LastIndexByte(name, '/')+1:], RootPartName):
				v.add(path+".part", "%q: a parameter named root is the root part of the path above it, never a delegated part", name)
			default:
				if first, dup := seen[name]; dup {
					v.add(path+".part", "%q is already delegated by delegate[%d]: delegate each part once, listing all its services", name, first)
				}
				seen[name] = i
				d.Part = name
			}
		}
		d.Services = v.list(path+".services", members, true, func(s string) string {
			if awsid.IsServiceID(s) {
				return ""
			}
			return fmt.Sprintf("%q is not an endpoint service ID (vpce-svc- and 8 to 17 lowercase hex digits)", s)
		})
		actions := v.list(path+".actions", members, false, func(s string) string {
			if s == string(Accept) || s == string(Reject) {
				return ""
			}
			return fmt.Sprintf("%q is not allowed: must be \"accept\" or \"reject\"", s)
		})
		d.Actions = []Action{Accept, Reject}
		if actions != nil {
			d.Actions = nil
			for _, a := range actions {
				if !slices.Contains(d.Actions, Action(a)) {
					d.Actions = append(d.Actions, Action(a))
				}
			}
		}
		out = append(out, d)
	}
	// PART/NAME must name one rule: a part under another part could
	// otherwise choose a rule name that reads as the other's.
	for i, d := range out {
		for _, e := range out {
			if d.Part != "" && e.Part != "" && strings.HasPrefix(d.Part, e.Part+"/") {
				v.add(fmt.Sprintf("delegate[%d].part", i), "%q lies under the delegated part %q: their rules' names (PART/NAME) could clash; delegate parts side by side", d.Part, e.Part)
			}
		}
	}
	return out
}

// partsClashWithRules reports a delegated part named as one of the root's
// own rules: a plain-list part's rule is named after its part.
func (v *validator) partsClashWithRules(d *document) {
	for i, del := range d.delegations {
		for _, r := range d.rules {
			if strings.EqualFold(r.Name, del.Part) {
				v.add(fmt.Sprintf("delegate[%d].part", i), "%q is also the name of a rule of the root: decision lines would not tell them apart", del.Part)
			}
		}
	}
}

// Compose builds the policy of a path from its root part and the other
// parameters under the path (named relative to it; path is used in
// messages only). The root's settings and rules apply to every service. A
// delegated part adds its rules, named PART/NAME (a plain list: one accept
// rule named PART), on its delegated services only, and reject-wins holds
// across the root and every part.
//
// The error, a *ValidationError (or ErrEmpty), is the root's: with no valid
// root nothing may be decided. A part that is refused or missing never
// fails the policy: its services are held (Policy.Held), and it is listed
// in Policy.Issues, as is every part the root does not delegate to.
func Compose(path string, root []byte, parts []Source) (*Policy, error) {
	d, err := parsePart(root, AllowlistRuleName, rootPart)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]Source, len(parts))
	for _, src := range parts {
		byName[src.Name] = src
	}
	held := map[string][]string{} // service -> the parts that hold it
	var issues []PartIssue
	delegated := map[string]bool{}
	// Parts in name order, each part's rules in its order: the first accept
	// rule reported does not depend on the order of the delegate list.
	inOrder := slices.SortedFunc(slices.Values(d.delegations), func(x, y Delegation) int { return strings.Compare(x.Part, y.Part) })
	for _, del := range inOrder {
		delegated[del.Part] = true
		src, ok := byName[del.Part]
		var rules []Rule
		issue := PartIssue{Part: del.Part, Status: PartRefused, Services: del.Services}
		switch {
		case !ok:
			issue.Status = PartMissing
			issue.Problems = []string{fmt.Sprintf("the root delegates it, but there is no parameter %s%s", path, del.Part)}
		case src.Unreadable != "":
			issue.Problems = []string{src.Unreadable}
		default:
			rules, issue.Problems = delegatedRules(del, src.Text)
		}
		if len(issue.Problems) == 0 {
			d.rules = append(d.rules, rules...)
			continue
		}
		issues = append(issues, issue)
		for _, svc := range del.Services {
			held[svc] = append(held[svc], del.Part)
		}
	}
	for _, src := range parts {
		if src.Name != RootPartName && !delegated[src.Name] {
			issues = append(issues, PartIssue{Part: src.Name, Status: PartIgnored,
				Problems: []string{"the root part does not delegate to it: add it to the root's delegate list, or delete it"}})
		}
	}
	slices.SortFunc(issues, func(x, y PartIssue) int { return strings.Compare(x.Part, y.Part) })
	p := d.policy()
	p.Issues = issues
	if len(held) > 0 {
		p.held = make(map[string]string, len(held))
		for _, svc := range slices.Sorted(maps.Keys(held)) {
			names := slices.Compact(slices.Sorted(slices.Values(held[svc])))
			p.held[svc] = fmt.Sprintf("held: %s %s, which decides this service, is refused or missing; nothing on it is decided until it is fixed (see the policy part lines)",
				plural(len(names), "part", "parts"), strings.Join(prefixed(path, names), ", "))
		}
	}
	return p, nil
}

func prefixed(path string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = path + n
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// delegatedRules reads one delegated part and scopes its rules to its
// delegation, or says every reason to refuse it.
func delegatedRules(del Delegation, text []byte) ([]Rule, []string) {
	doc, err := parsePart(text, del.Part, delegatedPart)
	if err != nil {
		return nil, problemStrings(err)
	}
	var problems []string
	rules := make([]Rule, 0, len(doc.rules))
	for i, r := range doc.rules {
		path := fmt.Sprintf("rules[%d]", i)
		if doc.list {
			path = "accounts"
		}
		if !slices.Contains(del.Actions, r.Action) {
			problems = append(problems, fmt.Sprintf("%s.action: %q is not delegated to this part (delegated: %s)", path, r.Action, del.ActionsText()))
		}
		if len(r.Services) == 0 {
			r.Services = slices.Clone(del.Services)
		}
		for j, svc := range r.Services {
			if !slices.Contains(del.Services, svc) {
				problems = append(problems, fmt.Sprintf("%s.services[%d]: %s is not delegated to this part (delegated: %s)", path, j, svc, strings.Join(del.Services, ", ")))
			}
		}
		if !doc.list {
			r.Name = del.Part + "/" + r.Name
		}
		rules = append(rules, r)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return rules, nil
}

// ActionsText lists the delegated actions, such as "accept, reject".
func (d Delegation) ActionsText() string {
	s := make([]string, len(d.Actions))
	for i, a := range d.Actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

// problemStrings lists the problems of a parse error.
func problemStrings(err error) []string {
	if verr, ok := err.(*ValidationError); ok {
		out := make([]string, len(verr.Problems))
		for i, p := range verr.Problems {
			out[i] = p.String()
		}
		if verr.More > 0 {
			out = append(out, strings.TrimPrefix(MoreText(verr.More), "; "))
		}
		return out
	}
	return []string{err.Error()}
}

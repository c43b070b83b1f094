package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Problem is one thing wrong with a policy, located by a field path such as
// rules[2].accounts[0].
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists every problem found in a policy, so a person fixes
// them in one pass rather than one per deploy.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid policy: " + strings.Join(parts, "; ")
}

// ErrEmpty is returned for a policy with no content at all.
var ErrEmpty = errors.New("invalid policy: the value is empty")

var (
	accountPattern  = regexp.MustCompile(`^[0-9]{12}$`)
	servicePattern  = regexp.MustCompile(`^vpce-svc-[0-9a-f]{8,17}$`)
	endpointPattern = regexp.MustCompile(`^vpce-[0-9a-fA-F]{8,17}$`)
	regionPattern   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// maxRuleNameLength keeps rule names readable in logs and messages.
const maxRuleNameLength = 128

// Parse reads a policy in either form: a JSON document (the text starts with
// "{") or a plain list of account IDs separated by commas, spaces or
// newlines. Any problem yields a *ValidationError (or ErrEmpty) and no policy:
// a policy is used whole or not at all.
func Parse(text []byte) (*Policy, error) {
	trimmed := bytes.TrimSpace(text)
	if len(trimmed) == 0 {
		return nil, ErrEmpty
	}
	var p *Policy
	var problems []Problem
	if trimmed[0] == '{' {
		p, problems = parseDocument(trimmed)
	} else {
		p, problems = parseList(trimmed)
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	p.index()
	return p, nil
}

// parseList reads the plain-list form into one accept rule.
func parseList(text []byte) (*Policy, []Problem) {
	fields := strings.FieldsFunc(string(text), func(r rune) bool {
		return r == ',' || unicode.IsSpace(r)
	})
	var problems []Problem
	for i, f := range fields {
		if !accountPattern.MatchString(f) {
			problems = append(problems, Problem{
				Path:    fmt.Sprintf("accounts[%d]", i),
				Message: fmt.Sprintf("%q is not a 12-digit account ID", f),
			})
		}
	}
	if len(fields) == 0 {
		problems = append(problems, Problem{Message: "the list holds no account ID"})
	}
	return &Policy{
		DefaultAction: Reject,
		Rules:         []Rule{{Name: AllowlistRuleName, Action: Accept, Accounts: fields}},
	}, problems
}

// validator accumulates problems while walking a JSON document.
type validator struct {
	problems []Problem
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// field is one member of a JSON object, in document order.
type field struct {
	key   string
	value json.RawMessage
}

// object decodes raw as a JSON object, keeping keys exactly as written:
// encoding/json would match "Accounts" to "accounts" and silently keep the
// last of two duplicate keys, and neither must pass here.
func (v *validator) object(path string, raw json.RawMessage, allowed ...string) (map[string]json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		v.add(path, "must be a JSON object")
		return nil, false
	}
	members := map[string]json.RawMessage{}
	var order []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			v.add(path, "malformed JSON object: %v", err)
			return nil, false
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			v.add(join(path, key), "malformed JSON value: %v", err)
			return nil, false
		}
		if _, dup := members[key]; dup {
			v.add(join(path, key), "appears more than once")
			continue
		}
		members[key] = value
		order = append(order, field{key, value})
	}
	for _, f := range order {
		if !slices.Contains(allowed, f.key) {
			if hint := caseInsensitiveMatch(allowed, f.key); hint != "" {
				v.add(join(path, f.key), "unknown field (keys are case-sensitive: did you mean %q?)", hint)
			} else {
				v.add(join(path, f.key), "unknown field (allowed: %s)", strings.Join(allowed, ", "))
			}
		}
	}
	return members, true
}

func parseDocument(text []byte) (*Policy, []Problem) {
	v := &validator{}
	// Reject truncated or trailing content before looking at fields: a policy
	// cut short by an editor must never be read as a smaller policy.
	if err := json.Unmarshal(text, new(any)); err != nil {
		v.add("", "policy is not valid JSON: %v", err)
		return nil, v.problems
	}
	members, ok := v.object("", text, "version", "defaultAction", "rules")
	if !ok {
		return nil, v.problems
	}
	p := &Policy{DefaultAction: Reject}

	if raw, ok := members["version"]; !ok {
		v.add("version", "is required and must be 1")
	} else if got := string(raw); got != "1" {
		v.add("version", "must be 1, got %s", got)
	}

	if raw, ok := members["defaultAction"]; ok {
		var s string
		switch {
		case json.Unmarshal(raw, &s) != nil:
			v.add("defaultAction", "must be a string: \"reject\" or \"manual\"")
		case s == string(Reject) || s == string(Manual):
			p.DefaultAction = Action(s)
		default:
			v.add("defaultAction", "%q is not allowed: must be \"reject\" or \"manual\"", s)
		}
	}

	raw, ok := members["rules"]
	if !ok {
		v.add("rules", "is required (an empty list leaves every request to defaultAction)")
		return p, v.problems
	}
	var rules []json.RawMessage
	if err := json.Unmarshal(raw, &rules); err != nil || rules == nil {
		v.add("rules", "must be a list of rule objects")
		return p, v.problems
	}
	names := map[string]int{}
	for i, rawRule := range rules {
		path := fmt.Sprintf("rules[%d]", i)
		r, ok := v.rule(path, rawRule)
		if !ok {
			continue
		}
		if r.Name != "" {
			if first, dup := names[r.Name]; dup {
				v.add(path+".name", "%q is already the name of rules[%d]: names must be unique", r.Name, first)
			} else {
				names[r.Name] = i
			}
		}
		p.Rules = append(p.Rules, r)
	}
	return p, v.problems
}

func (v *validator) rule(path string, raw json.RawMessage) (Rule, bool) {
	members, ok := v.object(path, raw, "name", "action", "accounts", "services", "endpoints", "regions", "expires")
	if !ok {
		return Rule{}, false
	}
	var r Rule

	if name, ok := v.str(path+".name", members, true); ok {
		switch {
		case name == "" || strings.TrimSpace(name) != name:
			v.add(path+".name", "must be a non-empty name without surrounding spaces")
		case len(name) > maxRuleNameLength:
			v.add(path+".name", "is longer than %d characters", maxRuleNameLength)
		case strings.EqualFold(name, DefaultRuleName):
			v.add(path+".name", "%q is reserved for decisions made by defaultAction", name)
		default:
			r.Name = name
		}
	}

	if action, ok := v.str(path+".action", members, true); ok {
		if action == string(Accept) || action == string(Reject) {
			r.Action = Action(action)
		} else {
			v.add(path+".action", "%q is not allowed: must be \"accept\" or \"reject\"", action)
		}
	}

	r.Accounts = v.list(path+".accounts", members, true, func(s string) string {
		if s == AnyAccount || accountPattern.MatchString(s) {
			return ""
		}
		return fmt.Sprintf("%q is not a 12-digit account ID or \"*\"", s)
	})
	r.Services = v.list(path+".services", members, false, func(s string) string {
		if servicePattern.MatchString(s) {
			return ""
		}
		return fmt.Sprintf("%q is not an endpoint service ID (vpce-svc- and 8 to 17 lowercase hex digits)", s)
	})
	r.Endpoints = v.list(path+".endpoints", members, false, func(s string) string {
		if endpointPattern.MatchString(s) {
			return ""
		}
		return fmt.Sprintf("%q is not a VPC endpoint ID (vpce- and 8 to 17 hex digits)", s)
	})
	for i, e := range r.Endpoints {
		r.Endpoints[i] = strings.ToLower(e) // EC2 reports IDs in lowercase
	}
	r.Regions = v.list(path+".regions", members, false, func(s string) string {
		if regionPattern.MatchString(s) {
			return ""
		}
		return fmt.Sprintf("%q is not an AWS Region name such as eu-west-1", s)
	})

	if s, ok := v.str(path+".expires", members, false); ok {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			v.add(path+".expires", "%q is not an RFC 3339 time such as 2027-06-30T00:00:00Z", s)
		} else {
			r.Expires = t
		}
	}
	return r, true
}

// str reads a string member; ok is false when absent or not a string (the
// latter, and a missing required member, are recorded as problems).
func (v *validator) str(path string, members map[string]json.RawMessage, required bool) (string, bool) {
	raw, present := members[last(path)]
	if !present {
		if required {
			v.add(path, "is required")
		}
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		v.add(path, "must be a string")
		return "", false
	}
	return s, true
}

// list reads a list of strings, checking each item with check (which returns
// a message for a bad item). A present list must not be empty: an empty list
// would read as "any" to some and "none" to others.
func (v *validator) list(path string, members map[string]json.RawMessage, required bool, check func(string) string) []string {
	raw, present := members[last(path)]
	if !present {
		if required {
			v.add(path, "is required")
		}
		return nil
	}
	var items []string
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		v.add(path, "must be a list of strings")
		return nil
	}
	if len(items) == 0 {
		v.add(path, "must not be empty (omit it to mean any)")
		return nil
	}
	for i, item := range items {
		if msg := check(item); msg != "" {
			v.add(fmt.Sprintf("%s[%d]", path, i), "%s", msg)
		}
	}
	return items
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func last(path string) string {
	return path[strings.LastIndexByte(path, '.')+1:]
}

func caseInsensitiveMatch(list []string, s string) string {
	for _, item := range list {
		if strings.EqualFold(item, s) {
			return item
		}
	}
	return ""
}

package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
)

// Severity says how much a Problem matters.
type Severity string

// The severities of a Problem.
const (
	// SeverityError makes the policy invalid: it is used whole or not at
	// all, so nothing is decided with it.
	SeverityError Severity = "error"
	// SeverityWarning is valid, but probably not what its writer meant (a
	// rule that has expired, a policy that accepts nobody): see Warnings.
	SeverityWarning Severity = "warning"
)

// Problem is one thing wrong with a policy, located by a field path such as
// rules[2].accounts[0] ("" for the policy as a whole).
type Problem struct {
	Path     string   `json:"path"`
	Message  string   `json:"message"`
	Severity Severity `json:"severity"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists every problem found in a policy, so a person fixes
// them in one pass rather than one per deploy: the first MaxProblems of
// them, and how many more there are.
type ValidationError struct {
	Problems []Problem
	// More counts the problems past MaxProblems, not listed.
	More int
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid policy: " + strings.Join(parts, "; ") + MoreText(e.More)
}

// MaxProblems is the most problems a ValidationError lists: a file that is
// not a policy at all (a binary, a log) would otherwise yield one per word,
// and the first fifty say enough.
const MaxProblems = 50

// MoreText says how many problems were left out, as the end of a list:
// "" for none, else "; ... and N more problems".
func MoreText(more int) string {
	switch {
	case more <= 0:
		return ""
	case more == 1:
		return "; ... and 1 more problem"
	}
	return fmt.Sprintf("; ... and %d more problems", more)
}

// ErrEmpty is returned for a policy with no content at all.
var ErrEmpty = errors.New("invalid policy: the value is empty")

var (
	// rfc3339Pattern holds time.Parse to RFC 3339 proper: it also takes a
	// comma before the fraction, one-digit hours and offsets past 23:59.
	// It is compiled on first use, not at start: the function's cold
	// start does not pay for it.
	rfc3339Pattern = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`)
	})
)

// maxRuleNameLength keeps rule names readable in logs and messages.
const maxRuleNameLength = 128

// Parse reads a policy in either form: a JSON document (the text starts with
// "{") or a plain list of account IDs separated by commas, spaces or
// newlines, whose accept rule is named AllowlistRuleName. A UTF-8 byte-order
// mark before the text is ignored. A JSON array, or a text that reads as
// YAML, is neither form, and never read as a list of accounts. Any problem
// yields a *ValidationError (or ErrEmpty) and no policy: a policy is used
// whole or not at all.
func Parse(text []byte) (*Policy, error) {
	d, err := parsePart(text, AllowlistRuleName, standalone)
	if err != nil {
		return nil, err
	}
	return d.policy(), nil
}

// ParseRoot reads the root part of a path policy: a JSON document that may
// also set delegate (see Compose). It is what `approverctl policy validate`
// checks a root file with; alone, it decides as the root's own rules do.
func ParseRoot(text []byte) (*Policy, error) {
	d, err := parsePart(text, AllowlistRuleName, rootPart)
	if err != nil {
		return nil, err
	}
	return d.policy(), nil
}

// IsRoot reports whether text is a JSON document that sets delegate: a
// root part, to be read with ParseRoot.
func IsRoot(text []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(bytes.TrimSpace(bytes.TrimPrefix(text, byteOrderMark)), &top) != nil {
		return false
	}
	_, ok := top["delegate"]
	return ok
}

// Source is one part of a path policy: its name relative to the path
// (payments for /privatelink-approver/policy/payments) and its text.
type Source struct {
	Name string
	Text []byte
	// Unreadable says why the part's text could not be read (a
	// SecureString that could not be decrypted): a delegated part that is
	// unreadable is refused.
	Unreadable string
}

// document is one part as written: top-level fields are nil where unset,
// so that merged parts can be checked for agreement.
type document struct {
	defaultAction  *Action
	revoke         *bool
	maxRevocations *int
	maxRejections  *int
	delegations    []Delegation
	rules          []Rule
	// list is set for the plain-list form.
	list bool
}

// policy builds the indexed Policy with the defaults for unset fields.
func (d *document) policy() *Policy {
	p := &Policy{
		DefaultAction:  Reject,
		MaxRevocations: DefaultMaxRevocations,
		MaxRejections:  DefaultMaxRejections,
		Rules:          d.rules,
		Delegations:    d.delegations,
	}
	if d.defaultAction != nil {
		p.DefaultAction = *d.defaultAction
	}
	if d.revoke != nil {
		p.Revoke = *d.revoke
	}
	if d.maxRevocations != nil {
		p.MaxRevocations = *d.maxRevocations
	}
	if d.maxRejections != nil {
		p.MaxRejections = *d.maxRejections
	}
	p.index()
	return p
}

// kind is what a text is read as: which top-level fields it may set, and
// which rule names it may use.
type kind int

const (
	// standalone is a policy held in one parameter.
	standalone kind = iota
	// rootPart is the root part of a path: it may also delegate.
	rootPart
	// delegatedPart is a part a root delegates to: version and rules only.
	delegatedPart
)

// rootOnly are the top-level fields only the root part (or a policy held in
// one parameter) may set.
var rootOnly = []string{"defaultAction", "revoke", "maxRevocations", "maxRejections", "delegate"}

// byteOrderMark is the UTF-8 byte-order mark some editors write at the
// start of a file (Notepad, PowerShell's Set-Content): no part of a policy.
var byteOrderMark = []byte("\xef\xbb\xbf")

// parsePart reads one part in either form; listRule names the accept rule
// of the plain-list form. The form is told by the first character that is
// not white space: "{" is a JSON document; "[" a JSON array, which is no
// policy; a first line that reads as YAML is no policy either; anything
// else is a plain list.
func parsePart(text []byte, listRule string, k kind) (*document, error) {
	text = bytes.TrimPrefix(text, byteOrderMark)
	trimmed := bytes.TrimSpace(text)
	if len(trimmed) == 0 {
		return nil, ErrEmpty
	}
	v := &validator{}
	var d *document
	switch {
	case trimmed[0] == '{':
		d = v.document(trimmed, len(text)-len(bytes.TrimLeftFunc(text, unicode.IsSpace)), text, k)
	case trimmed[0] == '[':
		v.add("", `a JSON array is not a policy: write a JSON document ({"version": 1, "rules": [...]}), or a plain list of account IDs separated by commas, spaces or newlines`)
	case yamlLine(trimmed) != "":
		v.add("", `the policy reads as YAML (first line %q): it must be a JSON document ({"version": 1, "rules": [...]}), or a plain list of account IDs separated by commas, spaces or newlines`,
			yamlLine(trimmed))
	case k == rootPart:
		v.add("", "the root part must be a JSON document (a plain list of accounts can be a delegated part)")
	default:
		d = v.accountList(trimmed, listRule)
	}
	if len(v.problems) > 0 {
		return nil, &ValidationError{Problems: v.problems, More: v.more}
	}
	return d, nil
}

// yamlLine is the first line of text that says it is YAML, or "": its
// first line that is neither blank nor a # comment, when that is a
// document marker (---, %YAML), a list item (- ...) or a key and a value
// (version: 1). A plain list never holds a colon or a dash.
func yamlLine(text []byte) string {
	for raw := range bytes.Lines(text) {
		line := strings.TrimSpace(string(raw))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, colon := strings.Cut(line, ":")
		key = strings.Trim(strings.TrimSpace(key), `"'`)
		switch {
		case strings.HasPrefix(line, "---"), strings.HasPrefix(line, "%YAML"), line == "-", strings.HasPrefix(line, "- "),
			colon && isYAMLKey(key):
			if r := []rune(line); len(r) > 40 {
				line = string(r[:40]) + "..."
			}
			return line
		}
		return ""
	}
	return ""
}

// isYAMLKey reports whether s reads as a YAML mapping key: a letter or _
// first, then letters, digits, _, - or dots. An account ID, all digits,
// never does.
func isYAMLKey(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r == '_' || unicode.IsLetter(r)
		if !letter && (i == 0 || !unicode.IsDigit(r) && r != '-' && r != '.') {
			return false
		}
	}
	return true
}

// accountList reads the plain-list form into one accept rule.
func (v *validator) accountList(text []byte, ruleName string) *document {
	fields := strings.FieldsFunc(string(text), func(r rune) bool {
		return r == ',' || unicode.IsSpace(r)
	})
	for i, f := range fields {
		if !awsid.IsAccount(f) {
			v.add(fmt.Sprintf("accounts[%d]", i), "%q is not a 12-digit account ID", f)
		}
	}
	if len(fields) == 0 {
		v.add("", "the list holds no account ID")
	}
	return &document{rules: []Rule{{Name: ruleName, Action: Accept, Accounts: fields}}, list: true}
}

// validator accumulates problems while walking a JSON document: the first
// MaxProblems of them, and a count of the rest.
type validator struct {
	problems []Problem
	more     int
}

func (v *validator) add(path, format string, args ...any) {
	if len(v.problems) >= MaxProblems {
		v.more++ // not formatted: a large file past the cap costs a count
		return
	}
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...), Severity: SeverityError})
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

// document reads the JSON form: text, which starts at byte lead of whole
// (the part as written, for the line and column of a syntax error).
func (v *validator) document(text []byte, lead int, whole []byte, k kind) *document {
	// Reject truncated or trailing content before looking at fields: a policy
	// cut short by an editor must never be read as a smaller policy.
	if err := json.Unmarshal(text, new(any)); err != nil {
		if at := jsonErrorAt(whole, lead, err); at != "" {
			v.add("", "policy is not valid JSON: %s: %v", at, err)
		} else {
			v.add("", "policy is not valid JSON: %v", err)
		}
		return nil
	}
	members, ok := v.object("", text, "version", "defaultAction", "revoke", "maxRevocations", "maxRejections", "delegate", "rules")
	if !ok {
		return nil
	}
	p := &document{}
	for _, f := range rootOnly {
		_, set := members[f]
		switch {
		case !set:
		case k == delegatedPart:
			v.add(f, "only the root part may set it: a delegated part holds version and rules only")
			delete(members, f)
		case k == standalone && f == "delegate":
			v.add(f, "only the root part of a path policy (POLICY_PARAMETER ending in /, parameter root) may delegate")
			delete(members, f)
		}
	}

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
			a := Action(s)
			p.defaultAction = &a
		default:
			v.add("defaultAction", "%q is not allowed: must be \"reject\" or \"manual\"", s)
		}
	}

	if raw, ok := members["revoke"]; ok {
		var b bool
		if string(raw) == "null" || json.Unmarshal(raw, &b) != nil {
			v.add("revoke", "must be true or false")
		} else {
			p.revoke = &b
		}
	}

	if raw, ok := members["maxRevocations"]; ok {
		if n, ok := v.wholeNumber("maxRevocations", raw, 0); ok {
			p.maxRevocations = &n
		}
	}

	if raw, ok := members["maxRejections"]; ok {
		if n, ok := v.wholeNumber("maxRejections", raw, 0); ok {
			p.maxRejections = &n
		}
	}

	if raw, ok := members["delegate"]; ok {
		p.delegations = v.delegations(raw)
	}

	raw, ok := members["rules"]
	if !ok {
		v.add("rules", "is required (an empty list leaves every request to defaultAction)")
		return p
	}
	var rules []json.RawMessage
	if err := json.Unmarshal(raw, &rules); err != nil || rules == nil {
		v.add("rules", "must be a list of rule objects")
		return p
	}
	names := map[string]int{}
	for i, rawRule := range rules {
		path := fmt.Sprintf("rules[%d]", i)
		r, ok := v.rule(path, rawRule, k)
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
		p.rules = append(p.rules, r)
	}
	if k == rootPart {
		v.partsClashWithRules(p)
	}
	return p
}

// jsonErrorAt is where in text a JSON decoding error of text[lead:] is, as
// "line L, column C" (columns in characters, from 1), or "" for an error
// that does not say. The offset a decoder reports is just past the byte it
// stopped at.
func jsonErrorAt(text []byte, lead int, err error) string {
	var offset int64
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		offset = syntax.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	default:
		return ""
	}
	at := min(max(lead+int(offset)-1, 0), len(text))
	line := 1 + bytes.Count(text[:at], []byte("\n"))
	column := 1 + utf8.RuneCount(text[bytes.LastIndexByte(text[:at], '\n')+1:at])
	return fmt.Sprintf("line %d, column %d", line, column)
}

func (v *validator) rule(path string, raw json.RawMessage, k kind) (Rule, bool) {
	members, ok := v.object(path, raw, "name", "action", "accounts", "organizations", "organizationalUnits", "services", "endpoints", "regions", "expires", "maxEndpoints")
	if !ok {
		return Rule{}, false
	}
	var r Rule

	if name, ok := v.str(path+".name", members, true); ok {
		switch {
		case name == "" || strings.TrimSpace(name) != name:
			v.add(path+".name", "must be a non-empty name without surrounding spaces")
		case utf8.RuneCountInString(name) > maxRuleNameLength:
			v.add(path+".name", "is longer than %d characters", maxRuleNameLength)
		case strings.EqualFold(name, DefaultRuleName):
			v.add(path+".name", "%q is reserved for decisions made by defaultAction", name)
		case strings.EqualFold(name, PersonRuleName):
			v.add(path+".name", "%q is reserved for decisions a person makes with approverctl", name)
		case k != standalone && strings.Contains(name, "/"):
			v.add(path+".name", "%q: a rule of a path policy must not contain / (decision lines name a part's rules PART/NAME)", name)
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

	r.Accounts = v.list(path+".accounts", members, false, func(s string) string {
		if s == AnyAccount || awsid.IsAccount(s) {
			return ""
		}
		return fmt.Sprintf("%q is not a 12-digit account ID or \"*\"", s)
	})
	r.Organizations = v.list(path+".organizations", members, false, func(s string) string {
		if awsid.IsOrganizationID(s) {
			return ""
		}
		return fmt.Sprintf("%q is not an organization ID (o- and 10 to 32 lowercase letters or digits)", s)
	})
	r.OrganizationalUnits = v.list(path+".organizationalUnits", members, false, func(s string) string {
		if awsid.IsOUID(s) {
			return ""
		}
		return fmt.Sprintf("%q is not an organizational unit ID (ou-, 4 to 32 lowercase letters or digits, -, and 8 to 32 lowercase letters or digits)", s)
	})
	_, hasAccounts := members["accounts"]
	_, hasOrgs := members["organizations"]
	_, hasOUs := members["organizationalUnits"]
	if !hasAccounts && !hasOrgs && !hasOUs {
		v.add(path, "needs at least one of accounts, organizations and organizationalUnits (who the rule is for)")
	}
	r.Services = v.list(path+".services", members, false, func(s string) string {
		if awsid.IsServiceID(s) {
			return ""
		}
		return fmt.Sprintf("%q is not an endpoint service ID (vpce-svc- and 8 to 17 lowercase hex digits)", s)
	})
	r.Endpoints = v.list(path+".endpoints", members, false, func(s string) string {
		if awsid.IsEndpointID(s) {
			return ""
		}
		return fmt.Sprintf("%q is not a VPC endpoint ID (vpce- and 8 to 17 hex digits)", s)
	})
	for i, e := range r.Endpoints {
		r.Endpoints[i] = awsid.NormalizeEndpointID(e)
	}
	r.Regions = v.list(path+".regions", members, false, func(s string) string {
		if awsid.IsRegion(s) {
			return ""
		}
		return fmt.Sprintf("%q is not an AWS Region name such as eu-west-1", s)
	})

	if raw, ok := members["maxEndpoints"]; ok {
		if n, ok := v.wholeNumber(path+".maxEndpoints", raw, 1); ok {
			if r.Action == Reject {
				v.add(path+".maxEndpoints", "applies to accept rules only: a limit never rejects")
			}
			r.MaxEndpoints = n
		}
	}

	if s, ok := v.str(path+".expires", members, false); ok {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil || !rfc3339Pattern().MatchString(s) {
			v.add(path+".expires", "%q is not an RFC 3339 time such as 2027-06-30T00:00:00Z", s)
		} else {
			r.Expires = t
		}
	}
	return r, true
}

// wholeNumber reads a JSON integer of at least lowest.
func (v *validator) wholeNumber(path string, raw json.RawMessage, lowest int) (int, bool) {
	var n int
	if err := json.Unmarshal(raw, &n); err != nil || string(raw) == "null" || n < lowest {
		v.add(path, "must be a whole number of at least %d, got %s", lowest, raw)
		return 0, false
	}
	return n, true
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

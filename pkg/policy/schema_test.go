package policy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// policy.schema.json describes the JSON form of the policy for editors. These
// tests keep it honest: every example policy in README.md, in this package's
// test tables, other test files and fuzz seeds, and in the schema's own
// examples must be judged the same (valid or invalid) by the schema and by
// policy.Parse, except for the cases listed in schemaCannotExpress, each
// with its reason.

const (
	schemaFile = "../../policy.schema.json"
	readmeFile = "../../README.md"
	fuzzSeeds  = "testdata/fuzz/FuzzParse"
)

// schemaCannotExpress lists what policy.Parse rejects and the schema cannot
// express, so accepts. TestSchemaExceptions asserts each entry still is such a
// case: the list can neither grow silently nor keep a stale entry.
var schemaCannotExpress = []struct {
	name, policy, reason string
}{
	{"duplicate rule names", invalidPolicy("duplicate names"),
		"JSON Schema has no unique-by-property keyword: uniqueItems compares whole items, and these two rules differ"},
	{"duplicate JSON keys", invalidPolicy("duplicate key"),
		"a schema validates the decoded value, in which a repeated key has already collapsed into one"},
	{"version written as 1.0", `{"version": 1.0, "rules": []}`,
		"JSON Schema compares numbers by value (1.0 equals 1); policy.Parse wants the literal 1"},
	{"maxRevocations written as 10.0", `{"version": 1, "maxRevocations": 10.0, "rules": []}`,
		`"type": "integer" admits any number with a zero fraction (10.0, 1e1); policy.Parse decodes into a Go int, which does not`},
	{"maxEndpoints past Go's int range", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["*"], "maxEndpoints": 9223372036854775808}]}`,
		"JSON Schema integers are unbounded; policy.Parse decodes into a 64-bit Go int"},
}

// schemaEdgeCases are boundaries where the schema and policy.Parse implement
// the same rule differently (regular expressions, white space, lengths,
// numbers, conditionals); both must give the expected verdict.
var schemaEdgeCases = []struct {
	name   string
	policy string
	valid  bool
}{
	{"white space around members", `{ "version" : 1 , "rules" : [ ] }`, true},
	{"every field", `{"version": 1, "defaultAction": "manual", "revoke": true, "maxRevocations": 0, "rules": [
		{"name": "a", "action": "accept", "accounts": ["*", "111122223333"], "services": ["vpce-svc-01234567"],
		 "endpoints": ["vpce-0123456789ABCDEF0"], "regions": ["us-gov-west-1"], "expires": "2027-06-30T02:00:00.5+02:00", "maxEndpoints": 1},
		{"name": "b", "action": "reject", "accounts": ["999988887777"]}]}`, true},
	{"revoke false", `{"version": 1, "revoke": false, "rules": []}`, true},
	{"revoke null", `{"version": 1, "revoke": null, "rules": []}`, false},
	{"maxRevocations null", `{"version": 1, "maxRevocations": null, "rules": []}`, false},
	{"expires with a comma before the fraction", expiring("2027-06-30T00:00:00,5Z"), false},
	{"expires with a one-digit hour", expiring("2027-06-30T1:00:00Z"), false},
	{"expires with a zone offset of +24:00", expiring("2027-06-30T00:00:00+24:00"), false},
	{"name of 128 two-byte characters", named(strings.Repeat("é", 128)), true},
	{"revoke as a string", `{"version": 1, "revoke": "true", "rules": []}`, false},
	{"maxRevocations negative", `{"version": 1, "maxRevocations": -1, "rules": []}`, false},
	{"maxRevocations as a string", `{"version": 1, "maxRevocations": "10", "rules": []}`, false},
	{"maxRevocations with a fraction", `{"version": 1, "maxRevocations": 1.5, "rules": []}`, false},
	{"maxEndpoints zero", rule(`"action": "accept", "maxEndpoints": 0`), false},
	{"maxEndpoints on a reject rule", rule(`"action": "reject", "maxEndpoints": 2`), false},
	{"maxEndpoints as a string", rule(`"action": "accept", "maxEndpoints": "2"`), false},
	{"name of 128 characters", named(strings.Repeat("n", 128)), true},
	{"name of 129 characters", named(strings.Repeat("n", 129)), false},
	{"name with inner white space", named(`partner a\tb\nc`), true},
	{"name starting with default", named("default-eu"), true},
	{"name DEFAULT", named("DEFAULT"), false},
	{"name person, a person's decisions", named("person"), false},
	{"name Person", named("Person"), false},
	{"name starting with person", named("personal-accounts"), true},
	{"empty name", named(""), false},
	{"name of spaces only", named("   "), false},
	{"name with a trailing newline", named(`a\n`), false},
	{"name with a trailing vertical tab", named(`a\u000b`), false},
	{"name with a leading NEL", named(`\u0085a`), false},
	{"name with a trailing no-break space", named(`a\u00a0`), false},
	{"name with a leading ideographic space", named(`\u3000a`), false},
	{"name with a trailing line separator", named(`a\u2028`), false},
	{"name with a trailing byte order mark (not white space to Go)", named(`a\ufeff`), true},
	{"name as a number", `{"version": 1, "rules": [{"name": 1, "action": "accept", "accounts": ["*"]}]}`, false},
	{"account of 11 digits", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["11112222333"]}]}`, false},
	{"account null", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": [null]}]}`, false},
	{"account with a trailing newline", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["111122223333\n"]}]}`, false},
	{"service of 18 hex digits", rule(`"action": "accept", "services": ["vpce-svc-0123456789abcdef01"]`), false},
	{"service of 8 hex digits", rule(`"action": "accept", "services": ["vpce-svc-01234567"]`), true},
	{"endpoint of 7 hex digits", rule(`"action": "accept", "endpoints": ["vpce-0123456"]`), false},
	{"region in capitals", rule(`"action": "accept", "regions": ["EU-WEST-1"]`), false},
	{"expires with lower-case t and z", expiring("2027-06-30t00:00:00z"), false},
	{"expires on a leap second", expiring("2016-12-31T23:59:60Z"), false},
	{"expires without a zone", expiring("2027-06-30T00:00:00"), false},
	{"expires on 31 June", expiring("2027-06-31T00:00:00Z"), false},
	{"expires as a date", expiring("2027-06-30"), false},
	{"defaultAction null", `{"version": 1, "defaultAction": null, "rules": []}`, false},
	{"rules null", `{"version": 1, "rules": null}`, false},
	{"unknown rule field", rule(`"action": "accept", "comment": "x"`), false},
}

// rule is a policy with one rule named "a" for any account, plus members.
func rule(members string) string {
	return `{"version": 1, "rules": [{"name": "a", "accounts": ["*"], ` + members + `}]}`
}

// named is a policy with one accept rule of the given name (JSON-escaped).
func named(name string) string {
	return `{"version": 1, "rules": [{"name": "` + name + `", "action": "accept", "accounts": ["*"]}]}`
}

// expiring is a policy with one accept rule that expires at ts.
func expiring(ts string) string {
	return rule(`"action": "accept", "expires": "` + ts + `"`)
}

// invalidPolicy is the policy of the invalidPolicyTests row with that name,
// so that an exception follows the row it explains.
func invalidPolicy(name string) string {
	for _, tt := range invalidPolicyTests {
		if tt.name == name {
			return tt.policy
		}
	}
	panic("schema_test: no invalidPolicyTests row named " + strconv.Quote(name))
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat() // so that "format": "date-time" is checked, not only annotated
	s, err := c.Compile(schemaFile)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaFile, err)
	}
	return s
}

// verdict is one validator's judgement of a policy.
type verdict struct {
	valid  bool
	detail string // the error, when invalid
}

func (v verdict) String() string {
	if v.valid {
		return "valid"
	}
	return "invalid: " + strings.ReplaceAll(strings.TrimSpace(v.detail), "\n", "\n    ")
}

// goVerdict is policy.Parse's verdict, or for a root part (one that sets
// delegate) policy.ParseRoot's: the schema describes both.
func goVerdict(text string) verdict {
	parse := policy.Parse
	if policy.IsRoot([]byte(text)) {
		parse = policy.ParseRoot
	}
	if _, err := parse([]byte(text)); err != nil {
		return verdict{detail: err.Error()}
	}
	return verdict{valid: true}
}

// jsonForm reports whether policy.Parse reads text as a JSON document (it
// starts with "{" after white space) rather than a plain list or nothing.
func jsonForm(text string) bool {
	return bytes.HasPrefix(bytes.TrimSpace([]byte(text)), []byte("{"))
}

// schemaVerdict judges text with the schema; ok is false when text is not
// JSON at all (truncated, trailing content), which no schema can judge.
func schemaVerdict(s *jsonschema.Schema, text string) (v verdict, ok bool) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return verdict{}, false
	}
	if err := s.Validate(doc); err != nil {
		return verdict{detail: err.Error()}, true
	}
	return verdict{valid: true}, true
}

func report(what, text string, schema, goV verdict) string {
	return fmt.Sprintf("%s\npolicy:\n%s\nschema:       %s\npolicy.Parse: %s", what, text, schema, goV)
}

// example is one policy found in the repository.
type example struct {
	where       string
	text        string
	mustBeValid bool
}

func collectExamples(t *testing.T) []example {
	t.Helper()
	var all []example
	readme := readmeExamples(t)
	if len(readme) == 0 {
		t.Fatalf("%s: found no ```json policy example", readmeFile)
	}
	all = append(all, readme...)
	for _, tt := range decideTests {
		all = append(all, example{where: "decideTests/" + tt.name, text: tt.policy, mustBeValid: true})
	}
	for _, tt := range invalidPolicyTests {
		all = append(all, example{where: "invalidPolicyTests/" + tt.name, text: tt.policy})
	}
	all = append(all, sourceExamples(t)...)
	all = append(all, fuzzSeedExamples(t)...)
	all = append(all, schemaExamples(t)...)
	// The same policy is judged once, under the first place it was found.
	var unique []example
	seen := map[string]int{}
	for _, ex := range all {
		if i, dup := seen[ex.text]; dup {
			unique[i].mustBeValid = unique[i].mustBeValid || ex.mustBeValid
			continue
		}
		seen[ex.text] = len(unique)
		unique = append(unique, ex)
	}
	return unique
}

// sourceExamples returns every string literal in this package's other test
// files that reads as a JSON policy (it starts with "{" and names "version"
// or "rules"), so that policies in tables local to a test function, and in
// tests added later, are compared too.
func sourceExamples(t *testing.T) []example {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var found []example
	for _, name := range files {
		if name == "schema_test.go" { // its cases are judged by its own tests
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			text, err := strconv.Unquote(lit.Value)
			if err == nil && jsonForm(text) && (strings.Contains(text, `"version"`) || strings.Contains(text, `"rules"`)) {
				pos := fset.Position(lit.Pos())
				found = append(found, example{where: fmt.Sprintf("%s:%d", pos.Filename, pos.Line), text: text})
			}
			return true
		})
	}
	return found
}

// readmeExamples returns the ```json blocks of README.md that hold a policy:
// a JSON object with a "version" or a "rules" key.
func readmeExamples(t *testing.T) []example {
	t.Helper()
	data, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	var found []example
	var block []string
	start, in := 0, false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		switch {
		case !in && strings.TrimSpace(text) == "```json":
			start, in, block = line, true, nil
		case in && strings.TrimSpace(text) == "```":
			in = false
			body := strings.Join(block, "\n")
			doc, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
			if err != nil {
				t.Errorf("%s:%d: a ```json block that is not valid JSON (%v):\n%s", readmeFile, start, err, body)
				continue
			}
			obj, isObject := doc.(map[string]any)
			if !isObject {
				continue
			}
			_, hasVersion := obj["version"]
			_, hasRules := obj["rules"]
			if hasVersion || hasRules {
				found = append(found, example{where: fmt.Sprintf("README.md:%d", start), text: body, mustBeValid: true})
			}
		case in:
			block = append(block, text)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if in {
		t.Errorf("%s:%d: unterminated ```json block", readmeFile, start)
	}
	return found
}

// fuzzSeedExamples reads the FuzzParse seed corpus ("go test fuzz v1" files
// holding one []byte("...") each).
func fuzzSeedExamples(t *testing.T) []example {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fuzzSeeds, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var found []example
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			quoted, ok := strings.CutPrefix(line, "[]byte(")
			if !ok {
				continue
			}
			text, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			found = append(found, example{where: f, text: text})
		}
	}
	return found
}

// schemaExamples returns the schema's own "examples", which must be valid.
func schemaExamples(t *testing.T) []example {
	t.Helper()
	doc := readSchemaDocument(t)
	examples, _ := doc["examples"].([]any)
	if len(examples) == 0 {
		t.Fatalf("%s: no examples", schemaFile)
	}
	var found []example
	for i, e := range examples {
		text, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, example{where: fmt.Sprintf("policy.schema.json/examples[%d]", i), text: string(text), mustBeValid: true})
	}
	return found
}

func readSchemaDocument(t *testing.T) map[string]any {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("%s: not a JSON object", schemaFile)
	}
	return obj
}

func TestSchemaAgreesWithParse(t *testing.T) {
	s := compileSchema(t)
	explained := map[string]string{}
	for _, e := range schemaCannotExpress {
		explained[e.policy] = "schema accepts, policy.Parse rejects: " + e.name
	}
	compared := 0
	for _, ex := range collectExamples(t) {
		t.Run(ex.where, func(t *testing.T) {
			if !jsonForm(ex.text) {
				t.Skip("plain list or empty: the schema describes the JSON form only")
			}
			goV := goVerdict(ex.text)
			schemaV, isJSON := schemaVerdict(s, ex.text)
			if !isJSON {
				// Not JSON at all (truncated, trailing content): no schema can
				// judge it, and policy.Parse must reject it.
				if goV.valid {
					t.Errorf("%s: not JSON, yet policy.Parse accepts it:\n%s", ex.where, ex.text)
				}
				t.Skip("not JSON: no schema can judge it (policy.Parse rejects it)")
			}
			compared++
			if ex.mustBeValid && !(schemaV.valid && goV.valid) {
				t.Errorf("%s", report(ex.where+": this example must be valid", ex.text, schemaV, goV))
				return
			}
			if schemaV.valid == goV.valid {
				return
			}
			if why, ok := explained[ex.text]; ok && strings.HasPrefix(why, "schema accepts") == schemaV.valid {
				t.Logf("known disagreement (%s)", why)
				return
			}
			t.Errorf("%s", report(ex.where+": the schema and policy.Parse disagree (fix the schema, or list the case in schemaCannotExpress with the reason)",
				ex.text, schemaV, goV))
		})
	}
	if compared == 0 {
		t.Fatal("no JSON policy was compared")
	}
}

func TestSchemaEdgeCases(t *testing.T) {
	s := compileSchema(t)
	for _, tt := range schemaEdgeCases {
		t.Run(tt.name, func(t *testing.T) {
			goV := goVerdict(tt.policy)
			schemaV, isJSON := schemaVerdict(s, tt.policy)
			if !isJSON {
				t.Fatalf("test case is not JSON:\n%s", tt.policy)
			}
			if schemaV.valid != tt.valid || goV.valid != tt.valid {
				t.Errorf("%s", report(fmt.Sprintf("%s: want valid=%v from both", tt.name, tt.valid), tt.policy, schemaV, goV))
			}
		})
	}
}

// TestSchemaExceptions: each listed case is accepted by the schema and
// rejected by policy.Parse, for the reason given.
func TestSchemaExceptions(t *testing.T) {
	s := compileSchema(t)
	for _, tt := range schemaCannotExpress {
		t.Run(tt.name, func(t *testing.T) {
			if tt.reason == "" {
				t.Error("an exception needs its reason")
			}
			goV := goVerdict(tt.policy)
			schemaV, isJSON := schemaVerdict(s, tt.policy)
			if !isJSON || !schemaV.valid || goV.valid {
				t.Errorf("%s", report(fmt.Sprintf("%s: listed as accepted by the schema and rejected by policy.Parse (%s), but it is not (remove the entry if this is fixed)",
					tt.name, tt.reason), tt.policy, schemaV, goV))
			}
		})
	}
}

// TestGoAcceptsMore: each listed case is rejected by the schema (as the
// format says) and still accepted by policy.Parse.
// TestSchemaDescribesEveryProperty: editors show descriptions, so every
// property has one.
func TestSchemaDescribesEveryProperty(t *testing.T) {
	doc := readSchemaDocument(t)
	for _, key := range []string{"$schema", "$id", "title", "description"} {
		if s, _ := doc[key].(string); s == "" {
			t.Errorf("%s: no %s", schemaFile, key)
		}
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				for _, name := range slices.Sorted(maps.Keys(props)) {
					if sub, ok := props[name].(map[string]any); ok {
						if d, _ := sub["description"].(string); d == "" {
							t.Errorf("%s: property %s/properties/%s has no description", schemaFile, path, name)
						}
					}
				}
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				if k != "examples" && k != "default" && k != "const" && k != "enum" {
					walk(path+"/"+k, v[k])
				}
			}
		case []any:
			for i, item := range v {
				walk(fmt.Sprintf("%s/%d", path, i), item)
			}
		}
	}
	walk("#", doc)
}

package policy_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

const bom = "\ufeff"

// TestParseTellsTheForms: the form is told by the first character that is
// not white space; a byte-order mark is no part of the policy; neither a
// JSON array nor YAML is ever read as a list of account IDs.
func TestParseTellsTheForms(t *testing.T) {
	const doc = `{"version": 1, "rules": [{"name": "partner", "action": "accept", "accounts": ["111122223333"]}]}`
	tests := []struct {
		name     string
		text     string
		wantRule string // the first rule of a valid policy
		wantErr  string // else the one problem
	}{
		{"a JSON document", doc, "partner", ""},
		{"a JSON document after a byte-order mark", bom + doc, "partner", ""},
		{"a JSON document after a byte-order mark and blank lines", bom + "\r\n\n  " + doc + "\n", "partner", ""},
		{"a plain list after a byte-order mark", bom + "111122223333\r\n444455556666\r\n", policy.AllowlistRuleName, ""},
		{"a plain list with commas, spaces, tabs and newlines", "111122223333, 444455556666\n\t777788889999,,", policy.AllowlistRuleName, ""},
		{"a JSON array of accounts", `["111122223333", "444455556666"]`, "", "a JSON array is not a policy"},
		{"a JSON array after a byte-order mark", bom + " [" + doc + "]", "", "a JSON array is not a policy"},
		{"YAML", "version: 1\nrules:\n  - name: partner\n    action: accept\n    accounts: [\"111122223333\"]\n", "", `reads as YAML (first line "version: 1")`},
		{"YAML after comments and a document marker", "# the partners\n\n---\nversion: 1\n", "", `reads as YAML (first line "---")`},
		{"a YAML list of accounts", "- 111122223333\n- 444455556666\n", "", `reads as YAML (first line "- 111122223333")`},
		{"a quoted key and value", `"version": 1`, "", "reads as YAML"},
		{"a byte-order mark alone", bom + "\n", "", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse([]byte(tt.text))
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.NotEmpty(t, p.Rules)
				assert.Equal(t, tt.wantRule, p.Rules[0].Name)
				return
			}
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), tt.wantErr)
			var verr *policy.ValidationError
			if errors.As(err, &verr) {
				assert.Len(t, verr.Problems, 1, "one clear problem, not one per word")
				assert.NotContains(t, err.Error(), "12-digit", "never read as account IDs")
			}
		})
	}
}

func TestARootAfterAByteOrderMark(t *testing.T) {
	root := bom + `{"version": 1, "delegate": [{"part": "team", "services": ["vpce-svc-0aaaaaaaaaaaaaaaa"]}], "rules": []}`
	assert.True(t, policy.IsRoot([]byte(root)))
	p, err := policy.ParseRoot([]byte(root))
	require.NoError(t, err)
	assert.Len(t, p.Delegations, 1)
	composed, err := policy.Compose("/p/", []byte(root), []policy.Source{{Name: "team", Text: []byte(bom + "111122223333")}})
	require.NoError(t, err)
	assert.Empty(t, composed.Issues, "a part after a byte-order mark is read as its writer meant")
	_, err = policy.ParseRoot([]byte(bom + "- 111122223333"))
	assert.ErrorContains(t, err, "YAML")
}

// TestSyntaxErrorsSayWhere: the line and column (in characters, from 1)
// of a JSON syntax error, in the file as written.
func TestSyntaxErrorsSayWhere(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"a missing comma", `{"version": 1 "rules": []}`, "line 1, column 15: invalid character '\"' after object key:value pair"},
		{"a trailing comma on line 3", "{\n  \"version\": 1,\n  \"rules\": [],\n}", "line 4, column 1: invalid character '}'"},
		{"after blank lines and a byte-order mark", bom + "\n\n  {\"version\": 1,, \"rules\": []}", "line 3, column 17:"},
		{"columns in characters, not bytes", "{\"version\": 1, \"rules\": [{\"name\": \"été\" \"action\": \"accept\"}]}", "line 1, column 41:"}, // 43 in bytes
		{"cut short", "{\"version\": 1,\n \"rules\": [", "line 2, column 11: unexpected end of JSON input"},
		{"trailing content", "{\"version\": 1, \"rules\": []}\n{}", "line 2, column 1: invalid character '{' after top-level value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(tt.text))
			var verr *policy.ValidationError
			require.ErrorAs(t, err, &verr)
			require.Len(t, verr.Problems, 1)
			assert.Contains(t, verr.Problems[0].Message, "policy is not valid JSON: "+tt.want)
		})
	}
}

// TestProblemsStopAtFifty: a file that is no policy at all yields the
// first MaxProblems problems and a count of the rest, at any size.
func TestProblemsStopAtFifty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const size = 5 << 20
	words := make([]byte, size)
	const alphabet = "0123456789abcdefxyz ,\n"
	for i := range words {
		words[i] = alphabet[rng.IntN(len(alphabet))]
	}
	noise := make([]byte, size)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	manyRules := `{"version": 1, "rules": [` + strings.Repeat(`{"name": "x", "action": "accept", "accounts": ["1"]},`, 80) +
		`{"name": "x", "action": "accept", "accounts": ["1"]}]}`
	tests := []struct {
		name     string
		text     []byte
		wantMore bool
	}{
		{"5 MB of random words", words, true},
		{"5 MB of random bytes", noise, false},
		{"a document with 161 problems", []byte(manyRules), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse(tt.text)
			var verr *policy.ValidationError
			require.ErrorAs(t, err, &verr)
			assert.LessOrEqual(t, len(verr.Problems), policy.MaxProblems)
			if tt.wantMore {
				assert.Len(t, verr.Problems, policy.MaxProblems)
				assert.Positive(t, verr.More)
				assert.True(t, strings.HasSuffix(err.Error(), policy.MoreText(verr.More)), "the message ends with the count")
				assert.Regexp(t, `; \.\.\. and \d+ more problems$`, err.Error())
			}
			for _, p := range verr.Problems {
				assert.Equal(t, policy.SeverityError, p.Severity)
			}
		})
	}
	_, err := policy.Parse([]byte(manyRules))
	var verr *policy.ValidationError
	require.ErrorAs(t, err, &verr)
	assert.Equal(t, 161-policy.MaxProblems, verr.More, "80 duplicate names and 81 bad accounts")
}

func TestMoreText(t *testing.T) {
	assert.Empty(t, policy.MoreText(0))
	assert.Equal(t, "; ... and 1 more problem", policy.MoreText(1))
	assert.Equal(t, "; ... and 7 more problems", policy.MoreText(7))
}

func TestWarnings(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		policy string
		root   bool
		want   []policy.Problem
	}{
		{"a plain list", "111122223333", false, nil},
		{"a rule in force", `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["111122223333"], "expires": "2027-06-30T00:00:00Z"}]}`, false, nil},
		{"an expired rule beside one in force", `{"version": 1, "rules": [
		  {"name": "a", "action": "accept", "accounts": ["111122223333"]},
		  {"name": "trial", "action": "accept", "accounts": ["444455556666"], "expires": "2026-06-30T02:00:00+02:00"}]}`, false,
			[]policy.Problem{{Path: "rules[1].expires", Message: "rule trial expired at 2026-06-30T00:00:00Z: it no longer applies (remove it, or move its expiry)", Severity: policy.SeverityWarning}}},
		{"every accept rule expired", `{"version": 1, "rules": [
		  {"name": "trial", "action": "accept", "accounts": ["444455556666"], "expires": "2027-01-01T00:00:00Z"},
		  {"name": "blocked", "action": "reject", "accounts": ["999988887777"]}]}`, false,
			[]policy.Problem{
				{Path: "rules[0].expires", Message: "rule trial expired at 2027-01-01T00:00:00Z: it no longer applies (remove it, or move its expiry)", Severity: policy.SeverityWarning},
				{Message: "this policy accepts nobody: defaultAction is reject, and every accept rule has expired", Severity: policy.SeverityWarning}}},
		{"no rule accepts", `{"version": 1, "rules": [{"name": "blocked", "action": "reject", "accounts": ["999988887777"]}]}`, false,
			[]policy.Problem{{Message: "this policy accepts nobody: defaultAction is reject, and no rule accepts", Severity: policy.SeverityWarning}}},
		{"no rule, everything left to a person", `{"version": 1, "defaultAction": "manual", "rules": []}`, false, nil},
		{"a reject rule for every request", `{"version": 1, "defaultAction": "manual", "rules": [
		  {"name": "a", "action": "accept", "accounts": ["111122223333"]},
		  {"name": "freeze", "action": "reject", "accounts": ["*"]}]}`, false,
			[]policy.Problem{{Path: "rules[1]", Message: `rule freeze rejects every request (accounts "*", on every service, endpoint and Region), and a reject rule wins over any accept rule: this policy accepts nobody`, Severity: policy.SeverityWarning}}},
		{"a reject rule for every account on one service", `{"version": 1, "rules": [
		  {"name": "a", "action": "accept", "accounts": ["111122223333"]},
		  {"name": "closed", "action": "reject", "accounts": ["*"], "services": ["vpce-svc-0aaaaaaaaaaaaaaaa"]}]}`, false, nil},
		{"a root that delegates accept", `{"version": 1, "delegate": [{"part": "team", "services": ["vpce-svc-0aaaaaaaaaaaaaaaa"], "actions": ["accept"]}], "rules": []}`, true, nil},
		{"a root that delegates reject only", `{"version": 1, "delegate": [{"part": "team", "services": ["vpce-svc-0aaaaaaaaaaaaaaaa"], "actions": ["reject"]}], "rules": []}`, true,
			[]policy.Problem{{Message: "this policy accepts nobody: defaultAction is reject, and no rule accepts", Severity: policy.SeverityWarning}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse := policy.Parse
			if tt.root {
				parse = policy.ParseRoot
			}
			p, err := parse([]byte(tt.policy))
			require.NoError(t, err, "warnings are about valid policies")
			assert.Equal(t, tt.want, p.Warnings(now))
		})
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// validateJSON is policy validate's --output json.
type validateJSON struct {
	Valid        bool                `json:"valid"`
	Problems     []map[string]string `json:"problems"`
	MoreProblems int                 `json:"moreProblems"`
}

// TestValidateSaysWhatIsWrongWhere: every kind of problem, located, with
// its severity; warnings alone exit 0.
func TestValidateSaysWhatIsWrongWhere(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 4))
	random := make([]byte, 5<<20)
	const alphabet = "0123456789abcdef ,\n"
	for i := range random {
		random[i] = alphabet[rng.IntN(len(alphabet))]
	}
	// bigDocument is a valid JSON policy of about n bytes.
	bigDocument := func(n int) string {
		var rules []string
		for i := 0; len(strings.Join(rules, ","))+60 < n; i++ {
			rules = append(rules, fmt.Sprintf(`{"name": "r%d", "action": "accept", "accounts": ["%012d"]}`, i, 100000000000+i))
		}
		return `{"version": 1, "rules": [` + strings.Join(rules, ",") + `]}`
	}
	tests := []struct {
		name     string
		text     string
		wantCode int
		// want are lines of the text output; wantJSON the problems of the
		// JSON output (path, message prefix, severity).
		want     []string
		wantJSON []map[string]string
		more     bool
	}{
		{name: "a policy after a byte-order mark", text: "\ufeff" + `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["111122223333"]}]}`,
			want: []string{": valid, 1 rule(s)"}, wantJSON: []map[string]string{}},
		{name: "a plain list after a byte-order mark", text: "\ufeff111122223333\r\n444455556666\r\n", want: []string{": valid, 1 rule(s)"}},
		{name: "a YAML file", text: "version: 1\nrules:\n  - name: a\n", wantCode: 1,
			want:     []string{"invalid, 1 problem(s):", `  the policy reads as YAML (first line "version: 1"): it must be a JSON document`},
			wantJSON: []map[string]string{{"path": "", "message": "the policy reads as YAML", "severity": "error"}}},
		{name: "a JSON array", text: `["111122223333"]`, wantCode: 1, want: []string{"  a JSON array is not a policy"}},
		{name: "a syntax error", text: "{\"version\": 1,\n  \"rules\": [\n    {\"name\": \"a\" \"action\": \"accept\"}]}", wantCode: 1,
			want:     []string{"  policy is not valid JSON: line 3, column 18: invalid character '\"' after object key:value pair"},
			wantJSON: []map[string]string{{"path": "", "message": "policy is not valid JSON: line 3, column 18:", "severity": "error"}}},
		{name: "5 MB of random input", text: string(random), wantCode: 1, more: true},
		{name: "6 KB: the Advanced tier", text: bigDocument(6 << 10),
			want:     []string{": valid, ", "  warning: the policy is 61", "bytes: past 4096 it needs the Advanced tier"},
			wantJSON: []map[string]string{{"path": "", "message": "the policy is 61", "severity": "warning"}}},
		{name: "9 KB: too big for SSM", text: bigDocument(9 << 10), wantCode: 1,
			want:     []string{"invalid, 1 problem(s):", "  the policy is 92", "an SSM parameter holds at most 8192 (Advanced tier), so it cannot be stored"},
			wantJSON: []map[string]string{{"path": "", "message": "the policy is 92", "severity": "error"}}},
		{name: "an expired rule", text: `{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["111122223333"]},
		  {"name": "trial", "action": "accept", "accounts": ["444455556666"], "expires": "2020-01-01T00:00:00Z"}]}`,
			want:     []string{": valid, 2 rule(s)", "  warning: rules[1].expires: rule trial expired at 2020-01-01T00:00:00Z"},
			wantJSON: []map[string]string{{"path": "rules[1].expires", "message": "rule trial expired at 2020-01-01T00:00:00Z", "severity": "warning"}}},
		{name: "more than 50 warnings leave a policy valid", text: manyExpiredRules(60),
			want: []string{": valid, 61 rule(s)", "  warning: rules[0].expires: rule trial0 expired", "... and 11 more problems"}}, // 60 expired rules and the size warning
		{name: "a policy that accepts nobody", text: `{"version": 1, "rules": [{"name": "blocked", "action": "reject", "accounts": ["999988887777"]}]}`,
			want:     []string{": valid, 1 rule(s)", "  warning: this policy accepts nobody: defaultAction is reject, and no rule accepts"},
			wantJSON: []map[string]string{{"path": "", "message": "this policy accepts nobody", "severity": "warning"}}},
		{name: "errors by field path", text: `{"version": 2, "rules": [{"name": "a", "action": "accept", "accounts": ["12345"]}]}`, wantCode: 1,
			want: []string{"invalid, 2 problem(s):", "  version: must be 1, got 2", `  rules[0].accounts[0]: "12345" is not a 12-digit account ID or "*"`},
			wantJSON: []map[string]string{{"path": "version", "message": "must be 1, got 2", "severity": "error"},
				{"path": "rules[0].accounts[0]", "message": `"12345" is not a 12-digit account ID`, "severity": "error"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "policy")
			require.NoError(t, os.WriteFile(f, []byte(tt.text), 0o600))
			w := newWorld()
			out, stderr, code := w.run(t, "policy", "validate", f)
			assert.Equal(t, tt.wantCode, code, "%s%s", out, stderr)
			if !tt.more {
				for _, want := range tt.want {
					assert.Contains(t, out, want)
				}
			}

			out, _, code = w.run(t, "policy", "validate", f, "--output", "json")
			assert.Equal(t, tt.wantCode, code)
			var got validateJSON
			require.NoError(t, json.Unmarshal([]byte(out), &got), out)
			assert.Equal(t, tt.wantCode == 0, got.Valid)
			require.NotNil(t, got.Problems, "problems is a list, even empty")
			for _, p := range got.Problems {
				assert.ElementsMatch(t, []string{"path", "message", "severity"}, keys(p), "a problem is {path, message, severity}")
				assert.Contains(t, []string{"error", "warning"}, p["severity"])
			}
			if tt.more {
				assert.Len(t, got.Problems, policy.MaxProblems)
				assert.Positive(t, got.MoreProblems)
				text, _, _ := w.run(t, "policy", "validate", f)
				assert.Contains(t, text, fmt.Sprintf("invalid, %d problem(s):", policy.MaxProblems+got.MoreProblems))
				assert.Contains(t, text, fmt.Sprintf("  ... and %d more problems\n", got.MoreProblems))
				assert.LessOrEqual(t, strings.Count(text, "\n"), policy.MaxProblems+2, "at most 50 problems, then a count")
				return
			}
			if tt.wantJSON != nil {
				require.Len(t, got.Problems, len(tt.wantJSON), "%v", got.Problems)
				for i, want := range tt.wantJSON {
					assert.Equal(t, want["path"], got.Problems[i]["path"])
					assert.True(t, strings.HasPrefix(got.Problems[i]["message"], want["message"]), "%q starts with %q", got.Problems[i]["message"], want["message"])
					assert.Equal(t, want["severity"], got.Problems[i]["severity"])
				}
			}
		})
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestValidateFromStandardInput: FILE - reads the policy from stdin.
func TestValidateFromStandardInput(t *testing.T) {
	w := newWorld()
	w.stdin = "111122223333"
	out, _, code := w.run(t, "policy", "validate", "-")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "-: valid, 1 rule(s)")
}

// manyExpiredRules is a valid policy with n expired rules and one live one.
func manyExpiredRules(n int) string {
	var rules []string
	for i := range n {
		rules = append(rules, fmt.Sprintf(`{"name": "trial%d", "action": "accept", "accounts": ["444455556666"], "expires": "2020-01-01T00:00:00Z"}`, i))
	}
	rules = append(rules, `{"name": "a", "action": "accept", "accounts": ["111122223333"]}`)
	return `{"version": 1, "rules": [` + strings.Join(rules, ",") + `]}`
}

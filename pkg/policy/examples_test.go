package policy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// examplesDir holds the policies docs/policy.md shows (make docs copies
// them into it): each must be a valid policy a reader can push as it is.
const examplesDir = "../../examples"

func TestEveryExamplePolicyIsValidAndMeantAsWritten(t *testing.T) {
	var files []string
	require.NoError(t, filepath.WalkDir(examplesDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".txt")) {
			files = append(files, path)
		}
		return err
	}))
	require.NotEmpty(t, files, "no example policy in %s", examplesDir)
	now := time.Now()
	for _, file := range files {
		t.Run(strings.TrimPrefix(file, examplesDir+"/"), func(t *testing.T) {
			text, err := os.ReadFile(file)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(text), 4096, "fits SSM's standard tier")
			parse := policy.Parse
			if policy.IsRoot(text) {
				parse = policy.ParseRoot
			}
			p, err := parse(text)
			require.NoError(t, err)
			assert.Empty(t, p.Warnings(now), "an example warns about nothing")
		})
	}
}

func TestTheExamplePartsComposeWithoutIssues(t *testing.T) {
	dir := filepath.Join(examplesDir, "parts")
	root, err := os.ReadFile(filepath.Join(dir, "root.json"))
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var parts []policy.Source
	for _, e := range entries {
		if e.Name() == "root.json" {
			continue
		}
		text, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		parts = append(parts, policy.Source{Name: strings.TrimSuffix(strings.TrimSuffix(e.Name(), ".json"), ".txt"), Text: text})
	}
	p, err := policy.Compose("/privatelink-approver/policy/", root, parts)
	require.NoError(t, err)
	assert.Empty(t, p.Issues, "every part is delegated to and accepted")
	for _, d := range p.Delegations {
		for _, svc := range d.Services {
			why, held := p.Held(svc)
			assert.False(t, held, "%s is held: %s", svc, why)
		}
	}
}

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFill(t *testing.T) {
	built := map[string]string{"metrics": "| a |\n"}
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "examples"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "examples", "p.json"), []byte(`{"version": 1}`), 0o644))
	tests := []struct {
		name, doc, want, wantErr string
	}{
		{name: "fills an empty block", doc: "x\n<!-- BEGIN GENERATED: metrics -->\n<!-- END GENERATED: metrics -->\ny\n",
			want: "x\n<!-- BEGIN GENERATED: metrics -->\n| a |\n<!-- END GENERATED: metrics -->\ny\n"},
		{name: "replaces what was there", doc: "<!-- BEGIN GENERATED: metrics -->\n| old |\n<!-- END GENERATED: metrics -->\n",
			want: "<!-- BEGIN GENERATED: metrics -->\n| a |\n<!-- END GENERATED: metrics -->\n"},
		{name: "shows an example file whole", doc: "<!-- BEGIN GENERATED: example examples/p.json -->\n<!-- END GENERATED: example examples/p.json -->\n",
			want: "<!-- BEGIN GENERATED: example examples/p.json -->\n```json\n{\"version\": 1}\n```\n<!-- END GENERATED: example examples/p.json -->\n"},
		{name: "an example outside examples/", doc: "<!-- BEGIN GENERATED: example go.mod -->\n<!-- END GENERATED: example go.mod -->\n", wantErr: "under examples/"},
		{name: "a missing example", doc: "<!-- BEGIN GENERATED: example examples/none.json -->\n<!-- END GENERATED: example examples/none.json -->\n", wantErr: "no such file"},
		{name: "leaves a doc without markers alone", doc: "no table here\n", want: "no table here\n"},
		{name: "an unknown table", doc: "<!-- BEGIN GENERATED: other -->\n<!-- END GENERATED: other -->\n", wantErr: `unknown generated table "other"`},
		{name: "a BEGIN without END", doc: "<!-- BEGIN GENERATED: metrics -->\n", wantErr: "has no END"},
		{name: "mismatched markers", doc: "<!-- BEGIN GENERATED: metrics -->\n<!-- END GENERATED: results -->\n", wantErr: "is followed by"},
		{name: "an END first", doc: "<!-- END GENERATED: metrics -->\n<!-- BEGIN GENERATED: metrics -->\n", wantErr: "without its BEGIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := fill(root, []byte(tt.doc), built)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
		})
	}
}

func TestQualified(t *testing.T) {
	tests := []struct{ goName, doc, wantQ, wantText string }{
		{"EnvDryRun", "EnvDryRun (default `false`): `true` decides.", "default `false`", "`true` decides."},
		{"ResultGone", "ResultGone: the endpoint was deleted.", "", "The endpoint was deleted."},
		{"Owner", "Owner is the consumer's account ID.", "", "The consumer's account ID."},
		{"Revoked", "Revoked marks a revocation.", "", "Marks a revocation."},
		{"Accepted", "Accepted (per service): requests accepted.", "per service", "Requests accepted."},
	}
	for _, tt := range tests {
		q, text := qualified(tt.goName, tt.doc)
		assert.Equal(t, tt.wantQ, q, tt.goName)
		assert.Equal(t, tt.wantText, text, tt.goName)
	}
}

func TestTheCodeDocumentsEveryEntry(t *testing.T) {
	for _, tt := range tables {
		body, err := tt.build("../..")
		require.NoError(t, err, tt.name)
		assert.Contains(t, body, "|---|", tt.name)
	}
}

package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGet(t *testing.T) {
	stamped := func(settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Settings: settings}, true }
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	tests := []struct {
		name            string
		version, commit string
		read            func() (*debug.BuildInfo, bool)
		want            Info
		line            string
	}{
		{"set by the linker", "v1.2.3", "0123abc", stamped(debug.BuildSetting{Key: "vcs.revision", Value: "ffff"}),
			Info{Version: "v1.2.3", Commit: "0123abc"}, "v1.2.3 (commit 0123abc, GO)"},
		{"the VCS stamp when the linker set no commit", "dev", "",
			stamped(debug.BuildSetting{Key: "vcs.revision", Value: "abcdef0"}, debug.BuildSetting{Key: "vcs.modified", Value: "false"}),
			Info{Version: "dev", Commit: "abcdef0"}, "dev (commit abcdef0, GO)"},
		{"a modified work tree", "dev", "",
			stamped(debug.BuildSetting{Key: "vcs.revision", Value: "abcdef0"}, debug.BuildSetting{Key: "vcs.modified", Value: "true"}),
			Info{Version: "dev", Commit: "abcdef0", Modified: true}, "dev (commit abcdef0, modified, GO)"},
		{"no VCS stamp", "dev", "", stamped(), Info{Version: "dev"}, "dev (commit unknown, GO)"},
		{"no build information", "dev", "", none, Info{Version: "dev"}, "dev (commit unknown, GO)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, c := Version, Commit
			t.Cleanup(func() { Version, Commit = v, c })
			Version, Commit = tt.version, tt.commit
			got := get(tt.read)
			tt.want.GoVersion = runtime.Version()
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.line, replaceGo(got.String()))
		})
	}
}

func replaceGo(s string) string { return strings.Replace(s, runtime.Version(), "GO", 1) }

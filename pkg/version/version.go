package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release version, set at link time with -X; "dev" for a
// build without it.
var Version = "dev"

// Commit is the commit the binary was built from, set at link time with
// -X; empty for a build without it (Info then falls back to the VCS
// revision Go stamped into the binary).
var Commit = ""

// Info is what the build says about itself.
type Info struct {
	Version string `json:"version"`
	// Commit is "" when neither the linker nor Go's VCS stamping set one.
	Commit string `json:"commit"`
	// Modified is set when Go stamped the binary as built from a work tree
	// with uncommitted changes (and Commit came from that stamp).
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
}

// Get returns the build's version, commit and Go version.
func Get() Info {
	return get(debug.ReadBuildInfo)
}

// get is Get with the build information injected, for tests.
func get(read func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version()}
	if info.Commit != "" {
		return info
	}
	bi, ok := read()
	if !ok || bi == nil {
		return info
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	if info.Commit == "" {
		info.Modified = false
	}
	return info
}

// String is the build in one line, such as
// "v1.2.3 (commit 0123abc, go1.26.8)" or "dev (commit unknown, go1.26.8)".
func (i Info) String() string {
	commit := i.Commit
	switch {
	case commit == "":
		commit = "unknown"
	case i.Modified:
		commit += ", modified"
	}
	return i.Version + " (commit " + commit + ", " + i.GoVersion + ")"
}

// String is Get().String(): the build in one line.
func String() string { return Get().String() }

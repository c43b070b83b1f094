// Package version says which build of privatelink-approver is running: the
// release version and the commit, set at link time, and the Go version it
// was built with. approverctl prints it (approverctl version, --version).
//
// The Makefile sets both variables with the linker:
//
//	go build -ldflags "-X github.com/privatelink-approver/privatelink-approver/pkg/version.Version=v1.2.3 \
//	  -X github.com/privatelink-approver/privatelink-approver/pkg/version.Commit=0123abc" ./cmd/approverctl
//
// A build without them (go build, go install, go run) says "dev", and the
// commit Go stamped into the binary from the work tree's VCS, if any (see
// runtime/debug.BuildInfo, setting vcs.revision).
package version

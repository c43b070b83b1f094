package main

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
)

// changeCase is one command that changes something, in a world where it
// has something to do (setup) or nothing (idle).
type changeCase struct {
	name        string
	args        []string
	setup, idle func(w *world)
	// changed reports whether the command changed anything.
	changed func(w *world) bool
	// plan is a line the plan shows before the question.
	plan string
}

const (
	pendingA = "vpce-0000000000000000a"
	liveC    = "vpce-0000000000000000c"
)

func changeCases(t *testing.T) []changeCase {
	const policy = `{"version": 1, "defaultAction": "manual", "rules": [{"name": "p", "action": "accept", "accounts": ["111111111111"]}]}`
	sweepWorld := func(w *world) {
		w.vars["POLICY_PARAMETER"] = "/pl/policy"
		w.ssm.put("/pl/policy", policy)
	}
	pushed := file(t, "111111111111,222222222222")
	return []changeCase{
		{
			name: "sweep", args: []string{"sweep"},
			setup: func(w *world) {
				sweepWorld(w)
				w.ec2.Add(svc, pendingA, "111111111111", "pendingAcceptance", "")
				w.ec2.Add(svc, "vpce-0000000000000000b", "333333333333", "pendingAcceptance", "")
			},
			idle: func(w *world) {
				sweepWorld(w)
				w.ec2.Add(svc, "vpce-0000000000000000b", "333333333333", "pendingAcceptance", "")
			},
			changed: func(w *world) bool { return len(w.ec2.Accepted)+len(w.ec2.Rejected)+len(w.ec2.TagCalls) > 0 },
			plan:    "Plan: accept 1, reject 0 and revoke 0 connection(s) on 1 service(s).",
		},
		{
			name: "accept", args: []string{"accept", "--service", svc, "--reason", "NET-1", pendingA},
			setup:   func(w *world) { w.ec2.Add(svc, pendingA, "333333333333", "pendingAcceptance", "") },
			idle:    func(w *world) { w.ec2.Add(svc, pendingA, "333333333333", "available", "") },
			changed: func(w *world) bool { return len(w.ec2.Accepted)+len(w.ec2.TagCalls) > 0 },
			plan:    "Plan: accept 1 pending request(s) on " + svc + ", as " + callerID + ".",
		},
		{
			name: "reject of a live connection", args: []string{"reject", "--service", svc, "--reason", "NET-2", liveC},
			setup:   func(w *world) { w.ec2.Add(svc, liveC, "444444444444", "available", "") },
			idle:    func(w *world) { w.ec2.Add(svc, liveC, "444444444444", "rejected", "") },
			changed: func(w *world) bool { return len(w.ec2.Rejected)+len(w.ec2.TagCalls) > 0 },
			plan:    "WARNING: 1 accepted connection(s) are live: rejecting them cuts their consumers off at once.",
		},
		{
			name: "policy push", args: []string{"policy", "push", pushed, "--parameter", "/pl/policy"},
			setup: func(w *world) {
				w.ssm.put("/pl/policy", "111111111111")
				w.ec2.Add(svc, pendingA, "222222222222", "pendingAcceptance", "")
			},
			idle:    func(w *world) { w.ssm.put("/pl/policy", "111111111111,222222222222") },
			changed: func(w *world) bool { return len(w.ssm.puts) > 0 },
			plan:    "Plan: 1 to accept, 0 to reject",
		},
	}
}

// TestChangesAskFirst: sweep, accept, reject and policy push show what
// they will do, then ask on a terminal; only "yes" goes ahead; --yes does
// not ask; without a terminal and --yes they change nothing; with nothing
// to do they say so and ask nothing.
func TestChangesAskFirst(t *testing.T) {
	answers := []struct {
		name      string
		idle      bool
		terminal  bool
		stdin     string
		yes       bool
		wantCode  int
		wantAsked bool
		changes   bool
		wantErr   string
		wantOut   string
	}{
		{name: "yes on a terminal", terminal: true, stdin: "yes\n", wantAsked: true, changes: true},
		{name: "yes with spaces around it", terminal: true, stdin: "  yes \r\n", wantAsked: true, changes: true},
		{name: "no on a terminal", terminal: true, stdin: "no\n", wantCode: 1, wantAsked: true, wantErr: "Cancelled: nothing was changed."},
		{name: "y is not yes", terminal: true, stdin: "y\n", wantCode: 1, wantAsked: true, wantErr: "Cancelled: nothing was changed."},
		{name: "YES is not yes", terminal: true, stdin: "YES\n", wantCode: 1, wantAsked: true},
		{name: "no answer at all", terminal: true, stdin: "", wantCode: 1, wantAsked: true, wantErr: "nothing was changed"},
		{name: "not a terminal", wantCode: 1, wantErr: "stdin is not a terminal; pass --yes to "},
		{name: "not a terminal, yes piped in", stdin: "yes\n", wantCode: 1, wantErr: "stdin is not a terminal"},
		{name: "--yes without a terminal", yes: true, changes: true},
		{name: "--yes on a terminal", terminal: true, stdin: "no\n", yes: true, changes: true},
		{name: "nothing to do", idle: true, wantOut: "Nothing to do"},
		{name: "nothing to do on a terminal", idle: true, terminal: true, stdin: "no\n", wantOut: "Nothing to do"},
	}
	for _, cmd := range changeCases(t) {
		for _, tt := range answers {
			t.Run(cmd.name+": "+tt.name, func(t *testing.T) {
				w := newWorld()
				if tt.idle {
					cmd.idle(w)
				} else {
					cmd.setup(w)
				}
				w.terminal, w.stdin = tt.terminal, tt.stdin
				args := cmd.args
				if tt.yes {
					args = append(args[:len(args):len(args)], "--yes")
				}
				out, stderr, code := w.run(t, args...)
				assert.Equal(t, tt.wantCode, code, "%s%s", out, stderr)
				assert.Equal(t, tt.changes, cmd.changed(w), "changed")
				assert.Equal(t, tt.wantAsked, strings.Contains(stderr, "Do you want to perform these actions?"), "asked: %s", stderr)
				assert.Contains(t, stderr, tt.wantErr)
				assert.Contains(t, out, tt.wantOut)
				if tt.wantAsked {
					assert.Contains(t, out, cmd.plan, "the plan comes before the question")
					assert.Contains(t, stderr, "Only 'yes' will be accepted to approve.")
				}
			})
		}
	}
}

// TestThePlanShowsWhatChanges: what each command shows before it asks.
func TestThePlanShowsWhatChanges(t *testing.T) {
	w := newWorld()
	w.ec2.Add(svc, pendingA, "333333333333", "pendingAcceptance", "")
	w.ec2.Add(svc, "vpce-0000000000000000b", "333333333333", "rejected", "")
	w.ec2.Add(svc, liveC, "444444444444", "available", "")
	w.ec2.Add(svc, "vpce-0000000000000000d", "444444444444", "deleted", "")
	out, stderr, code := w.run(t, "reject", "--service", svc, "--reason", "contract ended", pendingA, "vpce-0000000000000000B", liveC,
		"vpce-0000000000000000d", "vpce-0000000000000000f")
	assert.Equal(t, 1, code, "no terminal: nothing changed")
	assert.Empty(t, w.ec2.Rejected)
	for _, want := range []string{
		pendingA + "  333333333333  pendingAcceptance  reject",
		"vpce-0000000000000000b  333333333333  rejected           nothing: already-rejected",
		liveC + "  444444444444  available          revoke: cuts off this live connection",
		"vpce-0000000000000000d  444444444444  deleted            nothing: gone",
		"vpce-0000000000000000f  -             -                  fails: no connection from this endpoint to " + svc,
		"WARNING: 1 accepted connection(s) are live",
		"Plan: reject 1 pending request(s) and revoke 1 accepted connection(s), cutting their consumers off on " + svc,
	} {
		assert.Contains(t, out, want)
	}
	assert.Contains(t, stderr, "pass --yes to reject 1 pending request(s) and revoke 1 accepted connection(s)")

	// Nothing that can be done, and something that cannot: exit 1, asked
	// nothing.
	w = newWorld()
	w.terminal, w.stdin = true, "yes\n"
	w.ec2.Add(svc, pendingA, "333333333333", "rejected", "")
	out, stderr, code = w.run(t, "accept", "--service", svc, "--reason", "r", pendingA)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "fails: a rejected request cannot be accepted")
	assert.Contains(t, stderr, "nothing to accept: 1 endpoint(s) cannot be accepted")
	assert.NotContains(t, stderr, "Do you want")
	assert.Empty(t, w.ec2.Accepted)

	// With --output json the plan and the question go to stderr: stdout
	// holds only the result.
	w = newWorld()
	w.terminal, w.stdin = true, "yes\n"
	w.ec2.Add(svc, pendingA, "333333333333", "pendingAcceptance", "")
	out, stderr, code = w.run(t, "-o", "json", "accept", "--service", svc, "--reason", "r", pendingA)
	require.Equal(t, 0, code, stderr)
	assert.True(t, strings.HasPrefix(out, "{"), out)
	assert.Contains(t, stderr, "Plan: accept 1 pending request(s)")
	assert.Equal(t, "available", w.ec2.State(pendingA))
}

// TestPushWritesTheVersionItPlanned: the version is read again just
// before writing; a write by someone else meanwhile stops push, or is
// warned about when it came too late to be seen.
func TestPushWritesTheVersionItPlanned(t *testing.T) {
	const param = "/pl/policy"
	// answering is a person who reads the plan while someone else acts,
	// then types yes.
	answering := func(meanwhile func()) io.Reader { return typing("yes\n", meanwhile) }
	t.Run("written meanwhile: refused, naming both versions", func(t *testing.T) {
		w := newWorld()
		w.ssm.put(param, "111111111111")
		w.terminal, w.in = true, answering(func() { w.ssm.put(param, "333333333333") })
		_, stderr, code := w.run(t, "policy", "push", file(t, "222222222222"), "--parameter", param)
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, param+" changed since the plan: it was planned against version 1, version 2 is stored now; nothing was written")
		assert.Empty(t, w.ssm.puts)
		assert.Equal(t, "333333333333", *w.ssm.params[param].Value)
	})
	t.Run("created meanwhile: refused", func(t *testing.T) {
		w := newWorld()
		w.terminal, w.in = true, answering(func() { w.ssm.put(param, "333333333333") })
		_, stderr, code := w.run(t, "policy", "push", file(t, "222222222222"), "--parameter", param)
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, "it was planned against no parameter, version 1 is stored now; nothing was written")
		assert.Empty(t, w.ssm.puts)
	})
	t.Run("created between the check and the write: not overwritten", func(t *testing.T) {
		w := newWorld()
		w.terminal, w.in = true, answering(func() {
			w.ssm.afterGet = sync.OnceFunc(func() { w.ssm.put(param, "333333333333") })
		})
		_, stderr, code := w.run(t, "policy", "push", file(t, "222222222222"), "--parameter", param)
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, param+" was created by someone else since the plan; nothing was written")
		assert.Equal(t, "333333333333", *w.ssm.params[param].Value)
	})
	t.Run("written between the check and the write: a warning", func(t *testing.T) {
		w := newWorld()
		w.ssm.put(param, "111111111111")
		w.terminal, w.in = true, answering(func() {
			w.ssm.afterGet = sync.OnceFunc(func() { w.ssm.put(param, "333333333333") })
		})
		out, stderr, code := w.run(t, "policy", "push", file(t, "222222222222"), "--parameter", param)
		assert.Equal(t, 0, code, stderr)
		assert.Contains(t, out, param+": version 3 written")
		assert.Contains(t, stderr, "warning: "+param+" is version 3, not 2: another write came in between")
	})
	t.Run("no plan: nothing written", func(t *testing.T) {
		w := newWorld()
		w.ssm.put(param, "111111111111")
		w.ec2.FailCall["Describe"] = &smithy.GenericAPIError{Code: "InternalError", Message: "EC2 is down"}
		_, stderr, code := w.run(t, "policy", "push", file(t, "222222222222"), "--parameter", param, "--yes")
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, "no plan, so nothing was written")
		assert.Empty(t, w.ssm.puts)
	})
	t.Run("planned and written: JSON says both versions", func(t *testing.T) {
		w := newWorld()
		w.ssm.put(param, "111111111111")
		out, stderr, code := w.run(t, "-o", "json", "policy", "push", file(t, "222222222222"), "--parameter", param, "--yes")
		require.Equal(t, 0, code, stderr)
		assert.Contains(t, out, `"plannedVersion": 1`)
		assert.Contains(t, out, `"version": 2`)
		assert.Contains(t, out, `"written": true`)
		assert.Contains(t, stderr, "Plan: 0 to accept", "the plan on stderr, stdout is JSON")
	})
}

// typing is a person who does meanwhile while reading the plan, then
// types text.
func typing(text string, meanwhile func()) io.Reader {
	r := strings.NewReader(text)
	once := sync.OnceFunc(meanwhile)
	return readerFunc(func(p []byte) (int, error) {
		once()
		return r.Read(p)
	})
}

type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// interruptOn sends sig to the world's commands from inside a call, then
// waits until the command has heard it.
func interruptOn(t *testing.T, w *world, sig os.Signal) {
	t.Helper()
	w.signals <- sig
	deadline := time.Now().Add(5 * time.Second)
	for !w.last.interrupted.Load() {
		if time.Now().After(deadline) {
			t.Error("the interrupt was not heard")
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAnInterruptLetsTheCallInFlightFinish: the first interrupt lets the
// Accept or Reject call in flight finish and its decisions be stamped,
// starts nothing after it, and exits 1; a second aborts at once.
func TestAnInterruptLetsTheCallInFlightFinish(t *testing.T) {
	t.Run("accept: the call in flight is applied and stamped", func(t *testing.T) {
		w := newWorld()
		w.signals = make(chan os.Signal)
		w.ec2.Add(svc, pendingA, "333333333333", "pendingAcceptance", "")
		w.ec2.BeforeApply = func(*approvertest.EC2) { interruptOn(t, w, os.Interrupt) }
		_, stderr, code := w.run(t, "accept", "--service", svc, "--reason", "NET-1", pendingA, "--yes")
		assert.Equal(t, 1, code)
		assert.Equal(t, "available", w.ec2.State(pendingA))
		assert.Equal(t, "accepted", w.ec2.Stamp(pendingA)["privatelink-approver:decision"], "stamped after the interrupt")
		assert.Contains(t, stderr, "interrupt: letting the call in flight finish and stamping it")
		assert.Contains(t, stderr, "approverctl: interrupted: the call in flight was let finish")
	})
	t.Run("sweep: no service is started after the interrupt", func(t *testing.T) {
		const other = "vpce-svc-0bbbbbbbbbbbbbbbb"
		w := newWorld()
		w.ec2.Owned = append(w.ec2.Owned, other)
		w.signals = make(chan os.Signal)
		w.vars["POLICY_PARAMETER"] = "/pl/policy"
		w.ssm.put("/pl/policy", "111111111111")
		w.ec2.Add(svc, pendingA, "111111111111", "pendingAcceptance", "")
		w.ec2.Add(other, "vpce-0000000000000000e", "111111111111", "pendingAcceptance", "")
		w.ec2.BeforeApply = func(*approvertest.EC2) { interruptOn(t, w, syscall.SIGTERM) }
		out, stderr, code := w.run(t, "sweep", "--yes")
		assert.Equal(t, 1, code)
		require.Len(t, w.ec2.Accepted, 1, "one Accept call: the one in flight")
		first := w.ec2.Accepted[0][0]
		states := map[string]string{pendingA: w.ec2.State(pendingA), "vpce-0000000000000000e": w.ec2.State("vpce-0000000000000000e")}
		for id, state := range states {
			if id == first {
				assert.Equal(t, "available", state)
				assert.Equal(t, "accepted", w.ec2.Stamp(id)["privatelink-approver:decision"])
			} else {
				assert.Equal(t, "pendingAcceptance", state, "not started")
				assert.Empty(t, w.ec2.Stamp(id))
			}
		}
		assert.Contains(t, out, ErrorCodeInterrupted+": not accepted: approverctl was interrupted before this call")
		assert.Contains(t, stderr, "terminated: letting the call in flight finish")
	})
	t.Run("a second interrupt aborts at once", func(t *testing.T) {
		w := newWorld()
		w.signals = make(chan os.Signal)
		w.ec2.Add(svc, pendingA, "333333333333", "pendingAcceptance", "")
		release := make(chan struct{})
		done := make(chan struct{})
		w.ec2.BeforeApply = func(*approvertest.EC2) {
			defer close(done)
			interruptOn(t, w, os.Interrupt)
			w.signals <- os.Interrupt
			<-release // the call hangs
		}
		_, stderr, code := w.run(t, "accept", "--service", svc, "--reason", "NET-1", pendingA, "--yes")
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, "aborted by a second interrupt")
		close(release)
		<-done
	})
	t.Run("push: nothing is written after an interrupt", func(t *testing.T) {
		w := newWorld()
		w.signals = make(chan os.Signal)
		w.ssm.put("/pl/policy", "111111111111")
		// Once approved, the interrupt comes during the last read before
		// the write.
		w.in = typing("yes\n", func() { w.ssm.afterGet = sync.OnceFunc(func() { interruptOn(t, w, os.Interrupt) }) })
		w.terminal = true
		_, stderr, code := w.run(t, "policy", "push", file(t, "222222222222"), "--parameter", "/pl/policy")
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, "interrupted")
		assert.Contains(t, stderr, "nothing was written")
		assert.Empty(t, w.ssm.puts)
	})
}

// TestApplying is the interrupt logic alone, with an injected signal
// channel.
func TestApplying(t *testing.T) {
	tests := []struct {
		name    string
		signals int
		workErr error
		want    error
		// cancelled is whether work's context was cancelled.
		cancelled bool
	}{
		{"no interrupt", 0, nil, nil, false},
		{"no interrupt, work fails", 0, errors.New("boom"), errors.New("boom"), false},
		{"one interrupt: work finishes, uncancelled", 1, nil, errInterrupted, false},
		{"one interrupt, work fails: its error", 1, errors.New("boom"), errors.New("boom"), false},
		{"two interrupts: aborted", 2, nil, errAborted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signals := make(chan os.Signal)
			var errOut syncBuffer
			a := &app{stderr: &errOut, interrupts: func() (<-chan os.Signal, func()) { return signals, func() {} }}
			finish := make(chan struct{})
			ended := make(chan bool, 1) // whether work's context was cancelled when it ended
			err := a.applying(context.Background(), func(ctx context.Context) error {
				for range tt.signals {
					signals <- os.Interrupt
				}
				if tt.signals < 2 {
					close(finish)
				}
				<-finish
				ended <- ctx.Err() != nil
				return tt.workErr
			})
			assert.Equal(t, tt.want, err)
			assert.Equal(t, tt.signals > 0, a.interrupted.Load())
			if tt.signals >= 2 {
				close(finish) // the abandoned work ends now
			}
			assert.Equal(t, tt.cancelled, <-ended, "work's context cancelled")
		})
	}
}

func TestVersion(t *testing.T) {
	w := newWorld()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, code := w.run(t, args...)
		assert.Equal(t, 0, code)
		assert.Regexp(t, `^approverctl dev \(commit [^,]+(, modified)?, go1\.[0-9.]+[^)]*\)\n$`, out, args)
	}
	out, _, code := w.run(t, "-o", "json", "version")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, `"version": "dev"`)
	assert.Contains(t, out, `"goVersion": "go1.`)
	assert.Zero(t, w.connects)
}

// TestCredentialErrorsSayWhatToSet: missing, expired and invalid
// credentials are said in one line naming what to set.
func TestCredentialErrorsSayWhatToSet(t *testing.T) {
	tests := []struct {
		name    string
		connect error
		stsErr  error
		want    []string
	}{
		{"none found", &credentialsError{err: errors.New("failed to refresh cached credentials, no EC2 IMDS role found")}, nil,
			[]string{"no AWS credentials were found", "set AWS_PROFILE", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", "aws sso login", "no EC2 IMDS role found"}},
		{"none in the profile, and no Region", &credentialsError{profile: "ops", noRegion: true, err: errors.New("no credentials")}, nil,
			[]string{`profile "ops" gave no usable AWS credentials`, "set AWS_PROFILE", "and no AWS Region: give --region, or set AWS_REGION"}},
		{"expired", nil, &smithy.GenericAPIError{Code: "ExpiredToken", Message: "The security token included in the request is expired"},
			[]string{"the AWS credentials from the environment (AWS_ACCESS_KEY_ID) have expired (AWS answered ExpiredToken: The security token included in the request is expired)",
				"set AWS_PROFILE", "aws sso login"}},
		{"unknown", nil, &smithy.GenericAPIError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."},
			[]string{"are not valid", "InvalidClientTokenId", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld()
			w.ec2.Add(svc, pendingA, "333333333333", "pendingAcceptance", "")
			w.stsErr = tt.stsErr
			var out, errOut syncBuffer
			a := w.app(&out, &errOut)
			if tt.connect != nil {
				a.connect = func(context.Context, globals) (*clients, error) { return nil, tt.connect }
			}
			code := a.execute([]string{"accept", "--service", svc, "--reason", "r", pendingA, "--yes"})
			assert.Equal(t, 1, code)
			stderr := errOut.String()
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %s", stderr)
			for _, want := range tt.want {
				assert.Contains(t, stderr, want)
			}
			assert.Empty(t, w.ec2.Accepted)
		})
	}
}

// TestNoCredentialsWithTheRealSDK: the SDK's own failure to find
// credentials, from aws.Config, is classified before any call.
func TestNoCredentialsWithTheRealSDK(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "",
		"AWS_CONFIG_FILE": dir + "/config", "AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "",
	} {
		t.Setenv(k, v)
	}
	_, err := connectAWS(context.Background(), globals{})
	var cerr *credentialsError
	require.ErrorAs(t, err, &cerr)
	assert.True(t, cerr.noRegion)
	assert.Contains(t, err.Error(), "no AWS credentials were found")
	assert.Contains(t, err.Error(), "AWS_REGION")

	_, err = connectAWS(context.Background(), globals{region: "us-east-1"})
	require.ErrorAs(t, err, &cerr)
	assert.False(t, cerr.noRegion)
}

func TestCredentialSource(t *testing.T) {
	tests := []struct{ source, profile, want string }{
		{"EnvConfigCredentials", "", "the environment (AWS_ACCESS_KEY_ID)"},
		{"SharedConfigCredentials: /home/me/.aws/credentials", "ops", `the shared credentials file of profile "ops"`},
		{"SSOProvider", "ops", `the SSO session of profile "ops"`},
		{"EC2RoleProvider", "", "the instance role"},
		{"AssumeRoleProvider", "", "AssumeRoleProvider"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, credentialSource(tt.source, tt.profile), tt.source)
	}
}

func TestPendingHelpSaysWhatItLists(t *testing.T) {
	out, _, code := newWorld().run(t, "pending", "--help")
	assert.Equal(t, 0, code)
	for _, want := range []string{"SERVICE_IDS lists", "SERVICE_TAG's tag", "requires acceptance", "Accepted connections are not listed"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "every endpoint service the\naccount owns is listed")
}

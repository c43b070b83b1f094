package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

// The commands that change something (sweep, accept, reject, policy push)
// work as terraform apply does: they show what they will do, then ask on
// the terminal; --yes does not ask, for scripts; without a terminal and
// without --yes they change nothing. Nothing to do is said, and not asked.

// yesUsage is the --yes flag's help.
const yesUsage = "do not ask before changing anything (for scripts; without a terminal on stdin, nothing is changed without it)"

// errNotConfirmed is the exit status 1 of a change a person did not
// approve (its message was printed).
var errNotConfirmed = reportedError{errors.New("not confirmed: nothing was changed")}

// confirm asks the person at the terminal to approve what was shown: what
// completes "approverctl will ...". With yes, it does not ask. Without a
// terminal on stdin, nobody can answer: it refuses. Only "yes" approves.
func (a *app) confirm(yes bool, what string) error {
	if yes {
		return nil
	}
	if a.terminal == nil || !a.terminal() {
		return fmt.Errorf("stdin is not a terminal; pass --yes to %s without being asked (nothing was changed)", what)
	}
	fmt.Fprintf(a.stderr, "\nDo you want to perform these actions?\n  approverctl will %s, as shown above.\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", what)
	answer, err := readLine(a.stdin)
	if err != nil && answer == "" {
		fmt.Fprintf(a.stderr, "\nCancelled (no answer: %v): nothing was changed.\n", err)
		return errNotConfirmed
	}
	if strings.TrimSpace(answer) != "yes" {
		fmt.Fprintln(a.stderr, "\nCancelled: nothing was changed.")
		return errNotConfirmed
	}
	return nil
}

// readLine reads one line from r, a byte at a time: nothing past the line
// is consumed.
func readLine(r io.Reader) (string, error) {
	if r == nil {
		return "", io.EOF
	}
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if buf[0] == '\n' {
				return b.String(), nil
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			return b.String(), err
		}
	}
}

// planOut is where a command shows what it will do before asking: standard
// output, but standard error with --output json, whose standard output
// holds only the result.
func (a *app) planOut() io.Writer {
	if a.g.output == "json" {
		return a.stderr
	}
	return a.stdout
}

// showPlan prints v's table and notes (never JSON) to planOut.
func (a *app) showPlan(v view) error {
	return render(a.planOut(), v, false)
}

// notifyInterrupts delivers SIGINT and SIGTERM instead of letting them end
// the process.
func notifyInterrupts() (<-chan os.Signal, func()) {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	return signals, func() { signal.Stop(signals) }
}

// errAborted is the second interrupt's: work was abandoned mid-call.
var errAborted = errors.New("aborted by a second interrupt: the call in flight may or may not have been applied, and may not be stamped; see approverctl pending, or the connections' privatelink-approver tags")

// errInterrupted is the first interrupt's, once work has finished.
var errInterrupted = errors.New("interrupted: the call in flight was let finish and its decisions stamped; nothing was started after it")

// applying runs work, which changes something, so that an interrupt never
// leaves a change half made. The first SIGINT or SIGTERM sets
// a.interrupted: no Accept, Reject or PutParameter call starts after it,
// but the one in flight finishes, its decisions are stamped (the context
// work is given is not cancelled), and work runs to its end; applying then
// returns work's error, or errInterrupted. A second interrupt cancels
// work's context and returns errAborted at once.
func (a *app) applying(ctx context.Context, work func(ctx context.Context) error) error {
	if a.interrupts == nil {
		return work(ctx)
	}
	signals, stop := a.interrupts()
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- work(ctx) }()
	for {
		select {
		case err := <-done:
			if err == nil && a.interrupted.Load() {
				err = errInterrupted
			}
			return err
		case sig := <-signals:
			if a.interrupted.CompareAndSwap(false, true) {
				fmt.Fprintf(a.stderr, "\napproverctl: %v: letting the call in flight finish and stamping it; nothing more is started (interrupt again to abort at once)\n", sig)
				continue
			}
			cancel()
			return errAborted
		}
	}
}

// gatedEndpoints is the approver's EC2 access for a command that applies
// decisions: once stopped is set (an interrupt), Accept and Reject calls
// are no longer made, and their connections fail as not applied; the call
// in flight, and every read and stamp, go on.
type gatedEndpoints struct {
	approver.Endpoints
	stopped *atomic.Bool
}

// ErrorCodeInterrupted is the error code of a decision not applied because
// approverctl was interrupted before its call.
const ErrorCodeInterrupted = "Interrupted"

func (g gatedEndpoints) Accept(ctx context.Context, svc string, ids []string) map[string]vpcendpoints.Failure {
	if g.stopped.Load() {
		return notStarted("accept", ids)
	}
	return g.Endpoints.Accept(ctx, svc, ids)
}

func (g gatedEndpoints) Reject(ctx context.Context, svc string, ids []string) map[string]vpcendpoints.Failure {
	if g.stopped.Load() {
		return notStarted("reject", ids)
	}
	return g.Endpoints.Reject(ctx, svc, ids)
}

// notStarted fails every one of ids as not applied.
func notStarted(verb string, ids []string) map[string]vpcendpoints.Failure {
	out := make(map[string]vpcendpoints.Failure, len(ids))
	for _, id := range ids {
		out[id] = vpcendpoints.Failure{Code: ErrorCodeInterrupted, Message: "not " + verb + "ed: approverctl was interrupted before this call"}
	}
	return out
}

// Command acceptance checks a deployed privatelink-approver stack end to end,
// in real AWS accounts (`make acceptance`): as the provider it creates a
// throwaway endpoint service (a VPC, a Network Load Balancer, the service,
// tagged with the stack's ServiceTag), as the consumer it requests
// connections, and it stores policies with `approverctl policy push`. Then
// it waits, within a deadline per step, for the deployed stack, woken by
// its own triggers, to leave a request to a person and announce it, to
// accept it and stamp the connection, to reject a new one, to hold a
// revocation past maxRevocations, and to revoke once a new policy version
// allows it. It removes everything it created and restores the policy
// parameter, also when a step fails or it is interrupted, and prints a
// checklist of what it verified.
//
// With -local the same steps run against the local stack (moto with the
// PrivateLink extension, the function under the Lambda Runtime Interface
// Emulator, invoked as the stack's triggers would), as `make test` does, so
// the steps cannot rot.
//
// The stack must be a dedicated test stack: the test's policies reject by
// default and revoke, so the stack must manage only the services that
// carry its ServiceTag, and no service but the test's may carry it. The
// test refuses to run otherwise.
//
// Exit status: 0 all verified and everything removed; 1 a check failed,
// an error, or something could not be removed (it is listed); 2 not
// configured (nothing was called in AWS, or the stack is not a dedicated
// test stack).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit statuses.
const (
	exitPassed        = 0
	exitFailed        = 1
	exitNotConfigured = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// options are the command line's.
type options struct {
	local       bool
	approverctl string
	stepTimeout time.Duration
	verbose     bool
	lf          localFlags
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("acceptance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: acceptance [-local -bootstrap FILE -rie FILE -python FILE] [-approverctl FILE] [-step-timeout D] [-v]\n\n"+
			"Against AWS it needs these environment variables:\n")
		for _, r := range required {
			fmt.Fprintf(stderr, "  %s: %s\n", r.name, r.what)
		}
		fmt.Fprintf(stderr, "and the Region in %s or the provider profile.\n\nFlags:\n", EnvRegion)
		fs.PrintDefaults()
	}
	ctl := getenv(EnvApproverctl)
	if ctl == "" {
		ctl = "bin/approverctl"
	}
	fs.BoolVar(&o.local, "local", false, "run against the local stack (moto and the function under the emulator) instead of AWS")
	fs.StringVar(&o.approverctl, "approverctl", ctl, "the approverctl binary (default $"+EnvApproverctl+", else bin/approverctl)")
	fs.DurationVar(&o.stepTimeout, "step-timeout", 0, "how long a step waits for the stack to act (default: AWS, the stack's sweep period + 3m; local, 60s)")
	fs.BoolVar(&o.verbose, "v", false, "print approverctl's output and, locally, the servers' and the function's")
	fs.StringVar(&o.lf.bootstrap, "bootstrap", "bin/bootstrap", "-local: the function binary")
	fs.StringVar(&o.lf.rie, "rie", "bin/aws-lambda-rie", "-local: the Lambda Runtime Interface Emulator")
	fs.StringVar(&o.lf.python, "python", "python3", "-local: python with moto installed")
	fs.DurationVar(&o.lf.tick, "tick", 2*time.Second, "-local: how often the stand-in for the stack's triggers invokes the function")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return o, nil
}

// run runs the whole test and returns the exit status.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitPassed
	}
	if err != nil {
		fmt.Fprintln(stderr, "acceptance:", err)
		return exitNotConfigured
	}
	s, err := checkOffline(o, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "acceptance:", err)
		return exitNotConfigured
	}

	// The first interrupt stops the steps; cleanup still runs. A second
	// one stops the cleanup, which then lists what it left.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	acc, closeAccounts, err := open(ctx, o, s, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "acceptance:", err)
		if errors.Is(err, errNotConfigured) {
			return exitNotConfigured
		}
		return exitFailed
	}
	defer closeAccounts()
	dir, err := os.MkdirTemp("", "approver-acceptance-policies-")
	if err != nil {
		fmt.Fprintln(stderr, "acceptance:", err)
		return exitFailed
	}
	defer os.RemoveAll(dir)

	r := &runner{accounts: acc, stack: acc.Stack(), cleanups: &cleanups{}, runID: newRunID(), dir: dir, out: stdout, verbose: o.verbose}
	fmt.Fprintf(stdout, "Acceptance test of privatelink-approver against %s\n", acc.Where())
	fmt.Fprintf(stdout, "Run %s: everything it creates is tagged %s=%s; each step waits at most %s.\n", r.runID, RunTagKey, r.runID, r.stack.StepTimeout)
	results := r.runSteps(ctx)
	if l, ok := acc.(*localAccounts); ok {
		n, failed := l.Invocations()
		fmt.Fprintf(stdout, "\nThe stand-in for the stack's triggers invoked the function %d times so far (%d failed: no policy stored yet, or the guard holding).\n", n, failed)
	}

	interrupted := ctx.Err() != nil
	cctx, cstop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cstop()
	stop()
	if interrupted {
		fmt.Fprintln(stdout, "\nInterrupted: cleaning up (interrupt again to stop the cleanup; it then lists what is left).")
	}
	fmt.Fprintf(stdout, "\n== cleanup: everything the run created is removed, the policy parameter restored\n")
	undoTimeout := 10 * time.Minute // a load balancer's network interfaces take minutes to go
	if o.local {
		undoTimeout = 30 * time.Second
	}
	left := r.cleanups.run(cctx, undoTimeout, stdout)
	return report(stdout, acc, results, left, time.Since(start))
}

// checkOffline checks, without calling AWS, everything that can be checked so,
// and reports every problem together: the environment of a run against
// AWS, and the tools.
func checkOffline(o options, getenv func(string) string) (awsSettings, error) {
	var problems []error
	var s awsSettings
	if !o.local {
		var err error
		if s, err = awsSettingsFromEnv(getenv); err != nil {
			problems = append(problems, err)
		}
	}
	tools := [][2]string{{"-approverctl", o.approverctl}}
	if o.local {
		tools = append(tools, [2]string{"-bootstrap", o.lf.bootstrap}, [2]string{"-rie", o.lf.rie})
	}
	for _, t := range tools {
		if err := executable(t[0], t[1]); err != nil {
			problems = append(problems, fmt.Errorf("%w (make build, make tools)", err))
		}
	}
	return s, errors.Join(problems...)
}

// open starts the local stack, or reaches the AWS accounts and checks the
// deployed stack; closeFn stops what it started.
func open(ctx context.Context, o options, s awsSettings, stderr io.Writer) (acc accounts, closeFn func(), err error) {
	if !o.local {
		a, err := newAWSAccounts(ctx, s, o.approverctl, o.stepTimeout)
		return a, func() {}, err
	}
	o.lf.stepTimeout = o.stepTimeout
	if o.lf.stepTimeout == 0 {
		o.lf.stepTimeout = 60 * time.Second
	}
	if o.verbose {
		o.lf.log = stderr
	}
	l, err := startLocal(ctx, o.lf, o.approverctl)
	if err != nil {
		return nil, nil, fmt.Errorf("start the local stack: %w", err)
	}
	return l, l.Close, nil
}

// report prints the checklist and returns the exit status.
func report(w io.Writer, acc accounts, results []result, left []string, took time.Duration) int {
	fmt.Fprintf(w, "\nChecklist (%s):\n", acc.Where())
	passed, total := 0, len(results)+1
	for _, res := range results {
		switch {
		case !res.ran:
			fmt.Fprintf(w, "  [ -- ] %s (not run)\n", res.step.claims)
		case res.err != nil:
			fmt.Fprintf(w, "  [FAIL] %s\n         %v\n", res.step.claims, res.err)
		default:
			passed++
			fmt.Fprintf(w, "  [PASS] %s\n         %s\n", res.step.claims, res.detail)
		}
	}
	if len(left) == 0 {
		passed++
		fmt.Fprintf(w, "  [PASS] everything the run created was removed and the policy parameter restored\n")
	} else {
		fmt.Fprintf(w, "  [FAIL] everything the run created was removed and the policy parameter restored; left (remove by hand):\n")
		for _, l := range left {
			fmt.Fprintf(w, "         %s\n", l)
		}
	}
	if passed == total {
		fmt.Fprintf(w, "PASSED: %d of %d checks in %s\n", passed, total, took.Round(time.Second))
		return exitPassed
	}
	fmt.Fprintf(w, "FAILED: %d of %d checks passed in %s\n", passed, total, took.Round(time.Second))
	return exitFailed
}

// newRunID names a run: when it started and a few random bytes, short
// enough for a load balancer's name.
func newRunID() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("0102-150405") + "-" + hex.EncodeToString(b)
}

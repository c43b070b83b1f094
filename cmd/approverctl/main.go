// Command approverctl is the operators' tool for privatelink-approver: check
// a policy before it goes live, explain a decision, plan a policy change
// against the live connections and push it, see what is pending and what
// the policy would do with it, accept or reject a request as a person, run
// the function's reconcile by hand, and audit the account's endpoint
// services. It uses the same packages as the Lambda function, so its
// decisions are the function's decisions.
//
// Run `approverctl --help`, or `approverctl <command> --help`.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the exit code: 0 when all went
// well (or there was nothing to do), 1 when it did not (an invalid policy,
// a failed decision, an error, a change not confirmed, an interrupt), 2
// when policy plan has changes to show or audit something to fix.
func run(args []string) int {
	return newRoot(os.Stdout, os.Stderr, os.Getenv).execute(args)
}

// execute runs args on a fresh command tree and returns the exit code. An
// error not printed already is printed in one line, saying what to set
// when it is the credentials'.
func (a *app) execute(args []string) int {
	cmd := newApp(a)
	cmd.SetArgs(args)
	err := cmd.Execute()
	var reported reportedError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errChanges):
		return 2
	case !errors.As(err, &reported):
		fmt.Fprintln(a.stderr, "approverctl:", a.explain(err))
	}
	return 1
}

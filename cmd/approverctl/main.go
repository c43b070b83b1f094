// Command approverctl is the operators' tool for privatelink-approver: check
// a policy before it goes live, explain a decision, push a policy, see what
// is pending and what the policy would do with it, and run the function's
// reconcile by hand. It uses the same packages as the Lambda function, so
// its decisions are the function's decisions.
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
// well, 1 when it did not (an invalid policy, a failed decision, an error).
func run(args []string) int {
	cmd := newRoot(os.Stdout, os.Stderr, os.Getenv)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		var reported reportedError
		if !errors.As(err, &reported) {
			fmt.Fprintln(os.Stderr, "approverctl:", err)
		}
		return 1
	}
	return 0
}

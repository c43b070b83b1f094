// Command demo shows the approver end to end on this machine, with no AWS
// account: it starts moto (with the PrivateLink extension) and the Lambda
// Runtime Interface Emulator on 127.0.0.1, creates a provider with an
// endpoint service and consumers with pending endpoints, stores a policy,
// invokes the real bootstrap binary with the sample events, prints what was
// decided and the final state of every connection, and stops everything.
//
// Run it with `make demo`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

const policyParameter = localaws.SamplePolicyParameter

// management is the AWS Organizations management account of the demo: not
// the provider.
const management = "999900001111"

func main() {
	bootstrap := flag.String("bootstrap", "bin/bootstrap", "the function binary")
	ctl := flag.String("approverctl", "bin/approverctl", "the operators' CLI")
	rie := flag.String("rie", "bin/aws-lambda-rie", "the Lambda Runtime Interface Emulator")
	python := flag.String("python", "python3", "python with moto installed")
	flag.Parse()
	if err := run(*bootstrap, *ctl, *rie, *python); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// consumer is a consumer account of the demo.
type consumer struct {
	account, region, about string
}

var consumers = []consumer{
	{"111122223333", "", "partner-a: allowed everywhere"},
	{"444455556666", "eu-west-1", "eu-partner, connecting from eu-west-1: allowed there"},
	{"444455556666", "", "eu-partner, same region: not allowed"},
	{"999988887777", "", "blocked: rejected by a reject rule"},
	{"123412341234", "", "unknown: rejected by default"},
}

func demoPolicy(svc string) string {
	return fmt.Sprintf(`{"version": 1,
 "defaultAction": "reject",
 "rules": [
   {"name": "partner-a", "action": "accept", "accounts": ["111122223333"]},
   {"name": "eu-partner", "action": "accept", "accounts": ["444455556666"],
    "services": [%q], "regions": ["eu-west-1"], "expires": "2099-06-30T00:00:00Z"},
   {"name": "blocked", "action": "reject", "accounts": ["999988887777"]}]}`, svc)
}

func run(bootstrap, ctl, rie, python string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "approver-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	step("Starting the local AWS (moto with the PrivateLink extension) on 127.0.0.1")
	moto, err := localaws.StartMoto(python, dir, nil)
	if err != nil {
		return err
	}
	defer moto.Stop()
	fmt.Println("  moto:", moto.URL)

	step("Provider 123456789012 creates an endpoint service that requires acceptance")
	svc, err := moto.CreateService(ctx, localaws.Region)
	if err != nil {
		return err
	}
	fmt.Println("  service:", svc.ID, "("+svc.Name+")")

	step("Consumers request connections (all pendingAcceptance)")
	about := map[string]string{}
	for _, c := range consumers {
		id, err := moto.CreateEndpoint(ctx, svc, localaws.Endpoint{Account: c.account, Region: c.region})
		if err != nil {
			return err
		}
		about[id] = c.account + "  " + c.about
	}
	if err := printStates(ctx, moto, svc, about); err != nil {
		return err
	}

	step("The provider checks the policy and stores it in SSM with approverctl: " + policyParameter)
	policy := demoPolicy(svc.ID)
	fmt.Println(indent(policy))
	policyFile := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		return err
	}
	if err := approverctl(moto, ctl, 0, "policy", "validate", policyFile); err != nil {
		return err
	}
	if err := approverctl(moto, ctl, 0, "policy", "explain", policyFile, "--account", "444455556666", "--service", svc.ID, "--endpoint-region", "eu-west-1"); err != nil {
		return err
	}
	if err := approverctl(moto, ctl, 0, "policy", "push", policyFile, "--parameter", policyParameter, "--yes"); err != nil {
		return err
	}

	step("An operator checks the policy and what it would do: approverctl pending (changes nothing)")
	if err := approverctl(moto, ctl, 0, "pending", "--parameter", policyParameter, "--service", svc.ID); err != nil {
		return err
	}

	step("The organization's management account " + management + " makes a role the function may assume (org/org-reader-role.yaml)")
	org, err := moto.CreateOrganization(ctx, management)
	if err != nil {
		return err
	}
	orgRole := org.RoleARN("privatelink-approver-org-reader")
	fmt.Println("  organization:", org.ID, "root:", org.Root)
	fmt.Println("  ORGANIZATION_ROLE_ARN:", orgRole)

	step("Starting the real bootstrap binary under the Lambda Runtime Interface Emulator")
	fn, err := localaws.StartFunction(rie, bootstrap, append(moto.FunctionEnv(localaws.Region),
		"POLICY_PARAMETER="+policyParameter,
		"SERVICE_IDS="+svc.ID,
		"ORGANIZATION_ROLE_ARN="+orgRole,
	), nil)
	if err != nil {
		return err
	}
	defer fn.Stop()

	for _, sample := range []struct{ file, what string }{
		{"ssm-parameter-store-change-other.json", "another parameter changed: nothing to do"},
		{"cloudtrail-create-vpc-endpoint-s3.json", "a consumer created an S3 gateway endpoint: none of ours"},
		{"eventbridge-scheduled-event.json", "the scheduled sweep"},
		{"sqs-sns-connection-notification.json", "a connection notification through SQS (nothing left pending)"},
	} {
		step(fmt.Sprintf("Invoke with events/%s: %s", sample.file, sample.what))
		payload, err := localaws.SampleEvent(sample.file, localaws.SampleServiceID, svc.ID)
		if err != nil {
			return err
		}
		answer, err := fn.Invoke(ctx, payload)
		if err != nil {
			return fmt.Errorf("invoke with %s: %w", sample.file, err)
		}
		printAnswer(answer)
	}

	step("What the function logged for each decision (one JSON line each)")
	for _, l := range fn.Logs("decision") {
		fmt.Printf("  %s %s owner=%s action=%s rule=%s result=%q\n", l["serviceId"], l["endpointId"], l["owner"], l["action"], l["rule"], l["result"])
	}

	step("Final state of every connection")
	if err := printStates(ctx, moto, svc, about); err != nil {
		return err
	}
	step("approverctl pending after the function ran")
	if err := approverctl(moto, ctl, 0, "pending", "--parameter", policyParameter, "--service", svc.ID); err != nil {
		return err
	}

	step("A latecomer asks; a person accepts it against the policy, with a reason: approverctl accept")
	late, err := moto.CreateEndpoint(ctx, svc, localaws.Endpoint{Account: "555566667777"})
	if err != nil {
		return err
	}
	about[late] = "555566667777  a trial a person allowed"
	if err := approverctl(moto, ctl, 0, "accept", "--service", svc.ID, "--reason", "NET-4711: two-week trial", late, "--yes"); err != nil {
		return err
	}

	step("Who decided is stamped on each connection (EC2 tags on vpce-conn-..., visible in the console)")
	if err := printStamps(ctx, moto, svc); err != nil {
		return err
	}

	step("Before a change goes live: approverctl policy plan (partner-a leaves, revoke on; exit 2: changes)")
	change := filepath.Join(dir, "policy-next.json")
	if err := os.WriteFile(change, []byte(strings.Replace(strings.Replace(policy, `"111122223333"`, `"111100000000"`, 1),
		`"defaultAction": "reject",`, `"defaultAction": "reject", "revoke": true,`, 1)), 0o600); err != nil {
		return err
	}
	if err := approverctl(moto, ctl, 2, "policy", "plan", change, "--parameter", policyParameter, "--service", svc.ID); err != nil {
		return err
	}

	step("Rules by organization: accept every account in the partners OU, or in any OU below it")
	partners, err := org.CreateOU(ctx, org.Root, "partners")
	if err != nil {
		return err
	}
	emea, err := org.CreateOU(ctx, partners, "emea")
	if err != nil {
		return err
	}
	member, err := org.CreateAccount(ctx, "partner-emea", emea)
	if err != nil {
		return err
	}
	fmt.Printf("  %s sits in OU emea (%s), below partners (%s)\n", member, emea, partners)
	joiner, err := moto.CreateEndpoint(ctx, svc, localaws.Endpoint{Account: member})
	if err != nil {
		return err
	}
	about[joiner] = member + "  in the partners OU: accepted by rule partners-ou"
	if err := approverctl(moto, ctl, 0, "org", member, "--role", orgRole); err != nil {
		return err
	}
	byOU := strings.Replace(policy, `"rules": [`, fmt.Sprintf(`"rules": [
   {"name": "partners-ou", "action": "accept", "organizationalUnits": [%q]},`, partners), 1)
	fmt.Println(indent(byOU))
	ouFile := filepath.Join(dir, "policy-ou.json")
	if err := os.WriteFile(ouFile, []byte(byOU), 0o600); err != nil {
		return err
	}
	if err := approverctl(moto, ctl, 0, "policy", "explain", ouFile, "--account", member, "--service", svc.ID, "--role", orgRole); err != nil {
		return err
	}
	if err := approverctl(moto, ctl, 0, "policy", "push", ouFile, "--parameter", policyParameter, "--role", orgRole, "--yes"); err != nil {
		return err
	}
	step("Invoke with events/ssm-parameter-store-change.json: the policy change sweeps, looking the account up live")
	payload, err := localaws.SampleEvent("ssm-parameter-store-change.json")
	if err != nil {
		return err
	}
	answer, err := fn.Invoke(ctx, payload)
	if err != nil {
		return fmt.Errorf("invoke with the policy change: %w", err)
	}
	printAnswer(answer)
	for _, l := range fn.Logs("decision") {
		if l["endpointId"] == joiner {
			fmt.Printf("  decision line: %s owner=%s rule=%s result=%q orgPath=%s\n", l["endpointId"], l["owner"], l["rule"], l["result"], l["orgPath"])
		}
	}
	if err := printStates(ctx, moto, svc, about); err != nil {
		return err
	}

	if err := pathPolicy(ctx, dir, moto, ctl, rie, bootstrap); err != nil {
		return err
	}

	step("A broken policy decides nothing and fails loudly")
	if err := moto.PutPolicy(ctx, localaws.Region, policyParameter, `{"version": 1, "rules": [{"name": "x", "action": "accept", "Accounts": ["12345"]}]}`, ""); err != nil {
		return err
	}
	if _, err := fn.Invoke(ctx, payload); err == nil {
		return fmt.Errorf("a broken policy was accepted")
	} else {
		fmt.Println("  invocation failed:", err)
	}

	step("Stopping everything the demo started")
	return nil
}

// pathPolicy shows one policy with many writers: a security team's root
// part delegating one service to the payments team, whose part cannot reach
// beyond it.
func pathPolicy(ctx context.Context, dir string, moto *localaws.Moto, ctl, rie, bootstrap string) error {
	const path = "/privatelink-approver/policies/"
	step("One policy, many writers: the security team's root part (" + path + "root) delegates one service to the payments team")
	svc, err := moto.CreateService(ctx, localaws.Region)
	if err != nil {
		return err
	}
	root := fmt.Sprintf(`{"version": 1, "defaultAction": "manual", "maxRejections": 50,
 "delegate": [{"part": "payments", "services": [%q], "actions": ["accept"]}],
 "rules": [{"name": "blocked", "action": "reject", "accounts": ["999988887777"]}]}`, svc.ID)
	fmt.Println(indent(root))
	rootFile := filepath.Join(dir, "root.json")
	if err := os.WriteFile(rootFile, []byte(root), 0o600); err != nil {
		return err
	}
	if err := approverctl(moto, ctl, 0, "policy", "validate", rootFile); err != nil {
		return err
	}
	if err := approverctl(moto, ctl, 0, "policy", "push", rootFile, "--parameter", path+"root", "--yes"); err != nil {
		return err
	}
	step("The payments team pushes its part, a plain list: push finds the root by itself")
	part := filepath.Join(dir, "payments.txt")
	if err := os.WriteFile(part, []byte("111122223333"), 0o600); err != nil {
		return err
	}
	if err := approverctl(moto, ctl, 0, "policy", "push", part, "--parameter", path+"payments", "--yes"); err != nil {
		return err
	}
	step("The payments team tries to reach beyond its part: refused, nothing written")
	grab := filepath.Join(dir, "payments-grab.json")
	if err := os.WriteFile(grab, []byte(`{"version": 1, "defaultAction": "reject", "maxRejections": 100000,
 "rules": [{"name": "everyone", "action": "accept", "accounts": ["*"], "services": ["vpce-svc-0fedcba987654321"]}]}`), 0o600); err != nil {
		return err
	}
	if err := approverctl(moto, ctl, 1, "policy", "push", grab, "--parameter", path+"payments", "--yes"); err != nil {
		return err
	}
	about := map[string]string{}
	for account, what := range map[string]string{"111122223333": "accepted by the payments part", "123412341234": "left to a person by the root"} {
		id, err := moto.CreateEndpoint(ctx, svc, localaws.Endpoint{Account: account})
		if err != nil {
			return err
		}
		about[id] = account + "  " + what
	}
	fn, err := localaws.StartFunction(rie, bootstrap, append(moto.FunctionEnv(localaws.Region), "POLICY_PARAMETER="+path, "SERVICE_IDS="+svc.ID), nil)
	if err != nil {
		return err
	}
	defer fn.Stop()
	sweep, err := localaws.SampleEvent("eventbridge-scheduled-event.json")
	if err != nil {
		return err
	}
	if _, err := fn.Invoke(ctx, sweep); err != nil {
		return fmt.Errorf("sweep the path policy: %w", err)
	}
	for _, l := range fn.Logs("decision") {
		fmt.Printf("  decision line: %s owner=%s rule=%s result=%q\n", l["endpointId"], l["owner"], l["rule"], l["result"])
	}
	if err := printStates(ctx, moto, svc, about); err != nil {
		return err
	}
	step("Written past approverctl (aws ssm put-parameter), the same part is refused by the function: its service is held, nothing decided on it")
	text, err := os.ReadFile(grab)
	if err != nil {
		return err
	}
	if err := moto.PutPolicy(ctx, localaws.Region, path+"payments", string(text), ""); err != nil {
		return err
	}
	late, err := moto.CreateEndpoint(ctx, svc, localaws.Endpoint{Account: "111122223333"})
	if err != nil {
		return err
	}
	about[late] = "111122223333  asked after the part was overwritten: held"
	if _, err := fn.Invoke(ctx, sweep); err == nil {
		return fmt.Errorf("a held service did not fail the sweep")
	} else {
		fmt.Println("  invocation failed:", err)
	}
	for _, l := range fn.Logs("policy part refused") {
		fmt.Printf("  policy part refused: %s problems=%v heldServices=%v\n", l["part"], l["problems"], l["heldServices"])
	}
	return printStates(ctx, moto, svc, about)
}

func step(s string) { fmt.Printf("\n== %s\n", s) }

// approverctl runs the CLI against the local AWS, indenting its output,
// and expects exit status want.
func approverctl(moto *localaws.Moto, ctl string, want int, args ...string) error {
	fmt.Println("  $ approverctl " + strings.Join(args, " "))
	cmd := exec.Command(ctl, args...)
	cmd.Env = append(os.Environ(), moto.FunctionEnv(localaws.Region)...)
	out, err := cmd.CombinedOutput()
	fmt.Println(indent(strings.TrimRight(string(out), "\n")))
	var exit *exec.ExitError
	switch {
	case err == nil && want == 0:
		return nil
	case errors.As(err, &exit) && exit.ExitCode() == want:
		fmt.Printf("  (exit status %d)\n", want)
		return nil
	}
	return fmt.Errorf("approverctl %s: want exit status %d: %v", strings.Join(args, " "), want, err)
}

// printStamps prints the privatelink-approver tags of every connection.
func printStamps(ctx context.Context, moto *localaws.Moto, svc localaws.Service) error {
	conns, err := moto.Connections(ctx, svc)
	if err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(conns)) {
		c := conns[id]
		fmt.Printf("  %s (%s, %s)\n", c.ID, id, c.State)
		for _, k := range slices.Sorted(maps.Keys(c.Tags)) {
			fmt.Printf("      %-36s %s\n", k, c.Tags[k])
		}
	}
	return nil
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

func printStates(ctx context.Context, moto *localaws.Moto, svc localaws.Service, about map[string]string) error {
	states, err := moto.States(ctx, svc)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  ENDPOINT\tSTATE\tCONSUMER")
	for _, id := range slices.Sorted(maps.Keys(states)) {
		fmt.Fprintf(w, "  %s\t%s\t%s\n", id, states[id], about[id])
	}
	return w.Flush()
}

func printAnswer(answer json.RawMessage) {
	var summary struct {
		Trigger   string `json:"trigger"`
		Ignored   string `json:"ignored"`
		Accepted  *int   `json:"accepted"`
		Rejected  int    `json:"rejected"`
		Manual    int    `json:"manual"`
		Failed    int    `json:"failed"`
		Decisions []struct {
			EndpointID string `json:"endpointId"`
			Owner      string `json:"owner"`
			Action     string `json:"action"`
			Rule       string `json:"rule"`
			Reason     string `json:"reason"`
		} `json:"decisions"`
		BatchItemFailures []any `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(answer, &summary); err != nil {
		fmt.Println(" ", string(answer))
		return
	}
	switch {
	case summary.Ignored != "":
		fmt.Printf("  trigger=%s ignored: %s\n", summary.Trigger, summary.Ignored)
	case summary.Accepted != nil:
		fmt.Printf("  trigger=%s accepted=%d rejected=%d manual=%d failed=%d\n", summary.Trigger, *summary.Accepted, summary.Rejected, summary.Manual, summary.Failed)
		for _, d := range summary.Decisions {
			fmt.Printf("    %s owner=%s -> %s (rule %s: %s)\n", d.EndpointID, d.Owner, d.Action, d.Rule, d.Reason)
		}
	default:
		fmt.Printf("  SQS answer: %s\n", answer)
	}
}

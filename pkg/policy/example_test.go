package policy_test

import (
	"fmt"
	"time"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

func ExampleParse() {
	p, err := policy.Parse([]byte(`{"version": 1,
	  "defaultAction": "reject",
	  "rules": [
	    {"name": "partner-a", "action": "accept", "accounts": ["111122223333"]},
	    {"name": "blocked", "action": "reject", "accounts": ["999988887777"]}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	d := p.Decide(policy.Request{Account: "111122223333", ServiceID: "vpce-svc-0123456789abcdef0", Region: "us-east-1"}, time.Now())
	fmt.Println(d.Action, d.Rule)
	fmt.Println(d.Reason())
	// Output:
	// accept partner-a
	// matched accept rule partner-a and no reject rule
}

func ExampleValidationError() {
	_, err := policy.Parse([]byte(`{"version": 1, "rules": [{"name": "a", "action": "accept", "accounts": ["12345"]}]}`))
	fmt.Println(err)
	// Output:
	// invalid policy: rules[0].accounts[0]: "12345" is not a 12-digit account ID or "*"
}

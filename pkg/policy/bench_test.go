package policy_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// largePolicy has accounts spread over rules, every tenth rule a reject
// rule narrowed to one service, so a decision looks at real candidates.
func largePolicy(b *testing.B, accounts, rules int) *policy.Policy {
	b.Helper()
	type rule struct {
		Name     string   `json:"name"`
		Action   string   `json:"action"`
		Accounts []string `json:"accounts"`
		Services []string `json:"services,omitempty"`
	}
	doc := struct {
		Version int    `json:"version"`
		Rules   []rule `json:"rules"`
	}{Version: 1}
	for r := range rules {
		ru := rule{Name: fmt.Sprintf("rule-%d", r), Action: "accept"}
		if r%10 == 9 {
			ru.Action, ru.Services = "reject", []string{"vpce-svc-0bbbbbbbbbbbbbbbb"}
		}
		doc.Rules = append(doc.Rules, ru)
	}
	for a := range accounts {
		r := a % rules
		doc.Rules[r].Accounts = append(doc.Rules[r].Accounts, fmt.Sprintf("%012d", 100000000000+a))
	}
	return parsed(b, doc)
}

// parsed is the policy doc encodes.
func parsed(b *testing.B, doc any) *policy.Policy {
	b.Helper()
	text, err := json.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	p, err := policy.Parse(text)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// ouPolicy has rules accepting by OU, every tenth rejecting, one OU each.
func ouPolicy(b *testing.B, rules int) *policy.Policy {
	b.Helper()
	type rule struct {
		Name   string   `json:"name"`
		Action string   `json:"action"`
		OUs    []string `json:"organizationalUnits"`
	}
	doc := struct {
		Version int    `json:"version"`
		Rules   []rule `json:"rules"`
	}{Version: 1}
	for r := range rules {
		ru := rule{Name: fmt.Sprintf("rule-%d", r), Action: "accept", OUs: []string{fmt.Sprintf("ou-ab12-%08d", r)}}
		if r%10 == 9 {
			ru.Action = "reject"
		}
		doc.Rules = append(doc.Rules, ru)
	}
	return parsed(b, doc)
}

// BenchmarkDecide measures one decision against policies of growing size;
// the cost should stay flat (an index lookup) and allocate nothing.
func BenchmarkDecide(b *testing.B) {
	now := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	for _, size := range []struct{ accounts, rules int }{{100, 10}, {10_000, 100}, {100_000, 1_000}} {
		b.Run(fmt.Sprintf("accounts=%d/rules=%d", size.accounts, size.rules), func(b *testing.B) {
			p := largePolicy(b, size.accounts, size.rules)
			req := policy.Request{Account: fmt.Sprintf("%012d", 100000000000+size.accounts/2), ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa",
				EndpointID: "vpce-0aaaaaaaaaaaaaaaa", Region: "us-east-1"}
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Decide(req, now)
			}
		})
	}
	// An account three OUs below the root, against policies of OU rules.
	for _, rules := range []int{10, 1_000} {
		b.Run(fmt.Sprintf("ou-rules=%d/depth=3", rules), func(b *testing.B) {
			p := ouPolicy(b, rules)
			org := &policy.Membership{Organization: "o-abc1234567", Root: "r-ab12",
				OUs: []string{fmt.Sprintf("ou-ab12-%08d", rules/2), "ou-ab12-aaaaaaaa", fmt.Sprintf("ou-ab12-%08d", rules-1)}}
			req := policy.Request{Account: "111122223333", ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa", Region: "us-east-1", Org: org}
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Decide(req, now)
			}
		})
	}
}

// Package policy parses, validates and evaluates the allowlist that decides
// VPC endpoint connection requests.
//
// It is pure: plain data in, a Decision with the rule and the reason out. It
// knows nothing of AWS, SSM or Lambda, so the function, the operators' CLI,
// the tests and the fuzzer all share it.
//
// A policy is either a plain list of 12-digit account IDs (accepted on every
// managed service, everyone else rejected) or a JSON document:
//
//	{"version": 1,
//	 "defaultAction": "reject",
//	 "rules": [
//	   {"name": "partner-a", "action": "accept", "accounts": ["111122223333"]},
//	   {"name": "blocked", "action": "reject", "accounts": ["999988887777"]}]}
//
// A matching reject rule wins over any accept rule, whatever the order; no
// match means defaultAction. See docs/policy.md for every field.
//
// The form is told by the first character that is not white space, after
// any UTF-8 byte-order mark: "{" is a JSON document; a JSON array or a text
// that reads as YAML is refused, never read as account IDs. Every problem
// is reported by field path (a JSON syntax error by line and column), the
// first MaxProblems of them, then a count of the rest. Policy.Warnings says
// what is valid but probably not meant: expired rules, a policy that
// accepts nobody.
package policy

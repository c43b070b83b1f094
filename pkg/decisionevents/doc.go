// Package decisionevents puts each applied decision (accepted, rejected,
// revoked) on the account's default Amazon EventBridge bus, so that rules
// can route an audit trail of decisions to a central bus, a SIEM, chat or
// storage without reading the function's logs.
//
// Each event has Source "privatelink-approver", DetailType "PrivateLink
// Connection Decision" and, as Detail, the decision's line: the JSON of
// approver.Outcome, with the same field names. Its Resources name the
// endpoint service's ARN when the function's own ARN (from the invocation's
// context) gives the partition, Region and account.
//
// Events are put 10 to a PutEvents call, the API's maximum. A failed call
// or entry is logged and counted (metric DecisionEventFailures); it never
// undoes or fails a decision: EC2 has applied it, and its log line stands.
// An event is not put again: the decision's log line is the record.
//
// See https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
// and https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
package decisionevents

// Package approver reconciles VPC endpoint services against the policy: for
// each managed service it asks EC2 for the connection requests
// (DescribeVpcEndpointConnections, paged), decides each with package policy,
// and accepts or rejects them in batches (one Accept and one Reject call per
// service, split only past 1,000 IDs). Every call to EC2 goes through the
// small Endpoints interface (package vpcendpoints implements it): this
// package is the decisions, the guards and the report.
//
// What each connection comes to is one table (table.go): the policy's
// verdict, the connection's state, a person's stamp, a failed lookup, a held
// part and the guards in, accept, reject, revoke, held, left-pending or
// undecided out. Every decision EC2 applied is stamped
// on the connection itself with EC2 tags (see TagDecision): who decided, by
// which rule and policy version, and when.
//
// It never trusts the event that woke it for the state of a connection: EC2
// is the truth. It never acts without a valid policy, nor with a cached one
// it has not checked against the stored version. It reads every
// Unsuccessful item that Accept and Reject return, checking the
// connection's fresh state before it calls a failure an error. Revocations
// are held, all of them, when there are too many or when any managed
// service could not be read; rejections of pending requests, all of them,
// when there are more than maxRejections.
//
// The same code serves approverctl: a person's decisions (DecideByPerson)
// and a preview of a policy change (PlanPolicy).
//
// See https://docs.aws.amazon.com/vpc/latest/privatelink/configure-endpoint-service.html#accept-reject-connection-requests
package approver

// Package approver reconciles VPC endpoint services against the policy: for
// each managed service it asks EC2 for the pending connection requests
// (DescribeVpcEndpointConnections, paged), decides each with package policy,
// and accepts or rejects them in batches (one Accept and one Reject call per
// service, split only past 1,000 IDs).
//
// It never trusts the event that woke it for the state of a connection: EC2
// is the truth. It never acts without a valid policy, and it reads every
// Unsuccessful item that Accept and Reject return, checking the connection's
// fresh state before it calls a failure an error.
//
// See https://docs.aws.amazon.com/vpc/latest/privatelink/configure-endpoint-service.html#accept-reject-connection-requests
package approver

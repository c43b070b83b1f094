// Package vpcendpoints is the approver's access to EC2's VPC endpoint
// services API, kept apart from the decisions as Karpenter keeps its
// providers apart from its controllers: reading connections (every page),
// accepting and rejecting in batches (and what EC2 did not act on), tagging
// connections, describing the account's endpoint services, their allowed
// principals and their connection notifications. It decides nothing.
//
// See https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVpcEndpointConnections.html
// and https://docs.aws.amazon.com/vpc/latest/privatelink/configure-endpoint-service.html
package vpcendpoints

// Package awserr classifies AWS errors in one place, by their error codes
// (smithy.APIError) and HTTP status, so that no caller compares error
// strings or keeps its own list of codes: what is "not found", what is
// throttling, what is a refusal that retrying will not cure.
//
// See https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
// for EC2's codes, and the SDK's retry package for the throttling codes the
// retryer already knows.
package awserr

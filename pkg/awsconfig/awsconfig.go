// Package awsconfig loads the AWS SDK configuration shared by the function
// and the operators' tools: the standard credential and region chain (and
// AWS_ENDPOINT_URL), with the SDK's standard retryer tuned so that EC2 and
// SSM throttling and 5xx answers are retried with jittered backoff, but
// boundedly, so an invocation ends well inside the function's timeout.
package awsconfig

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
)

// The retry bound of one AWS call. Throttling (RequestLimitExceeded,
// ThrottlingException), 5xx answers and transient network errors are
// retried by the SDK's standard retryer; the backoff is "full jitter" up to
// MaxBackoff. One call waits at most (MaxAttempts-1) x MaxBackoff between
// attempts: 6 s.
const (
	MaxAttempts = 4
	MaxBackoff  = 2 * time.Second
)

// Load returns the configuration; optFns add to (and override) the
// defaults, e.g. config.WithRegion from a --region flag.
func Load(ctx context.Context, optFns ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts := append([]func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = MaxAttempts
				o.MaxBackoff = MaxBackoff
			})
		}),
	}, optFns...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

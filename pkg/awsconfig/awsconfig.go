// Package awsconfig holds the AWS SDK configuration shared by the function
// and the operators' tools: the SDK's standard retryer tuned so that EC2 and
// SSM throttling and 5xx answers are retried with jittered backoff, but
// boundedly, so an invocation ends well inside the function's timeout; and,
// for the function, the configuration built from what Lambda provides; and
// the configuration acting as another role (AssumeRole), for AWS
// Organizations calls made in the management account.
//
// The function does not use the SDK's configuration chain
// (config.LoadDefaultConfig): a Lambda function has its credentials, Region
// and endpoint in its environment, and the chain would link shared-config,
// SSO and instance-metadata clients it never uses, slowing its cold start
// (STS it links only for AssumeRole). approverctl keeps the full chain (see
// cmd/approverctl).
package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
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

// NewRetryer is the bounded standard retryer, for aws.Config.Retryer or
// config.WithRetryer.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = MaxBackoff
	})
}

// Names of the environment variables Lambda sets (and the SDK's
// AWS_ENDPOINT_URL, which the local tests set).
const (
	EnvRegion          = "AWS_REGION"
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "AWS_SESSION_TOKEN"
	EnvEndpointURL     = "AWS_ENDPOINT_URL"
	// EnvUseFIPSEndpoint (default `false`): `true` calls AWS through FIPS
	// endpoints, as the SDK's shared configuration does (`true` or
	// `false`, in any case). The template sets it from UseFIPSEndpoint.
	EnvUseFIPSEndpoint = "AWS_USE_FIPS_ENDPOINT"
	// EnvUseDualStackEndpoint (default `false`): `true` calls AWS through
	// dual-stack (IPv6) endpoints. The template sets it from
	// UseDualStackEndpoint.
	EnvUseDualStackEndpoint = "AWS_USE_DUALSTACK_ENDPOINT"
)

// FromEnv builds the function's configuration from what Lambda provides:
// the Region, the execution role's credentials, and AWS_ENDPOINT_URL when
// set, with the bounded retryer. Every missing variable is named.
func FromEnv(getenv func(string) string) (aws.Config, error) {
	var missing []string
	value := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			missing = append(missing, name)
		}
		return v
	}
	region := value(EnvRegion)
	key, secret := value(EnvAccessKeyID), value(EnvSecretAccessKey)
	if len(missing) > 0 {
		return aws.Config{}, fmt.Errorf("the Lambda environment lacks %s: %w", strings.Join(missing, ", "), errNoEnvironment)
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, getenv(EnvSessionToken)),
		Retryer:     NewRetryer,
	}
	if endpoint := strings.TrimSpace(getenv(EnvEndpointURL)); endpoint != "" {
		cfg.BaseEndpoint = aws.String(endpoint)
	}
	modes, err := endpointModesFromEnv(getenv)
	if err != nil {
		return aws.Config{}, err
	}
	if modes != (endpointModes{}) {
		cfg.ConfigSources = append(cfg.ConfigSources, modes)
	}
	return cfg, nil
}

// endpointModes carries AWS_USE_FIPS_ENDPOINT and AWS_USE_DUALSTACK_ENDPOINT
// to every client built from the configuration: each client asks its
// ConfigSources for them, as it asks config.LoadDefaultConfig's environment
// source.
type endpointModes struct {
	fips      aws.FIPSEndpointState
	dualStack aws.DualStackEndpointState
}

// GetUseFIPSEndpoint is what the SDK's clients ask for the FIPS mode.
func (m endpointModes) GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error) {
	return m.fips, m.fips != aws.FIPSEndpointStateUnset, nil
}

// GetUseDualStackEndpoint is what the SDK's clients ask for the dual-stack
// mode.
func (m endpointModes) GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error) {
	return m.dualStack, m.dualStack != aws.DualStackEndpointStateUnset, nil
}

func endpointModesFromEnv(getenv func(string) string) (endpointModes, error) {
	var m endpointModes
	var errs []error
	flag := func(name string) (set, on bool) {
		switch v := strings.TrimSpace(getenv(name)); {
		case v == "":
			return false, false
		case strings.EqualFold(v, "true"):
			return true, true
		case strings.EqualFold(v, "false"):
			return true, false
		default:
			errs = append(errs, fmt.Errorf("%s is %q: want true or false", name, v))
			return false, false
		}
	}
	if set, on := flag(EnvUseFIPSEndpoint); set {
		m.fips = aws.FIPSEndpointStateDisabled
		if on {
			m.fips = aws.FIPSEndpointStateEnabled
		}
	}
	if set, on := flag(EnvUseDualStackEndpoint); set {
		m.dualStack = aws.DualStackEndpointStateDisabled
		if on {
			m.dualStack = aws.DualStackEndpointStateEnabled
		}
	}
	return m, errors.Join(errs...)
}

var errNoEnvironment = errors.New("not a Lambda environment")

// SessionName is the role session name of the approver's assumed roles,
// seen in the management account's CloudTrail.
const SessionName = "privatelink-approver"

// RoleSession is how long assumed credentials last: an hour, every role's
// MaxSessionDuration unless raised (org/org-reader-role.yaml keeps it).
const RoleSession = time.Hour

// RoleExpiryWindow is how long before they expire assumed credentials are
// replaced: a call never starts with credentials about to expire.
const RoleExpiryWindow = 2 * time.Minute

// AssumeRole returns cfg acting as roleARN: STS AssumeRole with cfg's own
// credentials, the credentials kept until RoleExpiryWindow before they
// expire. An error getting them says which role could not be assumed, and
// carries STS's error code.
func AssumeRole(cfg aws.Config, roleARN string) aws.Config {
	out := cfg.Copy()
	provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = SessionName
		o.Duration = RoleSession
	})
	out.Credentials = aws.NewCredentialsCache(roleProvider{provider, roleARN}, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = RoleExpiryWindow
	})
	return out
}

// roleProvider names the role in the errors of its provider.
type roleProvider struct {
	aws.CredentialsProvider
	arn string
}

func (p roleProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.CredentialsProvider.Retrieve(ctx)
	if err != nil {
		return c, fmt.Errorf("assume role %s: %w", p.arn, err)
	}
	return c, nil
}

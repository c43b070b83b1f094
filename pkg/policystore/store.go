// Package policystore reads the approver's policy from an SSM Parameter Store
// parameter (String, StringList or SecureString, with decryption), parses it
// with package policy, and keeps the parsed copy for a while so that warm
// invocations make no SSM call.
//
// Only a valid policy is cached: a missing or invalid one is read again on
// the next invocation, so a fix takes effect at once.
package policystore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// SSMAPI is the part of the SSM client the store uses.
type SSMAPI interface {
	GetParameter(ctx context.Context, params *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Loaded is a parsed policy and where it came from.
type Loaded struct {
	Policy *policy.Policy
	// Parameter is the SSM parameter name.
	Parameter string
	// Version is the parameter's version, logged with every decision.
	Version int64
}

// Error is returned when the policy cannot be used: the parameter is
// missing or unreadable, or its value is invalid. Nothing may be decided.
type Error struct {
	Parameter string
	// Version is the parameter version read, 0 when none was read.
	Version int64
	Err     error
}

func (e *Error) Error() string {
	if e.Version > 0 {
		return fmt.Sprintf("policy parameter %s (version %d): %v", e.Parameter, e.Version, e.Err)
	}
	return fmt.Sprintf("policy parameter %s: %v", e.Parameter, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Store loads the policy from one parameter. It is safe for concurrent use.
type Store struct {
	ssm       SSMAPI
	parameter string
	ttl       time.Duration
	now       func() time.Time

	mu       sync.Mutex
	cached   *Loaded
	loadedAt time.Time
}

// New returns a Store for parameter; ttl is how long a valid policy is reused
// (0: read SSM on every Load).
func New(client SSMAPI, parameter string, ttl time.Duration) *Store {
	return &Store{ssm: client, parameter: parameter, ttl: ttl, now: time.Now}
}

// Load returns the policy, from the cache unless fresh is set or the cached
// copy is older than the TTL.
func (s *Store) Load(ctx context.Context, fresh bool) (*Loaded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !fresh && s.cached != nil && s.now().Sub(s.loadedAt) < s.ttl {
		return s.cached, nil
	}
	s.cached = nil
	out, err := s.ssm.GetParameter(ctx, &ssm.GetParameterInput{
		Name:           aws.String(s.parameter),
		WithDecryption: aws.Bool(true),
	})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ParameterNotFound" {
			return nil, &Error{Parameter: s.parameter, Err: fmt.Errorf("not found (ParameterNotFound): create it with aws ssm put-parameter: %w", err)}
		}
		return nil, &Error{Parameter: s.parameter, Err: fmt.Errorf("read: %w", err)}
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return nil, &Error{Parameter: s.parameter, Err: errors.New("SSM returned no value")}
	}
	version := out.Parameter.Version
	p, err := policy.Parse([]byte(*out.Parameter.Value))
	if err != nil {
		return nil, &Error{Parameter: s.parameter, Version: version, Err: err}
	}
	s.cached = &Loaded{Policy: p, Parameter: s.parameter, Version: version}
	s.loadedAt = s.now()
	return s.cached, nil
}

// Package policystore reads the approver's policy from an SSM Parameter Store
// parameter (String, StringList or SecureString, with decryption), or from
// every parameter under a path when the name ends in "/", parses it with
// package policy, and keeps the parsed copy for a while so that warm
// invocations make no SSM call.
//
// Only a valid policy is cached: a missing or invalid one is read again on
// the next invocation, so a fix takes effect at once.
package policystore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// SSMAPI is the part of the SSM client the store uses.
type SSMAPI interface {
	GetParameter(ctx context.Context, params *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	GetParametersByPath(ctx context.Context, params *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
}

// IsPath reports whether parameter names a path (it ends in "/"): the
// policy is then every parameter under it, merged.
func IsPath(parameter string) bool { return strings.HasSuffix(parameter, "/") }

// Loaded is a parsed policy and where it came from.
type Loaded struct {
	Policy *policy.Policy
	// Parameter is the SSM parameter name (or path).
	Parameter string
	// Version identifies what was read, logged with every decision: the
	// parameter's version, or for a path a digest of its parameters' names
	// and versions (each logged when loaded).
	Version string
	// Parts are the parameters read, by name, with their versions.
	Parts map[string]int64
}

// Error is returned when the policy cannot be used: the parameter is
// missing or unreadable, or its value is invalid. Nothing may be decided.
type Error struct {
	// Parameter is the parameter at fault: under a path, the invalid part.
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
	var loaded *Loaded
	var err error
	if IsPath(s.parameter) {
		loaded, err = s.loadPath(ctx)
	} else {
		loaded, err = s.loadOne(ctx)
	}
	if err != nil {
		return nil, err
	}
	s.cached, s.loadedAt = loaded, s.now()
	return loaded, nil
}

func (s *Store) loadOne(ctx context.Context) (*Loaded, error) {
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
	return &Loaded{Policy: p, Parameter: s.parameter, Version: strconv.FormatInt(version, 10),
		Parts: map[string]int64{s.parameter: version}}, nil
}

// loadPath reads every parameter under the path (recursively, every page)
// and merges them, in name order. Any invalid part invalidates the whole.
func (s *Store) loadPath(ctx context.Context) (*Loaded, error) {
	var params []ssmtypes.Parameter
	pages := ssm.NewGetParametersByPathPaginator(s.ssm, &ssm.GetParametersByPathInput{
		Path:           aws.String(strings.TrimSuffix(s.parameter, "/")),
		Recursive:      aws.Bool(true),
		WithDecryption: aws.Bool(true),
		MaxResults:     aws.Int32(10),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, &Error{Parameter: s.parameter, Err: fmt.Errorf("read the parameters under the path: %w", err)}
		}
		params = append(params, page.Parameters...)
	}
	if len(params) == 0 {
		return nil, &Error{Parameter: s.parameter, Err: errors.New("no parameter under this path: create one with aws ssm put-parameter")}
	}
	slices.SortFunc(params, func(x, y ssmtypes.Parameter) int { return strings.Compare(aws.ToString(x.Name), aws.ToString(y.Name)) })

	sources := make([]policy.Source, 0, len(params))
	parts := make(map[string]int64, len(params))
	digest := sha256.New()
	for _, prm := range params {
		name := aws.ToString(prm.Name)
		sources = append(sources, policy.Source{Name: name, Text: []byte(aws.ToString(prm.Value))})
		parts[name] = prm.Version
		fmt.Fprintf(digest, "%s:%d\n", name, prm.Version)
	}
	p, err := policy.Merge(sources)
	if err != nil {
		var part *policy.SourceError
		if errors.As(err, &part) {
			return nil, &Error{Parameter: part.Source, Version: parts[part.Source], Err: part.Err}
		}
		return nil, &Error{Parameter: s.parameter, Err: err}
	}
	return &Loaded{Policy: p, Parameter: s.parameter, Parts: parts,
		Version: fmt.Sprintf("sha256:%x", digest.Sum(nil)[:6])}, nil
}

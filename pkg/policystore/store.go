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

	"github.com/privatelink-approver/privatelink-approver/pkg/awserr"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// SSMAPI is the part of the SSM client the store uses.
type SSMAPI interface {
	GetParameter(ctx context.Context, params *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	GetParametersByPath(ctx context.Context, params *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
}

// Part is one parameter of the policy as stored: the whole policy, or one
// part of a path.
type Part struct {
	Name    string
	Version int64
	Text    []byte
	// Modified is the parameter's LastModifiedDate; zero when SSM did not
	// send one.
	Modified time.Time
	// Unreadable says why a part under a path could not be read (its
	// SecureString could not be decrypted): the root refuses it.
	Unreadable string

	// secure marks a SecureString listed without decryption.
	secure bool
}

// ErrNotFound is wrapped by the Error for a parameter that does not exist,
// or a path with no parameter under it.
var ErrNotFound = errors.New("not found")

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

// Is makes every Error match policy.ErrNoPolicy: nothing may be decided.
func (e *Error) Is(target error) bool { return target == policy.ErrNoPolicy }

// Store loads the policy from one parameter. It is safe for concurrent use.
type Store struct {
	ssm       SSMAPI
	parameter string
	ttl       time.Duration
	now       func() time.Time

	mu       sync.Mutex
	cached   *policy.Loaded
	loadedAt time.Time
}

// New returns a Store for parameter; ttl is how long a valid policy is reused
// (0: read SSM on every Load).
func New(client SSMAPI, parameter string, ttl time.Duration) *Store {
	return &Store{ssm: client, parameter: parameter, ttl: ttl, now: time.Now}
}

// Load returns the policy, from the cache unless fresh is set or the cached
// copy is older than the TTL.
func (s *Store) Load(ctx context.Context, fresh bool) (*policy.Loaded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !fresh && s.cached != nil && s.now().Sub(s.loadedAt) < s.ttl {
		c := *s.cached
		c.Cached = true
		return &c, nil
	}
	s.cached = nil
	parts, err := s.ReadParts(ctx)
	if err != nil {
		return nil, err
	}
	loaded, err := Build(s.parameter, parts)
	if err != nil {
		return nil, err
	}
	s.cached, s.loadedAt = loaded, s.now()
	return loaded, nil
}

// ReadParts reads the stored policy without parsing it: the parameter, or
// every parameter under the path (recursively, every page), in name order.
// The error is an *Error; it wraps ErrNotFound when nothing is stored.
func (s *Store) ReadParts(ctx context.Context) ([]Part, error) {
	if awsid.IsParameterPath(s.parameter) {
		return s.readPath(ctx)
	}
	return s.readOne(ctx)
}

func (s *Store) readOne(ctx context.Context) ([]Part, error) {
	out, err := s.ssm.GetParameter(ctx, &ssm.GetParameterInput{
		Name:           aws.String(s.parameter),
		WithDecryption: aws.Bool(true),
	})
	if err != nil {
		if awserr.IsNotFound(err) {
			return nil, &Error{Parameter: s.parameter, Err: fmt.Errorf("%w (ParameterNotFound): store one with approverctl policy push FILE --parameter NAME (docs/policy.md): %v", ErrNotFound, err)}
		}
		return nil, &Error{Parameter: s.parameter, Err: fmt.Errorf("read: %w", err)}
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return nil, &Error{Parameter: s.parameter, Err: errors.New("SSM returned no value")}
	}
	return []Part{{Name: s.parameter, Version: out.Parameter.Version, Text: []byte(*out.Parameter.Value), Modified: aws.ToTime(out.Parameter.LastModifiedDate)}}, nil
}

// readPath lists every parameter under the path (recursively, every page)
// without decryption, then decrypts, one GetParameter each, the root part
// and the SecureString parts the root delegates to. One part's KMS key that
// the function may not use (or that its writer disabled) then makes that
// part unreadable, refused by the root, and never stops the whole path;
// only an unreadable root does. Parts the root ignores are never
// decrypted.
func (s *Store) readPath(ctx context.Context) ([]Part, error) {
	var parts []Part
	pages := ssm.NewGetParametersByPathPaginator(s.ssm, &ssm.GetParametersByPathInput{
		Path:           aws.String(strings.TrimSuffix(s.parameter, "/")),
		Recursive:      aws.Bool(true),
		WithDecryption: aws.Bool(false),
		MaxResults:     aws.Int32(10),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, &Error{Parameter: s.parameter, Err: fmt.Errorf("read the parameters under the path: %w", err)}
		}
		for _, prm := range page.Parameters {
			parts = append(parts, Part{Name: aws.ToString(prm.Name), Version: prm.Version, Text: []byte(aws.ToString(prm.Value)),
				Modified: aws.ToTime(prm.LastModifiedDate), secure: prm.Type == ssmtypes.ParameterTypeSecureString})
		}
	}
	if len(parts) == 0 {
		return nil, &Error{Parameter: s.parameter, Err: fmt.Errorf("%w: no parameter under this path: store its root part %s with approverctl policy push", ErrNotFound, RootOf(s.parameter))}
	}
	slices.SortFunc(parts, func(x, y Part) int { return strings.Compare(x.Name, y.Name) })
	root := slices.IndexFunc(parts, func(p Part) bool { return p.Name == RootOf(s.parameter) })
	if root < 0 {
		return parts, nil // Build says the root is missing
	}
	if err := s.decrypt(ctx, &parts[root]); err != nil {
		return nil, &Error{Parameter: parts[root].Name, Version: parts[root].Version, Err: fmt.Errorf("read: %w", err)}
	}
	delegated := map[string]bool{}
	if p, err := policy.ParseRoot(parts[root].Text); err == nil {
		for _, d := range p.Delegations {
			delegated[s.parameter+d.Part] = true
		}
	}
	for i := range parts {
		if delegated[parts[i].Name] {
			if err := s.decrypt(ctx, &parts[i]); err != nil {
				parts[i].Unreadable = fmt.Sprintf("could not be read: %v", err)
			}
		}
	}
	return parts, nil
}

// decrypt reads a SecureString part again, decrypted, at the version
// listed.
func (s *Store) decrypt(ctx context.Context, p *Part) error {
	if !p.secure {
		return nil
	}
	out, err := s.ssm.GetParameter(ctx, &ssm.GetParameterInput{
		Name:           aws.String(fmt.Sprintf("%s:%d", p.Name, p.Version)),
		WithDecryption: aws.Bool(true),
	})
	if err != nil {
		return err
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return errors.New("SSM returned no value")
	}
	p.Text, p.secure = []byte(*out.Parameter.Value), false
	return nil
}

// Build parses the parts read from parameter into one policy: the
// parameter's own value, or for a path the root part (the parameter root
// under it) with the parts it delegates to (policy.Compose). The error is an
// *Error: for a path, it names the root part, missing or invalid. A
// delegated part that is refused or missing is no error: the policy holds
// its services and lists it in Policy.Issues.
func Build(parameter string, parts []Part) (*policy.Loaded, error) {
	versions := make(map[string]int64, len(parts))
	content := sha256.New()
	modified := lastModified(parts)
	for _, p := range parts {
		versions[p.Name] = p.Version
		fmt.Fprintf(content, "%q:%d:%d:", p.Name, p.Version, len(p.Text))
		content.Write(p.Text)
	}
	digest := fmt.Sprintf("sha256:%x", content.Sum(nil))
	if !awsid.IsParameterPath(parameter) {
		if len(parts) != 1 {
			return nil, &Error{Parameter: parameter, Err: fmt.Errorf("%d values for one parameter", len(parts))}
		}
		version := parts[0].Version
		p, err := policy.Parse(parts[0].Text)
		if err != nil {
			return nil, &Error{Parameter: parameter, Version: version, Err: err}
		}
		return &policy.Loaded{Policy: p, Parameter: parameter, Version: strconv.FormatInt(version, 10), Digest: digest, Modified: modified}, nil
	}
	rootName := RootOf(parameter)
	var root *Part
	sources := make([]policy.Source, 0, len(parts))
	names := sha256.New()
	for i, part := range parts {
		fmt.Fprintf(names, "%s:%d\n", part.Name, part.Version)
		if part.Name == rootName {
			root = &parts[i]
			continue
		}
		sources = append(sources, policy.Source{Name: strings.TrimPrefix(part.Name, parameter), Text: part.Text, Unreadable: part.Unreadable})
	}
	if root == nil {
		return nil, &Error{Parameter: rootName, Err: fmt.Errorf("%w: a policy under a path needs its root part, which sets defaultAction, revoke, the limits and which part decides what (delegate); nothing is decided without it", ErrNotFound)}
	}
	p, err := policy.Compose(parameter, root.Text, sources)
	if err != nil {
		return nil, &Error{Parameter: rootName, Version: root.Version, Err: err}
	}
	return &policy.Loaded{Policy: p, Parameter: parameter, Digest: digest, Modified: modified,
		Version: fmt.Sprintf("sha256:%x", names.Sum(nil)[:6])}, nil
}

// lastModified is when the newest of parts changed, or zero when any part
// does not say: then no one can tell what the policy's last change left
// pending.
func lastModified(parts []Part) time.Time {
	var newest time.Time
	for _, p := range parts {
		if p.Modified.IsZero() {
			return time.Time{}
		}
		if p.Modified.After(newest) {
			newest = p.Modified
		}
	}
	return newest
}

// RootOf is the root part of the path policy at path: the parameter root
// under it.
func RootOf(path string) string { return path + policy.RootPartName }

package policystore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

var _ SSMAPI = (*ssm.Client)(nil)

// ssmFunc adapts functions to SSMAPI; a nil one fails the test.
type ssmFunc struct {
	get    func(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	byPath func(ctx context.Context, in *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
}

func (f ssmFunc) GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	if f.get == nil {
		return nil, errors.New("unexpected GetParameter")
	}
	return f.get(ctx, in, optFns...)
}

func (f ssmFunc) GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
	if f.byPath == nil {
		return nil, errors.New("unexpected GetParametersByPath")
	}
	return f.byPath(ctx, in, optFns...)
}

// fakeSSM serves values in turn (the last one again when they run out) and
// counts calls, checking each request.
func fakeSSM(t *testing.T, calls *int, values ...string) ssmFunc {
	return ssmFunc{get: func(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		assert.Equal(t, "/privatelink/policy", aws.ToString(in.Name))
		assert.True(t, aws.ToBool(in.WithDecryption), "SecureString must be decrypted")
		*calls++
		v := values[min(*calls, len(values))-1]
		return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(v), Version: int64(*calls)}}, nil
	}}
}

func TestLoadCachesAValidPolicy(t *testing.T) {
	clock := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		ttl       time.Duration
		steps     []time.Duration // clock advance before each Load
		fresh     []bool
		wantCalls int
	}{
		{"within the TTL: one read", time.Minute, []time.Duration{0, 10 * time.Second, 49 * time.Second}, []bool{false, false, false}, 1},
		{"past the TTL: read again", time.Minute, []time.Duration{0, time.Minute}, []bool{false, false}, 2},
		{"fresh always reads", time.Hour, []time.Duration{0, 0}, []bool{false, true}, 2},
		{"TTL 0 disables the cache", 0, []time.Duration{0, 0, 0}, []bool{false, false, false}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			s := New(fakeSSM(t, &calls, "111111111111"), "/privatelink/policy", tt.ttl)
			now := clock
			s.now = func() time.Time { return now }
			reads := 0
			for i, step := range tt.steps {
				now = now.Add(step)
				loaded, err := s.Load(context.Background(), tt.fresh[i])
				require.NoError(t, err)
				assert.Equal(t, "/privatelink/policy", loaded.Parameter)
				// Cached says whether this Load read SSM or served an
				// earlier read, which the stored policy may have outlived.
				assert.Equal(t, calls == reads, loaded.Cached, "load %d", i)
				reads = calls
			}
			assert.Equal(t, tt.wantCalls, calls)
		})
	}
}

func TestLoadNeverCachesAnInvalidPolicy(t *testing.T) {
	calls := 0
	s := New(fakeSSM(t, &calls, `{"version": 2}`, "111111111111"), "/privatelink/policy", time.Hour)
	_, err := s.Load(context.Background(), false)
	var perr *Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, int64(1), perr.Version)
	var verr *policy.ValidationError
	require.ErrorAs(t, err, &verr)
	assert.Contains(t, err.Error(), "policy parameter /privatelink/policy (version 1): invalid policy: version: must be 1")

	loaded, err := s.Load(context.Background(), false)
	require.NoError(t, err, "a fixed policy is read at once")
	assert.Equal(t, "2", loaded.Version)
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		out      *ssm.GetParameterOutput
		wantText string
	}{
		{"not found", &ssmtypes.ParameterNotFound{Message: aws.String("Parameter /privatelink/policy not found.")}, nil, "not found (ParameterNotFound)"},
		{"denied", errors.New("AccessDeniedException: not allowed"), nil, "read: AccessDeniedException"},
		{"no value", nil, &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{}}, "no value"},
		{"empty value", nil, &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(" "), Version: 3}}, "(version 3): invalid policy: the value is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(ssmFunc{get: func(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
				return tt.out, tt.err
			}}, "/privatelink/policy", time.Hour)
			loaded, err := s.Load(context.Background(), false)
			assert.Nil(t, loaded)
			var perr *Error
			require.ErrorAs(t, err, &perr)
			assert.Equal(t, "/privatelink/policy", perr.Parameter)
			assert.Contains(t, err.Error(), "policy parameter /privatelink/policy")
			assert.Contains(t, err.Error(), tt.wantText)
			assert.Equal(t, tt.name == "not found", errors.Is(err, ErrNotFound), "only a missing parameter is ErrNotFound")
			assert.ErrorIs(t, err, policy.ErrNoPolicy, "the approver decides nothing")
		})
	}
}

// byPath serves parameters under /p/ in pages of two, out of name order.
func byPath(t *testing.T, params map[string]string) ssmFunc {
	return byPathSecure(t, params, nil)
}

// byPathSecure is byPath where the names in secure are SecureStrings,
// listed encrypted; decrypting one answers its error, or its value when
// the error is "" (and fails the test when it is "-": never to be read).
func byPathSecure(t *testing.T, params map[string]string, secure map[string]string) ssmFunc {
	var names []string
	for n := range params {
		names = append(names, n)
	}
	slices.Sort(names)
	slices.Reverse(names)
	return ssmFunc{get: func(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		name, version, _ := strings.Cut(aws.ToString(in.Name), ":")
		assert.Equal(t, "3", version, "the version listed")
		assert.True(t, aws.ToBool(in.WithDecryption))
		why, ok := secure[name]
		require.True(t, ok, "only SecureStrings are read again: %s", name)
		assert.NotEqual(t, "-", why, "%s must not be decrypted", name)
		if why != "" {
			return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: why}
		}
		return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Name: aws.String(name), Value: aws.String(params[name]), Version: 3}}, nil
	}, byPath: func(_ context.Context, in *ssm.GetParametersByPathInput, _ ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
		assert.Equal(t, "/p", aws.ToString(in.Path))
		assert.True(t, aws.ToBool(in.Recursive))
		assert.False(t, aws.ToBool(in.WithDecryption), "listed without decryption: one part's key must not stop the path")
		start := 0
		if in.NextToken != nil {
			start, _ = strconv.Atoi(*in.NextToken)
		}
		out := &ssm.GetParametersByPathOutput{}
		for _, n := range names[start:min(start+2, len(names))] {
			prm := ssmtypes.Parameter{Name: aws.String(n), Value: aws.String(params[n]), Version: 3, Type: ssmtypes.ParameterTypeString}
			if _, ok := secure[n]; ok {
				prm.Type, prm.Value = ssmtypes.ParameterTypeSecureString, aws.String("AQICAHencrypted")
			}
			out.Parameters = append(out.Parameters, prm)
		}
		if start+2 < len(names) {
			out.NextToken = aws.String(strconv.Itoa(start + 2))
		}
		return out, nil
	}}
}

const (
	svcA = "vpce-svc-0aaaaaaaaaaaaaaaa"
	svcB = "vpce-svc-0bbbbbbbbbbbbbbbb"
)

// rootDelegating is a root part delegating to a, b and deeper/c.
var rootDelegating = `{"version": 1, "defaultAction": "manual", "delegate": [
  {"part": "a", "services": ["` + svcA + `"]},
  {"part": "b", "services": ["` + svcA + `", "` + svcB + `"]},
  {"part": "deeper/c", "services": ["` + svcB + `"], "actions": ["accept"]}],
  "rules": [{"name": "everyone", "action": "accept", "accounts": ["*"], "services": ["vpce-svc-0cccccccccccccccc"]}]}`

func TestLoadPath(t *testing.T) {
	s := New(byPath(t, map[string]string{
		"/p/root":      rootDelegating,
		"/p/a":         "111111111111",
		"/p/b":         `{"version": 1, "rules": [{"name": "blocked", "action": "reject", "accounts": ["222222222222"]}]}`,
		"/p/deeper/c":  "333333333333",
		"/p/deeper/d":  "444444444444",
		"/p/deeper/e/": "555555555555",
	}), "/p/", time.Hour)
	loaded, err := s.Load(context.Background(), false)
	require.NoError(t, err)
	assert.Equal(t, "/p/", loaded.Parameter)
	assert.Regexp(t, `^sha256:[0-9a-f]{12}$`, loaded.Version)
	var names []string
	for _, r := range loaded.Policy.Rules {
		names = append(names, r.Name)
	}
	assert.Equal(t, []string{"everyone", "a", "b/blocked", "deeper/c"}, names, "every page: the root's rules, then the delegated parts' in name order")
	assert.Equal(t, policy.Manual, loaded.Policy.DefaultAction)
	var ignored []string
	for _, issue := range loaded.Policy.Issues {
		assert.Equal(t, policy.PartIgnored, issue.Status)
		ignored = append(ignored, issue.Part)
	}
	assert.Equal(t, []string{"deeper/d", "deeper/e/"}, ignored, "parts the root does not delegate are ignored")
}

func TestLoadPathErrors(t *testing.T) {
	tests := []struct {
		name      string
		params    map[string]string
		wantParam string
		wantText  string
		notFound  bool
	}{
		{"an invalid root names itself", map[string]string{"/p/root": `{"version": 1, "defaultAction": "accept", "rules": []}`, "/p/b": "11111"},
			"/p/root", `defaultAction: "accept" is not allowed`, false},
		{"no root", map[string]string{"/p/a": "111111111111"}, "/p/root", "needs its root part", true},
		{"an empty path", map[string]string{}, "/p/", "no parameter under this path: store its root part /p/root with approverctl policy push", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(byPath(t, tt.params), "/p/", time.Hour).Load(context.Background(), false)
			var perr *Error
			require.ErrorAs(t, err, &perr)
			assert.Equal(t, tt.wantParam, perr.Parameter)
			assert.Contains(t, err.Error(), tt.wantText)
			assert.Equal(t, tt.notFound, errors.Is(err, ErrNotFound))
			assert.ErrorIs(t, err, policy.ErrNoPolicy)
		})
	}
}

func TestLoadPathBadPartsHoldTheirServices(t *testing.T) {
	loaded, err := New(byPath(t, map[string]string{
		"/p/root": rootDelegating,
		"/p/a":    `{"version": 1, "defaultAction": "reject", "rules": []}`, // not its to set
		"/p/b":    "11111",                                                  // invalid
		// deeper/c is missing
	}), "/p/", time.Hour).Load(context.Background(), false)
	require.NoError(t, err, "bad parts never fail the whole policy")
	require.Len(t, loaded.Policy.Issues, 3)
	for _, svc := range []string{svcA, svcB} {
		why, held := loaded.Policy.Held(svc)
		assert.True(t, held, svc)
		assert.Contains(t, why, "/p/b")
	}
	_, held := loaded.Policy.Held("vpce-svc-0cccccccccccccccc")
	assert.False(t, held, "the root's own service is decided")
}

func TestBuildReplacesOnePart(t *testing.T) {
	// What approverctl policy plan and push do: read the parts, put a new
	// text in place of one, and build the merged policy.
	parts, err := New(byPath(t, map[string]string{
		"/p/root": rootDelegating,
		"/p/a":    "111111111111",
	}), "/p/", time.Hour).ReadParts(context.Background())
	require.NoError(t, err)
	require.Len(t, parts, 2)
	parts[0].Text = []byte(`{"version": 1, "defaultAction": "reject", "rules": []}`)
	loaded, err := Build("/p/", parts)
	require.NoError(t, err)
	require.NotEmpty(t, loaded.Policy.Issues)
	assert.Equal(t, "a", loaded.Policy.Issues[0].Part)
	assert.Equal(t, policy.PartRefused, loaded.Policy.Issues[0].Status)
	assert.Contains(t, loaded.Policy.Issues[0].String(), "defaultAction: only the root part may set it")
	assert.False(t, loaded.Cached)
}

func TestBuildKnowsWhenThePolicyLastChanged(t *testing.T) {
	older, newer := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		parts []Part
		want  time.Time
	}{
		{"the newest part's change", []Part{{Name: "/p/root", Text: []byte(rootDelegating), Modified: older}, {Name: "/p/a", Text: []byte("111111111111"), Modified: newer}}, newer},
		{"unknown when any part does not say", []Part{{Name: "/p/root", Text: []byte(rootDelegating), Modified: newer}, {Name: "/p/a", Text: []byte("111111111111")}}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loaded, err := Build("/p/", tt.parts)
			require.NoError(t, err)
			assert.Equal(t, tt.want, loaded.Modified)
		})
	}
}

// TestOnePartsKeyCannotStopThePath: a team makes its part a SecureString
// under a key the function may not use. Its services are held; every
// other part still decides; a part the root ignores is never decrypted; an
// unreadable root stops everything.
func TestOnePartsKeyCannotStopThePath(t *testing.T) {
	params := map[string]string{
		"/p/root":     rootDelegating,
		"/p/a":        "111111111111",
		"/p/b":        `{"version": 1, "rules": [{"name": "blocked", "action": "reject", "accounts": ["222222222222"]}]}`,
		"/p/deeper/c": "333333333333",
		"/p/ignored":  "444444444444",
	}
	loaded, err := New(byPathSecure(t, params, map[string]string{
		"/p/root": "", "/p/b": "", // readable
		"/p/deeper/c": "the key policy does not allow the function",
		"/p/ignored":  "-", // the root ignores it: never decrypted
	}), "/p/", 0).Load(context.Background(), false)
	require.NoError(t, err)
	var refused []policy.PartIssue
	for _, issue := range loaded.Policy.Issues {
		if issue.Status == policy.PartRefused {
			refused = append(refused, issue)
		}
	}
	require.Len(t, refused, 1)
	assert.Equal(t, "deeper/c", refused[0].Part)
	assert.Contains(t, refused[0].String(), "could not be read")
	assert.Contains(t, refused[0].String(), "AccessDeniedException")
	_, held := loaded.Policy.Held(svcB)
	assert.True(t, held, "its service is held")
	_, held = loaded.Policy.Held(svcA)
	assert.False(t, held, "the others decide")
	d := loaded.Policy.Decide(policy.Request{Account: "222222222222", ServiceID: svcA}, time.Now())
	assert.Equal(t, "b/blocked", d.Rule, "a decrypted part decides")

	_, err = New(byPathSecure(t, params, map[string]string{"/p/root": "disabled key"}), "/p/", 0).Load(context.Background(), false)
	var perr *Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, "/p/root", perr.Parameter, "an unreadable root decides nothing")
	assert.ErrorIs(t, err, policy.ErrNoPolicy)
}

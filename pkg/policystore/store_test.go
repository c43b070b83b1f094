package policystore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

var _ SSMAPI = (*ssm.Client)(nil)

// ssmFunc adapts a function to SSMAPI.
type ssmFunc func(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)

func (f ssmFunc) GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return f(ctx, in, optFns...)
}

// fakeSSM serves values in turn (the last one again when they run out) and
// counts calls, checking each request.
func fakeSSM(t *testing.T, calls *int, values ...string) ssmFunc {
	return func(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
		assert.Equal(t, "/privatelink/policy", aws.ToString(in.Name))
		assert.True(t, aws.ToBool(in.WithDecryption), "SecureString must be decrypted")
		*calls++
		v := values[min(*calls, len(values))-1]
		return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(v), Version: int64(*calls)}}, nil
	}
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
			for i, step := range tt.steps {
				now = now.Add(step)
				loaded, err := s.Load(context.Background(), tt.fresh[i])
				require.NoError(t, err)
				assert.Equal(t, "/privatelink/policy", loaded.Parameter)
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
	assert.Equal(t, int64(2), loaded.Version)
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		out      *ssm.GetParameterOutput
		wantText string
	}{
		{"not found", &ssmtypes.ParameterNotFound{Message: aws.String("Parameter /privatelink/policy not found.")}, nil, "not found"},
		{"denied", errors.New("AccessDeniedException: not allowed"), nil, "read: AccessDeniedException"},
		{"no value", nil, &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{}}, "no value"},
		{"empty value", nil, &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(" "), Version: 3}}, "(version 3): invalid policy: the value is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(ssmFunc(func(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
				return tt.out, tt.err
			}), "/privatelink/policy", time.Hour)
			loaded, err := s.Load(context.Background(), false)
			assert.Nil(t, loaded)
			var perr *Error
			require.ErrorAs(t, err, &perr)
			assert.Equal(t, "/privatelink/policy", perr.Parameter)
			assert.Contains(t, err.Error(), "policy parameter /privatelink/policy")
			assert.Contains(t, err.Error(), tt.wantText)
		})
	}
}

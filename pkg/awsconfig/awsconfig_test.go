package awsconfig_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsconfig"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"Lambda's environment", map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret",
			"AWS_SESSION_TOKEN": "token"}, ""},
		{"with an endpoint", map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret",
			"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, ""},
		{"no Region, no credentials", map[string]string{"AWS_SESSION_TOKEN": "token"}, "AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := awsconfig.FromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "eu-west-1", cfg.Region)
			creds, err := cfg.Credentials.Retrieve(context.Background())
			require.NoError(t, err)
			assert.Equal(t, "AKID", creds.AccessKeyID)
			assert.Equal(t, tt.env["AWS_SESSION_TOKEN"], creds.SessionToken)
			assert.Equal(t, awsconfig.MaxAttempts, cfg.Retryer().MaxAttempts(), "the bounded retryer")
			if url := tt.env["AWS_ENDPOINT_URL"]; url != "" {
				assert.Equal(t, url, aws.ToString(cfg.BaseEndpoint))
			} else {
				assert.Nil(t, cfg.BaseEndpoint)
			}
		})
	}
}

// fakeSTS answers AssumeRole with credentials expiring after expiresIn, or
// with an AccessDenied error.
func fakeSTS(t *testing.T, expiresIn time.Duration, deny bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		require.NoError(t, r.ParseForm())
		assert.Equal(t, "AssumeRole", r.Form.Get("Action"))
		assert.Equal(t, "arn:aws:iam::111122223333:role/org-reader", r.Form.Get("RoleArn"))
		assert.Equal(t, awsconfig.SessionName, r.Form.Get("RoleSessionName"))
		assert.Equal(t, "3600", r.Form.Get("DurationSeconds"), "one-hour sessions")
		w.Header().Set("Content-Type", "text/xml")
		if deny {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed</Message></Error><RequestId>1</RequestId></ErrorResponse>`)
			return
		}
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>secret</SecretAccessKey><SessionToken>token</SessionToken><Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/org-reader/privatelink-approver</Arn><AssumedRoleId>AROA:privatelink-approver</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			time.Now().Add(expiresIn).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestAssumeRole(t *testing.T) {
	const role = "arn:aws:iam::111122223333:role/org-reader"
	tests := []struct {
		name      string
		expiresIn time.Duration
		wantCalls int32
	}{
		{"credentials are kept until shortly before they expire", time.Hour, 1},
		{"credentials within the expiry window are replaced", awsconfig.RoleExpiryWindow / 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := fakeSTS(t, tt.expiresIn, false)
			base := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), Retryer: awsconfig.NewRetryer,
				Credentials: credentials.NewStaticCredentialsProvider("AKIAOWN", "own", "")}
			cfg := awsconfig.AssumeRole(base, role)
			for range 3 {
				c, err := cfg.Credentials.Retrieve(context.Background())
				require.NoError(t, err)
				assert.Equal(t, "ASIAROLE", c.AccessKeyID)
			}
			assert.Equal(t, tt.wantCalls, calls.Load())
			own, err := base.Credentials.Retrieve(context.Background())
			require.NoError(t, err)
			assert.Equal(t, "AKIAOWN", own.AccessKeyID, "the function's own configuration is unchanged")
		})
	}
}

func TestAssumeRoleFailureNamesTheRoleAndCode(t *testing.T) {
	const role = "arn:aws:iam::111122223333:role/org-reader"
	srv, _ := fakeSTS(t, time.Hour, true)
	cfg := awsconfig.AssumeRole(aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), Retryer: awsconfig.NewRetryer,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAOWN", "own", "")}, role)
	_, err := cfg.Credentials.Retrieve(context.Background())
	require.ErrorContains(t, err, "assume role "+role)
	var api smithy.APIError
	require.ErrorAs(t, err, &api)
	assert.Equal(t, "AccessDenied", api.ErrorCode())
}

// hostRecorder is an HTTP client that records the host it is sent to and
// answers nothing.
type hostRecorder struct{ host string }

func (h *hostRecorder) Do(r *http.Request) (*http.Response, error) {
	h.host = r.URL.Host
	return nil, fmt.Errorf("not sent")
}

func TestFromEnvHonoursFIPSAndDualStack(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantHost string
		wantErr  string
	}{
		{"neither", nil, "sts.us-east-1.amazonaws.com", ""},
		{"FIPS", map[string]string{"AWS_USE_FIPS_ENDPOINT": "true"}, "sts-fips.us-east-1.amazonaws.com", ""},
		{"dual-stack", map[string]string{"AWS_USE_DUALSTACK_ENDPOINT": "TRUE"}, "sts.us-east-1.api.aws", ""},
		{"both", map[string]string{"AWS_USE_FIPS_ENDPOINT": "true", "AWS_USE_DUALSTACK_ENDPOINT": "true"}, "sts-fips.us-east-1.api.aws", ""},
		{"off", map[string]string{"AWS_USE_FIPS_ENDPOINT": "false", "AWS_USE_DUALSTACK_ENDPOINT": "false"}, "sts.us-east-1.amazonaws.com", ""},
		{"not a boolean", map[string]string{"AWS_USE_FIPS_ENDPOINT": "yes", "AWS_USE_DUALSTACK_ENDPOINT": "1"}, "",
			`AWS_USE_FIPS_ENDPOINT is "yes": want true or false` + "\n" + `AWS_USE_DUALSTACK_ENDPOINT is "1": want true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"}
			maps.Copy(env, tt.env)
			cfg, err := awsconfig.FromEnv(func(k string) string { return env[k] })
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			rec := &hostRecorder{}
			cfg.HTTPClient = rec
			cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
			_, err = sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			require.Error(t, err)
			assert.Equal(t, tt.wantHost, rec.host)
		})
	}
}

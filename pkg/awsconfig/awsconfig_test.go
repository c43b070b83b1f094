package awsconfig_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
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

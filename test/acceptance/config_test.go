package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// complete is an environment with every variable a run against AWS needs.
func complete() map[string]string {
	return map[string]string{
		EnvProviderProfile: "provider",
		EnvConsumerProfile: "consumer",
		EnvStackName:       "approver-acceptance",
		EnvPolicyParameter: "/approver-acceptance/policy",
		EnvServiceTag:      "privatelink-approver-test-stack=acceptance",
	}
}

func TestNotConfigured(t *testing.T) {
	// An approverctl that exists, so that only the environment is at fault.
	ctl := filepath.Join(t.TempDir(), "approverctl")
	require.NoError(t, os.WriteFile(ctl, []byte("#!/bin/sh\nexit 1\n"), 0o755))

	tests := []struct {
		name string
		env  map[string]string
		// want are in the message, wantNot are not.
		want, wantNot []string
	}{
		{
			name: "nothing set names every variable",
			env:  map[string]string{},
			want: []string{EnvProviderProfile, EnvConsumerProfile, EnvStackName, EnvPolicyParameter, EnvServiceTag,
				"dedicated", "Nothing was called in AWS"},
		},
		{
			name:    "one missing names only it",
			env:     without(complete(), EnvServiceTag),
			want:    []string{EnvServiceTag, "dedicated test stack, which manages only the endpoint services that carry it", "reach no service but the one the test creates"},
			wantNot: []string{EnvProviderProfile, EnvConsumerProfile, EnvStackName, EnvPolicyParameter},
		},
		{
			name:    "blank counts as missing",
			env:     with(complete(), EnvConsumerProfile, "  "),
			want:    []string{EnvConsumerProfile},
			wantNot: []string{EnvProviderProfile},
		},
		{
			name: "two missing name both",
			env:  without(without(complete(), EnvProviderProfile), EnvStackName),
			want: []string{EnvProviderProfile, EnvStackName},
		},
		{
			name: "a tag key alone is refused",
			env:  with(complete(), EnvServiceTag, "privatelink-approver-test-stack"),
			want: []string{EnvServiceTag, "give key=value"},
		},
		{
			name: "an invalid tag is refused",
			env:  with(complete(), EnvServiceTag, "aws:cloudformation=x"),
			want: []string{EnvServiceTag, "AWS's own"},
		},
		{
			name: "a path parameter is refused",
			env:  with(complete(), EnvPolicyParameter, "/approver-acceptance/"),
			want: []string{EnvPolicyParameter, "is a path"},
		},
		{
			name: "missing and invalid are reported together",
			env:  with(without(complete(), EnvStackName), EnvServiceTag, "key-only"),
			want: []string{EnvStackName, EnvServiceTag, "give key=value"},
		},
		{
			name: "static credentials would override both profiles",
			env:  with(complete(), "AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
			want: []string{"AWS_ACCESS_KEY_ID is set", "same credentials"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := run([]string{"-approverctl", ctl}, func(k string) string { return tt.env[k] }, &stdout, &stderr)
			assert.Less(t, time.Since(start), 5*time.Second, "must fail fast, without calling AWS")
			assert.Equal(t, exitNotConfigured, code)
			assert.Empty(t, stdout.String(), "nothing ran")
			for _, w := range tt.want {
				assert.Contains(t, stderr.String(), w)
			}
			for _, w := range tt.wantNot {
				assert.NotContains(t, stderr.String(), w)
			}
		})
	}
}

func TestMissingApproverctlIsReportedWithTheVariables(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-approverctl", filepath.Join(t.TempDir(), "none")}, func(string) string { return "" }, &stdout, &stderr)
	assert.Equal(t, exitNotConfigured, code)
	assert.Contains(t, stderr.String(), EnvProviderProfile)
	assert.Contains(t, stderr.String(), "-approverctl")
}

func TestSettingsFromACompleteEnvironment(t *testing.T) {
	s, err := awsSettingsFromEnv(func(k string) string { return with(complete(), EnvRegion, "eu-west-1")[k] })
	require.NoError(t, err)
	assert.Equal(t, "provider", s.ProviderProfile)
	assert.Equal(t, "consumer", s.ConsumerProfile)
	assert.Equal(t, "approver-acceptance", s.StackName)
	assert.Equal(t, "/approver-acceptance/policy", s.PolicyParameter)
	assert.Equal(t, "privatelink-approver-test-stack", s.ServiceTag.Key)
	assert.Equal(t, "acceptance", s.ServiceTag.Value)
	assert.Equal(t, "eu-west-1", s.Region)
}

func TestParseDecisionLine(t *testing.T) {
	line := `{"timestamp":"2026-12-01T09:01:28.036672698Z","level":"INFO","msg":"decision","endpointId":"vpce-5bf44c51f9187bf76","action":"reject","rule":"default","result":"held","policyVersion":"4","trigger":"policy-change"}`
	for name, text := range map[string]string{
		"as the function writes it":  line,
		"wrapped by Lambda as text":  `{"timestamp":"2026-12-01T09:01:28Z","level":"INFO","requestId":"r1","message":` + quote(line) + `}`,
		"with a trailing line break": line + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			d, ok := parseDecisionLine(text)
			require.True(t, ok)
			assert.Equal(t, "vpce-5bf44c51f9187bf76", d.EndpointID)
			assert.Equal(t, "held", d.Result)
			assert.Equal(t, "4", d.PolicyVersion)
		})
	}
	for _, text := range []string{`{"msg":"summary"}`, "START RequestId: r1", ""} {
		_, ok := parseDecisionLine(text)
		assert.False(t, ok, text)
	}
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func with(env map[string]string, k, v string) map[string]string {
	env[k] = v
	return env
}

func without(env map[string]string, k string) map[string]string {
	delete(env, k)
	return env
}

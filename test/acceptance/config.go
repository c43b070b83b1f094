package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
)

// Environment variables of a run against real AWS accounts. Each names what
// the test cannot guess and must not get wrong: which accounts, and which
// stack, parameter and tag it may take over for a few minutes.
const (
	EnvProviderProfile = "ACCEPTANCE_PROVIDER_PROFILE"
	EnvConsumerProfile = "ACCEPTANCE_CONSUMER_PROFILE"
	EnvStackName       = "ACCEPTANCE_STACK_NAME"
	EnvPolicyParameter = "ACCEPTANCE_POLICY_PARAMETER"
	EnvServiceTag      = "ACCEPTANCE_SERVICE_TAG"
	// EnvApproverctl names the approverctl binary (default bin/approverctl),
	// in both modes, as for the end-to-end tests.
	EnvApproverctl = "APPROVERCTL"
	// EnvRegion is the SDK's: the Region of the stack, else the provider
	// profile's.
	EnvRegion = "AWS_REGION"
)

// required lists the variables a run against AWS needs, in the order the
// message names them, with what to set each to.
var required = []struct{ name, what string }{
	{EnvProviderProfile, "the AWS profile of the provider account, where the test stack is deployed"},
	{EnvConsumerProfile, "the AWS profile of a consumer account (it may be the provider's)"},
	{EnvStackName, "the name of the deployed test stack (its parameters are checked against the two below)"},
	{EnvPolicyParameter, "the stack's PolicyParameterName, one parameter (not a path): the test overwrites it and restores it at the end"},
	{EnvServiceTag, "the stack's ServiceTag, key=value: the test needs a dedicated test stack, which manages only the endpoint services that carry it (ServiceIds empty), " +
		"so that the test's policies, which reject by default and revoke, reach no service but the one the test creates"},
}

// awsSettings is the configuration of a run against AWS, read once.
type awsSettings struct {
	ProviderProfile, ConsumerProfile string
	StackName                        string
	PolicyParameter                  string
	ServiceTag                       awsid.TagFilter
	// Region is AWS_REGION; empty means the provider profile's.
	Region string
}

// errNotConfigured is a run that cannot start: a variable or flag is
// missing or wrong. No AWS call was made.
var errNotConfigured = errors.New("not configured")

// awsSettingsFromEnv reads the settings through getenv. Every problem is
// reported at once, each naming its variable; the error wraps
// errNotConfigured.
func awsSettingsFromEnv(getenv func(string) string) (awsSettings, error) {
	var missing, problems []string
	value := func(name string) string { return strings.TrimSpace(getenv(name)) }
	for _, r := range required {
		if value(r.name) == "" {
			missing = append(missing, fmt.Sprintf("  %s: %s", r.name, r.what))
		}
	}
	s := awsSettings{
		ProviderProfile: value(EnvProviderProfile),
		ConsumerProfile: value(EnvConsumerProfile),
		StackName:       value(EnvStackName),
		PolicyParameter: value(EnvPolicyParameter),
		Region:          value(EnvRegion),
	}
	if p := s.PolicyParameter; p != "" {
		switch {
		case !awsid.IsParameterName(p):
			problems = append(problems, fmt.Sprintf("  %s %q is not an SSM parameter name", EnvPolicyParameter, p))
		case awsid.IsParameterPath(p):
			problems = append(problems, fmt.Sprintf("  %s %q is a path: deploy the test stack with one parameter (a path may hold parts the test would not restore)", EnvPolicyParameter, p))
		}
	}
	if v := value(EnvServiceTag); v != "" {
		tag, err := awsid.ParseTagFilter(v)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("  %s %v", EnvServiceTag, err))
		case tag.AnyValue:
			problems = append(problems, fmt.Sprintf("  %s %q: give key=value; a key alone would make the stack manage every service with that key, whatever its value", EnvServiceTag, v))
		default:
			s.ServiceTag = tag
		}
	}
	for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		if value(name) != "" {
			problems = append(problems, fmt.Sprintf("  %s is set: the SDK prefers it to any profile, so both accounts would be the same credentials; unset it and use the two profiles", name))
		}
	}
	if len(missing) == 0 && len(problems) == 0 {
		return s, nil
	}
	var b strings.Builder
	if len(missing) > 0 {
		b.WriteString("set these environment variables:\n" + strings.Join(missing, "\n"))
	}
	if len(problems) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString("fix these:\n" + strings.Join(problems, "\n"))
	}
	b.WriteString("\nThe Region is " + EnvRegion + ", else the provider profile's. Nothing was called in AWS.")
	return s, fmt.Errorf("%w: %s", errNotConfigured, b.String())
}

// executable checks that path names a file that can be run.
func executable(flag, path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("%s %s: %w", flag, path, err)
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s %s: not an executable file", flag, path)
	}
	return nil
}

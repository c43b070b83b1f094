package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/smithy-go"

	"github.com/privatelink-approver/privatelink-approver/pkg/awserr"
)

// credentialRemedy is what to set when the credentials are missing or
// refused: one line, as the message ends.
const credentialRemedy = "set AWS_PROFILE (or --profile) to a profile with credentials, " +
	"or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or run `aws sso login`"

// credentialsError is the SDK finding no usable credentials before any
// call (aws.Config's credentials could not be retrieved).
type credentialsError struct {
	profile string
	// noRegion is set when no Region was configured either.
	noRegion bool
	err      error
}

func (e *credentialsError) Error() string {
	which := "no AWS credentials were found (environment, shared files, SSO, container or instance role)"
	var sso *ssocreds.InvalidTokenError
	switch {
	case errors.As(e.err, &sso) && e.profile != "":
		return fmt.Sprintf("the SSO session of profile %q has expired or is invalid: run `aws sso login --profile %s`", e.profile, e.profile) + e.regionText()
	case errors.As(e.err, &sso):
		return "the SSO session has expired or is invalid: run `aws sso login` (with --profile or AWS_PROFILE)" + e.regionText()
	case e.profile != "":
		which = fmt.Sprintf("profile %q gave no usable AWS credentials", e.profile)
	}
	return fmt.Sprintf("%s: %s%s (the SDK said: %v)", which, credentialRemedy, e.regionText(), e.err)
}

func (e *credentialsError) regionText() string {
	if e.noRegion {
		return "; and no AWS Region: give --region, or set AWS_REGION"
	}
	return ""
}

func (e *credentialsError) Unwrap() error { return e.err }

// explain is err in one line; when AWS refused the credentials (expired,
// unknown), it says whose they were and what to set.
func (a *app) explain(err error) string {
	var api smithy.APIError
	if !awserr.IsCredentialRefusal(err) || !errors.As(err, &api) {
		return err.Error()
	}
	which := "the AWS credentials"
	if a.connected != nil && a.connected.credentials != "" {
		which = "the AWS credentials from " + credentialSource(a.connected.credentials, a.g.profile)
	}
	what := "are not valid (unknown, deleted or of another partition)"
	if awserr.IsExpiredCredentials(err) {
		what = "have expired"
	}
	return fmt.Sprintf("%s %s (AWS answered %s: %s): %s", which, what, api.ErrorCode(), api.ErrorMessage(), credentialRemedy)
}

// credentialSource names where credentials came from, from their
// aws.Credentials.Source, in the words of the settings that chose them.
func credentialSource(source, profile string) string {
	inProfile := ""
	if profile != "" {
		inProfile = fmt.Sprintf(" of profile %q", profile)
	}
	switch {
	case source == "EnvConfigCredentials":
		return "the environment (AWS_ACCESS_KEY_ID)"
	case strings.HasPrefix(source, "SharedConfigCredentials"):
		return "the shared credentials file" + inProfile
	case source == ssocreds.ProviderName:
		return "the SSO session" + inProfile
	case source == "EC2RoleProvider":
		return "the instance role"
	}
	return source + inProfile
}

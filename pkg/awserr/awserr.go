package awserr

import (
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Code is err's AWS error code, or "" for an error that is not an AWS API
// error (a network failure, a cancelled context).
func Code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// IsNotFound reports whether AWS said the resource does not exist: EC2's
// InvalidXxx.NotFound codes (InvalidVpcEndpointServiceId.NotFound,
// InvalidVpcEndpointId.NotFound, ...) and SSM's ParameterNotFound.
func IsNotFound(err error) bool {
	code := Code(err)
	return strings.HasSuffix(code, ".NotFound") || code == "ParameterNotFound"
}

// IsThrottle reports whether err is AWS throttling the caller, by the codes
// the SDK's retryer treats as throttling.
func IsThrottle(err error) bool {
	_, ok := retry.DefaultThrottleErrorCodes[Code(err)]
	return ok
}

// IsAccessDenied reports whether AWS refused the caller's permissions
// (AccessDenied, AccessDeniedException, UnauthorizedOperation).
func IsAccessDenied(err error) bool {
	code := Code(err)
	return strings.Contains(code, "AccessDenied") || code == "UnauthorizedOperation"
}

// IsRefusal reports whether AWS refused the request for good: a client error
// (4xx) that retrying will not cure (the resource, its state or the caller's
// permissions do not allow it), rather than throttling, a server error, or a
// resource that is gone.
func IsRefusal(err error) bool {
	var resp *awshttp.ResponseError
	if !errors.As(err, &resp) {
		return false
	}
	status := resp.HTTPStatusCode()
	return status >= 400 && status < 500 && !IsThrottle(err) && !IsNotFound(err)
}

// credentialCodes are the codes with which AWS refuses the caller's
// credentials themselves (expired, unknown, malformed or signed with the
// wrong secret), as opposed to their permissions: EC2's AuthFailure, STS's
// ExpiredToken and InvalidClientTokenId, the JSON protocols'
// ExpiredTokenException and UnrecognizedClientException.
var credentialCodes = map[string]bool{
	"ExpiredToken":                true,
	"ExpiredTokenException":       true,
	"InvalidClientTokenId":        true,
	"UnrecognizedClientException": true,
	"AuthFailure":                 true,
	"SignatureDoesNotMatch":       true,
	"InvalidSignatureException":   true,
	"MissingAuthenticationToken":  true,
}

// IsCredentialRefusal reports whether AWS refused the caller's credentials:
// they have expired, or AWS does not know them (a deleted key, a session
// of another partition, a wrong secret). New credentials cure it; new
// permissions do not.
func IsCredentialRefusal(err error) bool {
	return credentialCodes[Code(err)]
}

// IsExpiredCredentials reports whether AWS refused the caller's credentials
// because they have expired (ExpiredToken, ExpiredTokenException).
func IsExpiredCredentials(err error) bool {
	code := Code(err)
	return code == "ExpiredToken" || code == "ExpiredTokenException"
}

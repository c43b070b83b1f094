package awserr_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/stretchr/testify/assert"

	"github.com/privatelink-approver/privatelink-approver/pkg/awserr"
)

// apiErr is err as the SDK returns it: an API error with the HTTP answer.
func apiErr(status int, code string) error {
	return fmt.Errorf("operation failed: %w", &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: "m"},
		},
	})
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name                                     string
		err                                      error
		code                                     string
		notFound, throttle, accessDenied, refuse bool
	}{
		{"a service that is not the account's", apiErr(400, "InvalidVpcEndpointServiceId.NotFound"), "InvalidVpcEndpointServiceId.NotFound", true, false, false, false},
		{"an endpoint gone", apiErr(400, "InvalidVpcEndpointId.NotFound"), "InvalidVpcEndpointId.NotFound", true, false, false, false},
		{"a missing parameter", apiErr(400, "ParameterNotFound"), "ParameterNotFound", true, false, false, false},
		{"EC2 throttling", apiErr(503, "RequestLimitExceeded"), "RequestLimitExceeded", false, true, false, false},
		{"throttling answered 400", apiErr(400, "Throttling"), "Throttling", false, true, false, false},
		{"EC2 permissions", apiErr(403, "UnauthorizedOperation"), "UnauthorizedOperation", false, false, true, true},
		{"Organizations permissions", apiErr(400, "AccessDeniedException"), "AccessDeniedException", false, false, true, true},
		{"a state that cannot be tagged", apiErr(400, "InvalidParameterValue"), "InvalidParameterValue", false, false, false, true},
		{"a server error", apiErr(500, "InternalError"), "InternalError", false, false, false, false},
		{"no API error at all", context.DeadlineExceeded, "", false, false, false, false},
		{"an API error without an HTTP answer", &smithy.GenericAPIError{Code: "InvalidParameterValue"}, "InvalidParameterValue", false, false, false, false},
		{"nil", nil, "", false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.code, awserr.Code(tt.err))
			assert.Equal(t, tt.notFound, awserr.IsNotFound(tt.err), "IsNotFound")
			assert.Equal(t, tt.throttle, awserr.IsThrottle(tt.err), "IsThrottle")
			assert.Equal(t, tt.accessDenied, awserr.IsAccessDenied(tt.err), "IsAccessDenied")
			assert.Equal(t, tt.refuse, awserr.IsRefusal(tt.err), "IsRefusal")
		})
	}
}

func TestIsCredentialRefusal(t *testing.T) {
	tests := []struct {
		name             string
		err              error
		refused, expired bool
	}{
		{"STS: an expired session", apiErr(400, "ExpiredToken"), true, true},
		{"SSM: an expired session", apiErr(400, "ExpiredTokenException"), true, true},
		{"STS: an unknown key", apiErr(403, "InvalidClientTokenId"), true, false},
		{"SSM: an unknown key", apiErr(400, "UnrecognizedClientException"), true, false},
		{"EC2: unknown credentials", apiErr(401, "AuthFailure"), true, false},
		{"a wrong secret", apiErr(403, "SignatureDoesNotMatch"), true, false},
		{"permissions are no credential problem", apiErr(403, "AccessDenied"), false, false},
		{"EC2 permissions", apiErr(403, "UnauthorizedOperation"), false, false},
		{"no API error", context.DeadlineExceeded, false, false},
		{"nil", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.refused, awserr.IsCredentialRefusal(tt.err), "IsCredentialRefusal")
			assert.Equal(t, tt.expired, awserr.IsExpiredCredentials(tt.err), "IsExpiredCredentials")
		})
	}
}

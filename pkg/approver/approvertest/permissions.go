package approvertest

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
)

// DescribeVpcEndpointServicePermissions is the EC2 API call: an owned
// service allows no principal (as a new service does), another is not
// found. FailCall["DescribePermissions"] fails it. A test that needs
// principals wraps the fake and answers this call itself.
func (f *EC2) DescribeVpcEndpointServicePermissions(_ context.Context, in *ec2.DescribeVpcEndpointServicePermissionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServicePermissionsOutput, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.Calls = append(f.Calls, "DescribePermissions")
	if err := f.FailCall["DescribePermissions"]; err != nil {
		return nil, err
	}
	if svc := aws.ToString(in.ServiceId); !slices.Contains(f.Owned, svc) {
		return nil, &smithy.GenericAPIError{Code: "InvalidVpcEndpointServiceId.NotFound", Message: svc + " does not exist"}
	}
	return &ec2.DescribeVpcEndpointServicePermissionsOutput{}, nil
}

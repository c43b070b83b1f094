package vpcendpoints

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// AnyPrincipal is the allowed principal that lets every AWS principal
// connect to an endpoint service.
const AnyPrincipal = "*"

// AllowedPrincipals lists the principals allowed to connect to svc (ARNs of
// accounts, users and roles, or AnyPrincipal), every page of
// DescribeVpcEndpointServicePermissions, sorted and each once. Any failed
// page fails the whole read: never a part.
//
// See https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVpcEndpointServicePermissions.html
func (c *Client) AllowedPrincipals(ctx context.Context, svc string) ([]string, error) {
	out := []string{}
	pages := ec2.NewDescribeVpcEndpointServicePermissionsPaginator(c.ec2, &ec2.DescribeVpcEndpointServicePermissionsInput{
		ServiceId:  aws.String(svc),
		MaxResults: aws.Int32(MaxPage),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range page.AllowedPrincipals {
			if principal := aws.ToString(p.Principal); principal != "" {
				out = append(out, principal)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

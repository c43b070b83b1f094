package vpcendpoints_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

// permissionsFunc fakes DescribeVpcEndpointServicePermissions alone.
type permissionsFunc struct {
	*approvertest.EC2
	describe func(*ec2.DescribeVpcEndpointServicePermissionsInput) (*ec2.DescribeVpcEndpointServicePermissionsOutput, error)
}

func (f permissionsFunc) DescribeVpcEndpointServicePermissions(_ context.Context, in *ec2.DescribeVpcEndpointServicePermissionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServicePermissionsOutput, error) {
	return f.describe(in)
}

func principals(p ...string) []types.AllowedPrincipal {
	out := make([]types.AllowedPrincipal, len(p))
	for i, s := range p {
		out[i] = types.AllowedPrincipal{Principal: aws.String(s), ServiceId: aws.String(svc)}
	}
	return out
}

func TestAllowedPrincipals(t *testing.T) {
	const alice, partner = "arn:aws:iam::111111111111:user/alice", "arn:aws:iam::222222222222:root"
	tests := []struct {
		name      string
		pages     [][]types.AllowedPrincipal
		failPage  int // fails this page (from 1); 0 never
		want      []string
		wantErr   string
		wantCalls int
	}{
		{"none allowed", [][]types.AllowedPrincipal{nil}, 0, []string{}, "", 1},
		{"every page, sorted, each once", [][]types.AllowedPrincipal{principals(partner, vpcendpoints.AnyPrincipal), {}, principals(alice, partner)}, 0,
			[]string{vpcendpoints.AnyPrincipal, alice, partner}, "", 3},
		{"a failed later page fails the read", [][]types.AllowedPrincipal{principals(partner), principals(alice)}, 2, nil, "Throttling", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			c := vpcendpoints.New(permissionsFunc{EC2: approvertest.NewEC2(svc), describe: func(in *ec2.DescribeVpcEndpointServicePermissionsInput) (*ec2.DescribeVpcEndpointServicePermissionsOutput, error) {
				calls++
				assert.Equal(t, svc, aws.ToString(in.ServiceId))
				assert.Equal(t, int32(vpcendpoints.MaxPage), aws.ToInt32(in.MaxResults))
				if calls > 1 {
					assert.Equal(t, fmt.Sprint("page", calls-1), aws.ToString(in.NextToken), "the next page asked for")
				}
				if calls == tt.failPage {
					return nil, &smithy.GenericAPIError{Code: "Throttling", Message: "slow down"}
				}
				out := &ec2.DescribeVpcEndpointServicePermissionsOutput{AllowedPrincipals: tt.pages[calls-1]}
				if calls < len(tt.pages) {
					out.NextToken = aws.String(fmt.Sprint("page", calls))
				}
				return out, nil
			}})
			got, err := c.AllowedPrincipals(context.Background(), svc)
			assert.Equal(t, tt.wantCalls, calls)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Nil(t, got, "never a part")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestAllowedPrincipalsOfTheFake(t *testing.T) {
	c := vpcendpoints.New(approvertest.NewEC2(svc))
	got, err := c.AllowedPrincipals(context.Background(), svc)
	require.NoError(t, err)
	assert.Empty(t, got, "a new service allows no one")
	_, err = c.AllowedPrincipals(context.Background(), "vpce-svc-0ffffffffffffffff")
	require.Error(t, err, "a service of another account is not found")
}

// TestAllowedPrincipalsOverHTTP points a real EC2 client at a server that
// answers as EC2 does (the query protocol's XML), so that the request the
// SDK serializes and the answer it parses are the real ones.
func TestAllowedPrincipalsOverHTTP(t *testing.T) {
	var forms []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		forms = append(forms, r.PostForm)
		w.Header().Set("Content-Type", "text/xml")
		next := ""
		items := `<item><principal>*</principal><principalType>All</principalType></item>`
		if r.PostForm.Get("NextToken") == "" {
			next = `<nextToken>t2</nextToken>`
			items = `<item><principal>arn:aws:iam::222222222222:root</principal><principalType>Account</principalType></item>`
		}
		fmt.Fprintf(w, `<DescribeVpcEndpointServicePermissionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r1</requestId><allowedPrincipals>%s</allowedPrincipals>%s
</DescribeVpcEndpointServicePermissionsResponse>`, items, next)
	}))
	defer srv.Close()
	client := ec2.NewFromConfig(aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})

	got, err := vpcendpoints.New(client).AllowedPrincipals(context.Background(), svc)
	require.NoError(t, err)
	assert.Equal(t, []string{vpcendpoints.AnyPrincipal, "arn:aws:iam::222222222222:root"}, got)
	require.Len(t, forms, 2, "every page")
	for i, f := range forms {
		assert.Equal(t, "DescribeVpcEndpointServicePermissions", f.Get("Action"))
		assert.Equal(t, svc, f.Get("ServiceId"))
		assert.Equal(t, "1000", f.Get("MaxResults"))
		assert.Equal(t, map[int]string{0: "", 1: "t2"}[i], f.Get("NextToken"))
	}
}

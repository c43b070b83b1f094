package localaws

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// A fleet: provider accounts other than ProviderAccount, each with its own
// services and policy, read through a role assumed in each.

// CreateServiceIn creates, as provider account, an endpoint service in
// region that requires acceptance, as CreateService does for
// ProviderAccount.
func (m *Moto) CreateServiceIn(ctx context.Context, account, region string) (Service, error) {
	cfg := m.Config(account, region)
	subnet, err := createSubnet(ctx, ec2.NewFromConfig(cfg), "10.0.0.0/16", "10.0.1.0/24")
	if err != nil {
		return Service{}, fmt.Errorf("provider %s network: %w", account, err)
	}
	lb, err := elb.NewFromConfig(cfg).CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		Name:    aws.String(fmt.Sprintf("nlb-%s", strings.TrimPrefix(subnet, "subnet-"))),
		Type:    elbtypes.LoadBalancerTypeEnumNetwork,
		Scheme:  elbtypes.LoadBalancerSchemeEnumInternal,
		Subnets: []string{subnet},
	})
	if err != nil {
		return Service{}, fmt.Errorf("provider %s: create load balancer: %w", account, err)
	}
	out, err := ec2.NewFromConfig(cfg).CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{
		AcceptanceRequired:      aws.Bool(true),
		NetworkLoadBalancerArns: []string{aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)},
	})
	if err != nil {
		return Service{}, fmt.Errorf("provider %s: create endpoint service: %w", account, err)
	}
	return Service{ID: aws.ToString(out.ServiceConfiguration.ServiceId), Name: aws.ToString(out.ServiceConfiguration.ServiceName), Region: region}, nil
}

// PutPolicyIn stores value in account's String parameter name in region,
// overwriting it, as PutPolicy does for ProviderAccount.
func (m *Moto) PutPolicyIn(ctx context.Context, account, region, name, value string) error {
	_, err := ssm.NewFromConfig(m.Config(account, region)).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("put policy %s in %s %s: %w", name, account, region, err)
	}
	return nil
}

// StatesIn returns the state of every connection to svc of provider
// account, by endpoint ID.
func (m *Moto) StatesIn(ctx context.Context, account string, svc Service) (map[string]string, error) {
	states := map[string]string{}
	pages := ec2.NewDescribeVpcEndpointConnectionsPaginator(ec2.NewFromConfig(m.Config(account, svc.Region)),
		&ec2.DescribeVpcEndpointConnectionsInput{Filters: []ec2types.Filter{{Name: aws.String("service-id"), Values: []string{svc.ID}}}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe connections of %s in %s: %w", svc.ID, account, err)
		}
		for _, c := range page.VpcEndpointConnections {
			states[aws.ToString(c.VpcEndpointId)] = string(c.VpcEndpointState)
		}
	}
	return states, nil
}

// RoleRefuser is a proxy in front of moto that refuses STS AssumeRole of
// every role of some accounts, as AWS does for a role that does not exist
// or does not trust the caller: moto lets anyone assume any role, existing
// or not. Everything else goes to moto.
type RoleRefuser struct {
	// URL is the endpoint to give the SDK (AWS_ENDPOINT_URL) in moto's
	// place.
	URL    string
	server *httptest.Server
}

// RefuseRoles starts a RoleRefuser for the roles of accounts.
func (m *Moto) RefuseRoles(accounts ...string) (*RoleRefuser, error) {
	target, err := url.Parse(m.URL)
	if err != nil {
		return nil, err
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		// STS speaks the query protocol: a form in the body.
		form, _ := url.ParseQuery(string(body))
		if role := form.Get("RoleArn"); form.Get("Action") == "AssumeRole" && role != "" {
			if a, err := arn.Parse(role); err == nil && slices.Contains(accounts, a.AccountID) {
				w.Header().Set("Content-Type", "text/xml")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code>`+
					`<Message>User: arn:aws:iam::%s:user/moto is not authorized to perform: sts:AssumeRole on resource: %s</Message></Error>`+
					`<RequestId>role-refuser</RequestId></ErrorResponse>`, ProviderAccount, role)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	return &RoleRefuser{URL: server.URL, server: server}, nil
}

// Stop ends the proxy.
func (p *RoleRefuser) Stop() { p.server.Close() }

package localaws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Test hooks of the moto extension, set as tags on a consumer's endpoint.
const (
	// TagUnsuccessful makes Accept/Reject report the tag's value as the
	// endpoint's error code in Unsuccessful, changing nothing.
	TagUnsuccessful = "privatelink-test:unsuccessful"
	// TagDecidedByPerson ("accept" or "reject") makes a person decide the
	// request just before the approver's call.
	TagDecidedByPerson = "privatelink-test:decided-by-person"
	// TagDeletedByConsumer ("true") makes the consumer delete the endpoint
	// just before the approver's call.
	TagDeletedByConsumer = "privatelink-test:deleted-by-consumer"
	// TagHideRegion ("true") leaves the connection's VpcEndpointRegion out
	// of DescribeVpcEndpointConnections; ShowRegion removes it.
	TagHideRegion = "privatelink-test:hide-region"
)

// Service is an endpoint service of the provider.
type Service struct {
	ID     string
	Name   string
	Region string
}

// CreateService creates, as the provider, an endpoint service in region
// that requires acceptance, with the VPC, subnet and Network Load Balancer
// it needs.
func (m *Moto) CreateService(ctx context.Context, region string) (Service, error) {
	svcs, err := m.CreateServices(ctx, region, 1)
	if err != nil {
		return Service{}, err
	}
	return svcs[0], nil
}

// CreateServices creates n endpoint services like CreateService, all in
// front of one Network Load Balancer (the local AWS does not mind), as a
// fleet for tests at scale.
func (m *Moto) CreateServices(ctx context.Context, region string, n int) ([]Service, error) {
	return m.CreateServicesWith(ctx, region, n, ServiceOptions{})
}

// ServiceOptions are how a service differs from the usual one.
type ServiceOptions struct {
	// Open services do not require acceptance: connections are accepted at
	// once.
	Open bool
	// Tags are the service's tags.
	Tags map[string]string
	// SupportedRegions are the other Regions whose endpoints may connect
	// (cross-Region PrivateLink).
	SupportedRegions []string
}

// CreateServicesWith is CreateServices with opts.
func (m *Moto) CreateServicesWith(ctx context.Context, region string, n int, opts ServiceOptions) ([]Service, error) {
	cfg := m.Config(ProviderAccount, region)
	subnet, err := createSubnet(ctx, ec2.NewFromConfig(cfg), "10.0.0.0/16", "10.0.1.0/24")
	if err != nil {
		return nil, fmt.Errorf("provider network: %w", err)
	}
	lb, err := elb.NewFromConfig(cfg).CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
		Name:    aws.String(fmt.Sprintf("nlb-%s", strings.TrimPrefix(subnet, "subnet-"))),
		Type:    elbtypes.LoadBalancerTypeEnumNetwork,
		Scheme:  elbtypes.LoadBalancerSchemeEnumInternal,
		Subnets: []string{subnet},
	})
	if err != nil {
		return nil, fmt.Errorf("create load balancer: %w", err)
	}
	svcs := make([]Service, 0, n)
	for range n {
		in := &ec2.CreateVpcEndpointServiceConfigurationInput{
			AcceptanceRequired:      aws.Bool(!opts.Open),
			NetworkLoadBalancerArns: []string{aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)},
			SupportedRegions:        opts.SupportedRegions,
		}
		if len(opts.Tags) > 0 {
			spec := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeVpcEndpointService}
			for _, k := range slices.Sorted(maps.Keys(opts.Tags)) {
				spec.Tags = append(spec.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(opts.Tags[k])})
			}
			in.TagSpecifications = []ec2types.TagSpecification{spec}
		}
		out, err := ec2.NewFromConfig(cfg).CreateVpcEndpointServiceConfiguration(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("create endpoint service: %w", err)
		}
		svcs = append(svcs, Service{ID: aws.ToString(out.ServiceConfiguration.ServiceId), Name: aws.ToString(out.ServiceConfiguration.ServiceName), Region: region})
	}
	return svcs, nil
}

func createSubnet(ctx context.Context, client *ec2.Client, vpcCIDR, subnetCIDR string) (string, error) {
	vpc, err := client.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(vpcCIDR)})
	if err != nil {
		return "", fmt.Errorf("create VPC: %w", err)
	}
	subnet, err := client.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(subnetCIDR)})
	if err != nil {
		return "", fmt.Errorf("create subnet: %w", err)
	}
	return aws.ToString(subnet.Subnet.SubnetId), nil
}

// Endpoint is a consumer's request to connect.
type Endpoint struct {
	// Account and Region are the consumer's.
	Account, Region string
	// Tags are set on the endpoint (see the Tag constants).
	Tags map[string]string
}

// CreateEndpoint creates, as the consumer, an interface endpoint to svc and
// returns its ID. It starts pendingAcceptance.
func (m *Moto) CreateEndpoint(ctx context.Context, svc Service, e Endpoint) (string, error) {
	ids, err := m.CreateEndpoints(ctx, svc, e, 1)
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// CreateEndpoints creates n endpoints like CreateEndpoint, in one VPC of
// the consumer's (as a partner rolling out to many workloads would).
func (m *Moto) CreateEndpoints(ctx context.Context, svc Service, e Endpoint, n int) ([]string, error) {
	region := e.Region
	if region == "" {
		region = svc.Region
	}
	client := ec2.NewFromConfig(m.Config(e.Account, region))
	subnet, err := createSubnet(ctx, client, "10.1.0.0/16", "10.1.1.0/24")
	if err != nil {
		return nil, fmt.Errorf("consumer %s network: %w", e.Account, err)
	}
	sub, err := client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{subnet}})
	if err != nil {
		return nil, err
	}
	in := &ec2.CreateVpcEndpointInput{
		VpcId:           sub.Subnets[0].VpcId,
		ServiceName:     aws.String(svc.Name),
		VpcEndpointType: ec2types.VpcEndpointTypeInterface,
		SubnetIds:       []string{subnet},
	}
	if len(e.Tags) > 0 {
		spec := ec2types.TagSpecification{ResourceType: ec2types.ResourceTypeVpcEndpoint}
		for _, k := range slices.Sorted(maps.Keys(e.Tags)) {
			spec.Tags = append(spec.Tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(e.Tags[k])})
		}
		in.TagSpecifications = []ec2types.TagSpecification{spec}
	}
	ids := make([]string, 0, n)
	for range n {
		out, err := client.CreateVpcEndpoint(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("consumer %s: create endpoint: %w", e.Account, err)
		}
		ids = append(ids, aws.ToString(out.VpcEndpoint.VpcEndpointId))
	}
	return ids, nil
}

// ShowRegion removes, as the consumer, TagHideRegion from its endpoint: EC2
// reports the connection's Region again.
func (m *Moto) ShowRegion(ctx context.Context, account, region, id string) error {
	_, err := ec2.NewFromConfig(m.Config(account, region)).DeleteTags(ctx, &ec2.DeleteTagsInput{
		Resources: []string{id}, Tags: []ec2types.Tag{{Key: aws.String(TagHideRegion)}}})
	if err != nil {
		return fmt.Errorf("consumer %s: untag %s: %w", account, id, err)
	}
	return nil
}

// DeleteEndpoint deletes, as the consumer, one of its endpoints.
func (m *Moto) DeleteEndpoint(ctx context.Context, account, region, id string) error {
	_, err := ec2.NewFromConfig(m.Config(account, region)).DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}})
	return err
}

// Connection is one connection to a service, as the provider sees it.
type Connection struct {
	// ID is the VpcEndpointConnectionId, which its tags are on.
	ID    string
	State string
	Tags  map[string]string
}

// Connections returns every connection to svc, by endpoint ID, as the
// provider sees them.
func (m *Moto) Connections(ctx context.Context, svc Service) (map[string]Connection, error) {
	conns := map[string]Connection{}
	pages := ec2.NewDescribeVpcEndpointConnectionsPaginator(ec2.NewFromConfig(m.Config(ProviderAccount, svc.Region)),
		&ec2.DescribeVpcEndpointConnectionsInput{
			Filters: []ec2types.Filter{{Name: aws.String("service-id"), Values: []string{svc.ID}}},
		})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe connections of %s: %w", svc.ID, err)
		}
		for _, c := range page.VpcEndpointConnections {
			tags := map[string]string{}
			for _, t := range c.Tags {
				tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
			conns[aws.ToString(c.VpcEndpointId)] = Connection{ID: aws.ToString(c.VpcEndpointConnectionId), State: string(c.VpcEndpointState), Tags: tags}
		}
	}
	return conns, nil
}

// States returns the state of every connection to svc, by endpoint ID, as
// the provider sees them.
func (m *Moto) States(ctx context.Context, svc Service) (map[string]string, error) {
	conns, err := m.Connections(ctx, svc)
	if err != nil {
		return nil, err
	}
	states := make(map[string]string, len(conns))
	for id, c := range conns {
		states[id] = c.State
	}
	return states, nil
}

// Accept accepts, as the provider, pending connections to svc the way a
// person with the console or the AWS CLI would: nothing is stamped.
func (m *Moto) Accept(ctx context.Context, svc Service, endpointIDs ...string) error {
	out, err := ec2.NewFromConfig(m.Config(ProviderAccount, svc.Region)).AcceptVpcEndpointConnections(ctx,
		&ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(svc.ID), VpcEndpointIds: endpointIDs})
	if err != nil {
		return err
	}
	if len(out.Unsuccessful) > 0 {
		return fmt.Errorf("accept: %s: %s", aws.ToString(out.Unsuccessful[0].ResourceId), aws.ToString(out.Unsuccessful[0].Error.Code))
	}
	return nil
}

// PutPolicy stores value in the provider's parameter name in region, of
// type String, StringList or SecureString, overwriting it.
func (m *Moto) PutPolicy(ctx context.Context, region, name, value string, typ ssmtypes.ParameterType) error {
	if typ == "" {
		typ = ssmtypes.ParameterTypeString
	}
	tier := ssmtypes.ParameterTierStandard
	if len(value) > 4096 {
		tier = ssmtypes.ParameterTierAdvanced // up to 8 KB
	}
	_, err := ssm.NewFromConfig(m.Config(ProviderAccount, region)).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(true), Tier: tier,
	})
	if err != nil {
		return fmt.Errorf("put policy %s: %w", name, err)
	}
	return nil
}

// DeletePolicy deletes the provider's parameter name in region, as a person
// (or an SSM expiration policy) would.
func (m *Moto) DeletePolicy(ctx context.Context, region, name string) error {
	if _, err := ssm.NewFromConfig(m.Config(ProviderAccount, region)).DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(name)}); err != nil {
		return fmt.Errorf("delete policy %s: %w", name, err)
	}
	return nil
}

// PolicyExists reports whether the provider's parameter name exists in
// region.
func (m *Moto) PolicyExists(ctx context.Context, region, name string) (bool, error) {
	_, err := ssm.NewFromConfig(m.Config(ProviderAccount, region)).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	var notFound *ssmtypes.ParameterNotFound
	switch {
	case errors.As(err, &notFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// SampleEvent reads a payload from events/ (the files `sam local invoke -e`
// uses) and replaces each old string with its new one, e.g. the sample's
// service ID with one created for the run.
func SampleEvent(name string, oldnew ...string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(Dir(), "..", "..", "events", name))
	if err != nil {
		return nil, err
	}
	return []byte(strings.NewReplacer(oldnew...).Replace(string(b))), nil
}

// Sample values in events/, replaced by SampleEvent in tests and the demo.
const (
	SampleServiceID       = "vpce-svc-0123456789abcdef0"
	SamplePolicyParameter = "/privatelink-approver/policy"
)

// Inbox is an SNS topic of the provider with an SQS queue subscribed, so a
// test can read what the function published.
type Inbox struct {
	TopicARN string
	queueURL string
	m        *Moto
}

// CreateInbox creates a topic named name and a queue subscribed to it
// (raw message delivery off: messages arrive in the SNS envelope).
func (m *Moto) CreateInbox(ctx context.Context, name string) (*Inbox, error) {
	cfg := m.Config(ProviderAccount, Region)
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("create topic: %w", err)
	}
	q, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("create queue: %w", err)
	}
	attrs, err := sqs.NewFromConfig(cfg).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, err
	}
	if _, err := sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	return &Inbox{TopicARN: aws.ToString(topic.TopicArn), queueURL: aws.ToString(q.QueueUrl), m: m}, nil
}

// Message is one message published on the topic.
type Message struct {
	Subject string `json:"Subject"`
	Message string `json:"Message"`
}

// Receive returns (and deletes) every message waiting in the inbox.
func (in *Inbox) Receive(ctx context.Context) ([]Message, error) {
	client := sqs.NewFromConfig(in.m.Config(ProviderAccount, Region))
	var out []Message
	for {
		resp, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(in.queueURL), MaxNumberOfMessages: 10})
		if err != nil {
			return nil, err
		}
		if len(resp.Messages) == 0 {
			return out, nil
		}
		for _, msg := range resp.Messages {
			var m Message
			if err := json.Unmarshal([]byte(aws.ToString(msg.Body)), &m); err != nil {
				return nil, fmt.Errorf("not an SNS envelope: %s", aws.ToString(msg.Body))
			}
			out = append(out, m)
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(in.queueURL), ReceiptHandle: msg.ReceiptHandle}); err != nil {
				return nil, err
			}
		}
	}
}

// SQSEvent builds the payload Lambda's SQS event source sends, one record
// per body, with message IDs m0, m1, ...
func SQSEvent(bodies ...string) ([]byte, error) {
	type record struct {
		MessageID   string `json:"messageId"`
		Body        string `json:"body"`
		EventSource string `json:"eventSource"`
	}
	var ev struct {
		Records []record `json:"Records"`
	}
	for i, b := range bodies {
		ev.Records = append(ev.Records, record{MessageID: fmt.Sprintf("m%d", i), Body: b, EventSource: "aws:sqs"})
	}
	return json.Marshal(ev)
}

// SNSEnvelope wraps message as SNS delivers it to an SQS queue without raw
// message delivery.
func SNSEnvelope(message string) (string, error) {
	out, err := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "n1", "Message": message,
		"TopicArn": "arn:aws:sns:us-east-1:123456789012:notifications"})
	return string(out), err
}

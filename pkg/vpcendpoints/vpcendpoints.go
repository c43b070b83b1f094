package vpcendpoints

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/privatelink-approver/privatelink-approver/pkg/awserr"
)

// EC2API is the part of the EC2 client this package calls.
type EC2API interface {
	DescribeVpcEndpointConnections(ctx context.Context, params *ec2.DescribeVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointConnectionsOutput, error)
	DescribeVpcEndpointServiceConfigurations(ctx context.Context, params *ec2.DescribeVpcEndpointServiceConfigurationsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServiceConfigurationsOutput, error)
	AcceptVpcEndpointConnections(ctx context.Context, params *ec2.AcceptVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.AcceptVpcEndpointConnectionsOutput, error)
	RejectVpcEndpointConnections(ctx context.Context, params *ec2.RejectVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.RejectVpcEndpointConnectionsOutput, error)
	CreateTags(ctx context.Context, params *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	DeleteTags(ctx context.Context, params *ec2.DeleteTagsInput, optFns ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error)
	DescribeVpcEndpointConnectionNotifications(ctx context.Context, params *ec2.DescribeVpcEndpointConnectionNotificationsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointConnectionNotificationsOutput, error)
	CreateVpcEndpointConnectionNotification(ctx context.Context, params *ec2.CreateVpcEndpointConnectionNotificationInput, optFns ...func(*ec2.Options)) (*ec2.CreateVpcEndpointConnectionNotificationOutput, error)
	DeleteVpcEndpointConnectionNotifications(ctx context.Context, params *ec2.DeleteVpcEndpointConnectionNotificationsInput, optFns ...func(*ec2.Options)) (*ec2.DeleteVpcEndpointConnectionNotificationsOutput, error)
	DescribeVpcEndpointServicePermissions(ctx context.Context, params *ec2.DescribeVpcEndpointServicePermissionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServicePermissionsOutput, error)
}

// Limits of the EC2 API.
const (
	// MaxPage is the largest MaxResults the Describe calls take.
	MaxPage = 1000
	// MaxBatch is the most endpoint IDs one Accept or Reject call takes,
	// and the most resource IDs one CreateTags or DeleteTags call takes.
	MaxBatch = 1000
	// MaxFilterValues bounds the values of one filter.
	MaxFilterValues = 200
	// MaxNotificationBatch is the most notification IDs one
	// DeleteVpcEndpointConnectionNotifications call is given: EC2 documents
	// no maximum, so requests stay small.
	MaxNotificationBatch = 100
)

// Client reads and changes VPC endpoint connections through EC2.
type Client struct {
	ec2 EC2API
}

// New returns a Client calling client.
func New(client EC2API) *Client { return &Client{ec2: client} }

// Connections reads every page of DescribeVpcEndpointConnections with
// filters. Any failed page fails the whole read: never a part.
func (c *Client) Connections(ctx context.Context, filters []types.Filter) ([]types.VpcEndpointConnection, error) {
	var out []types.VpcEndpointConnection
	pages := ec2.NewDescribeVpcEndpointConnectionsPaginator(c.ec2, &ec2.DescribeVpcEndpointConnectionsInput{
		Filters:    filters,
		MaxResults: aws.Int32(MaxPage),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.VpcEndpointConnections...)
	}
	return out, nil
}

// Failure is why EC2 did not act on one endpoint, as far as the answer
// tells.
type Failure struct {
	Code    string
	Message string
	// Ambiguous is set when an earlier attempt of the call may have been
	// applied although its answer was lost (the SDK retried it, or the
	// call failed as a whole): a connection then found in the wanted state
	// may be the caller's own doing.
	Ambiguous bool
}

// Accept accepts the pending connections of ids to svc, in batches of at
// most MaxBatch, and returns the endpoints EC2 did not act on (from
// Unsuccessful, or a failed call).
func (c *Client) Accept(ctx context.Context, svc string, ids []string) map[string]Failure {
	return c.decide(ctx, svc, "accept", ids, func(batch []string) ([]types.UnsuccessfulItem, middleware.Metadata, error) {
		out, err := c.ec2.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(svc), VpcEndpointIds: batch})
		if out == nil {
			return nil, middleware.Metadata{}, err
		}
		return out.Unsuccessful, out.ResultMetadata, err
	})
}

// Reject rejects the connections of ids to svc (pending, or accepted: a
// revocation), as Accept does.
func (c *Client) Reject(ctx context.Context, svc string, ids []string) map[string]Failure {
	return c.decide(ctx, svc, "reject", ids, func(batch []string) ([]types.UnsuccessfulItem, middleware.Metadata, error) {
		out, err := c.ec2.RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{ServiceId: aws.String(svc), VpcEndpointIds: batch})
		if out == nil {
			return nil, middleware.Metadata{}, err
		}
		return out.Unsuccessful, out.ResultMetadata, err
	})
}

func (c *Client) decide(_ context.Context, svc, verb string, ids []string,
	call func(batch []string) ([]types.UnsuccessfulItem, middleware.Metadata, error)) map[string]Failure {
	failures := map[string]Failure{}
	for batch := range slices.Chunk(ids, MaxBatch) {
		unsuccessful, meta, err := call(batch)
		if err != nil {
			f := Failure{Code: awserr.Code(err), Message: fmt.Sprintf("%s %d connections of %s: %v", verb, len(batch), svc, err), Ambiguous: true}
			for _, id := range batch {
				failures[id] = f
			}
			continue
		}
		attempts, _ := retry.GetAttemptResults(meta)
		retried := len(attempts.Results) > 1
		for _, u := range unsuccessful {
			f := Failure{Code: "Unknown", Message: "EC2 listed the endpoint as unsuccessful without an error", Ambiguous: retried}
			if u.Error != nil {
				code := aws.ToString(u.Error.Code)
				f.Code, f.Message = code, fmt.Sprintf("%s %s: %s: %s", verb, aws.ToString(u.ResourceId), code, aws.ToString(u.Error.Message))
			}
			failures[aws.ToString(u.ResourceId)] = f
		}
	}
	return failures
}

// Tag sets tags on the connections ids (VpcEndpointConnectionIds), at most
// MaxBatch, in one CreateTags call.
func (c *Client) Tag(ctx context.Context, ids []string, tags map[string]string) error {
	in := &ec2.CreateTagsInput{Resources: ids}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	_, err := c.ec2.CreateTags(ctx, in)
	return err
}

// Untag deletes the tags keys (whatever their values) from the connections
// ids, at most MaxBatch, in one DeleteTags call. It never deletes every tag:
// keys must not be empty.
func (c *Client) Untag(ctx context.Context, ids []string, keys []string) error {
	if len(keys) == 0 {
		return errors.New("untag: no key named (DeleteTags without keys deletes every tag)")
	}
	in := &ec2.DeleteTagsInput{Resources: ids}
	for _, k := range keys {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k)})
	}
	_, err := c.ec2.DeleteTags(ctx, in)
	return err
}

// ServiceConfigurations describes the account's endpoint services: all of
// them, MaxPage a page, or only ids. A service of ids that the account does
// not own (EC2 then fails the whole call with a NotFound code) is left out,
// by describing the others one at a time.
func (c *Client) ServiceConfigurations(ctx context.Context, ids []string) ([]types.ServiceConfiguration, error) {
	in := &ec2.DescribeVpcEndpointServiceConfigurationsInput{ServiceIds: ids}
	if len(ids) == 0 {
		in.MaxResults = aws.Int32(MaxPage)
	}
	var out []types.ServiceConfiguration
	pages := ec2.NewDescribeVpcEndpointServiceConfigurationsPaginator(c.ec2, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		switch {
		case err != nil && len(ids) > 1 && awserr.IsNotFound(err):
			return c.oneByOne(ctx, ids)
		case err != nil && len(ids) == 1 && awserr.IsNotFound(err):
			return nil, nil // not the account's: left alone
		case err != nil:
			return nil, err
		}
		out = append(out, page.ServiceConfigurations...)
	}
	return out, nil
}

func (c *Client) oneByOne(ctx context.Context, ids []string) ([]types.ServiceConfiguration, error) {
	var out []types.ServiceConfiguration
	var errs []error
	for _, id := range ids {
		configs, err := c.ServiceConfigurations(ctx, []string{id})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		out = append(out, configs...)
	}
	return out, errors.Join(errs...)
}

// Notifications lists, every page, the connection notifications on topic.
func (c *Client) Notifications(ctx context.Context, topic string) ([]types.ConnectionNotification, error) {
	var out []types.ConnectionNotification
	pages := ec2.NewDescribeVpcEndpointConnectionNotificationsPaginator(c.ec2, &ec2.DescribeVpcEndpointConnectionNotificationsInput{
		Filters:    []types.Filter{{Name: aws.String("connection-notification-arn"), Values: []string{topic}}},
		MaxResults: aws.Int32(MaxPage),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.ConnectionNotificationSet...)
	}
	return out, nil
}

// Notify creates a connection notification on topic for svc's events.
func (c *Client) Notify(ctx context.Context, svc, topic string, events []string) error {
	_, err := c.ec2.CreateVpcEndpointConnectionNotification(ctx, &ec2.CreateVpcEndpointConnectionNotificationInput{
		ServiceId:                 aws.String(svc),
		ConnectionNotificationArn: aws.String(topic),
		ConnectionEvents:          events,
	})
	return err
}

// DeleteNotifications deletes the connection notifications ids, in batches
// of MaxNotificationBatch. Every batch is tried; the error names each
// notification not deleted and why.
func (c *Client) DeleteNotifications(ctx context.Context, ids []string) error {
	var errs []error
	for batch := range slices.Chunk(ids, MaxNotificationBatch) {
		out, err := c.ec2.DeleteVpcEndpointConnectionNotifications(ctx, &ec2.DeleteVpcEndpointConnectionNotificationsInput{
			ConnectionNotificationIds: batch,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("delete connection notifications %v: %w", batch, err))
			continue
		}
		for _, u := range out.Unsuccessful {
			code, msg := "Unknown", "EC2 listed it as unsuccessful without an error"
			if u.Error != nil {
				code, msg = aws.ToString(u.Error.Code), aws.ToString(u.Error.Message)
			}
			if notificationGone(code) {
				continue // deleted meanwhile: what was wanted
			}
			errs = append(errs, fmt.Errorf("delete connection notification %s: %s: %s", aws.ToString(u.ResourceId), code, msg))
		}
	}
	return errors.Join(errs...)
}

// notificationGone reports whether an unsuccessful item's code says the
// notification no longer exists. EC2 documents no code for it: these are
// its usual not-found forms.
func notificationGone(code string) bool {
	return code == "InvalidConnectionNotification" || strings.HasSuffix(code, ".NotFound") || code == "NotFound"
}

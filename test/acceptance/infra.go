package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/privatelink-approver/privatelink-approver/pkg/awserr"
)

// What the test builds is made with the same SDK calls on AWS and on the
// local stack (moto makes VPCs, subnets, Network Load Balancers, endpoint
// services and endpoints): only the accounts differ.

// RunTagKey tags everything a run creates, with the run's ID as value, so
// that what an interrupted run could not remove can be found.
const RunTagKey = "privatelink-approver-acceptance:run"

// creating gives a create call a context that an interrupt does not cancel:
// a resource whose create was sent is then known, and its undo pushed,
// rather than left behind unknown.
func creating(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}

// tagSpec is a TagSpecification of the run's tags and Name for typ, plus
// extra tags.
func (r *runner) tagSpec(typ ec2types.ResourceType, extra ...ec2types.Tag) []ec2types.TagSpecification {
	tags := append([]ec2types.Tag{
		{Key: aws.String(RunTagKey), Value: aws.String(r.runID)},
		{Key: aws.String("Name"), Value: aws.String("privatelink-approver-acceptance-" + r.runID)},
	}, extra...)
	return []ec2types.TagSpecification{{ResourceType: typ, Tags: tags}}
}

// commonZone returns an Availability Zone ID (the zone itself, which the
// accounts' zone names map differently) where both accounts have an
// available zone: the provider's load balancer and the consumer's endpoint
// must share one.
func commonZone(ctx context.Context, provider, consumer *ec2.Client) (string, error) {
	zones := func(c *ec2.Client, who string) ([]string, error) {
		out, err := c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
		if err != nil {
			return nil, fmt.Errorf("%s: describe Availability Zones: %w", who, err)
		}
		var ids []string
		for _, z := range out.AvailabilityZones {
			if z.State == ec2types.AvailabilityZoneStateAvailable && (z.ZoneType == nil || aws.ToString(z.ZoneType) == "availability-zone") {
				ids = append(ids, aws.ToString(z.ZoneId))
			}
		}
		return ids, nil
	}
	mine, err := zones(provider, "provider")
	if err != nil {
		return "", err
	}
	theirs, err := zones(consumer, "consumer")
	if err != nil {
		return "", err
	}
	for _, id := range mine {
		if slices.Contains(theirs, id) {
			return id, nil
		}
	}
	return "", fmt.Errorf("no Availability Zone ID is available to both accounts (provider %v, consumer %v)", mine, theirs)
}

// createNetwork creates a VPC with one subnet in zone, and pushes their
// undos. who names the account in messages.
func (r *runner) createNetwork(ctx context.Context, client *ec2.Client, who, vpcCIDR, subnetCIDR, zoneID string) (string, string, error) {
	cctx, cancel := creating(ctx)
	defer cancel()
	vpc, err := client.CreateVpc(cctx, &ec2.CreateVpcInput{CidrBlock: aws.String(vpcCIDR), TagSpecifications: r.tagSpec(ec2types.ResourceTypeVpc)})
	if err != nil {
		return "", "", fmt.Errorf("%s: create VPC: %w", who, err)
	}
	vpcID := aws.ToString(vpc.Vpc.VpcId)
	r.cleanups.push(who+" VPC "+vpcID, func(ctx context.Context) error {
		return retry(ctx, func(ctx context.Context) error {
			_, err := client.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(vpcID)})
			return undoErr(err)
		})
	})
	subnet, err := client.CreateSubnet(cctx, &ec2.CreateSubnetInput{VpcId: aws.String(vpcID), CidrBlock: aws.String(subnetCIDR),
		AvailabilityZoneId: aws.String(zoneID), TagSpecifications: r.tagSpec(ec2types.ResourceTypeSubnet)})
	if err != nil {
		return "", "", fmt.Errorf("%s: create subnet: %w", who, err)
	}
	subnetID := aws.ToString(subnet.Subnet.SubnetId)
	r.cleanups.push(who+" subnet "+subnetID, func(ctx context.Context) error {
		// A load balancer's or an endpoint's network interfaces outlive
		// them by a few minutes.
		return retry(ctx, func(ctx context.Context) error {
			_, err := client.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(subnetID)})
			return undoErr(err)
		})
	})
	return vpcID, subnetID, nil
}

// undoErr classifies the error of a delete call: nil when the thing is
// gone, errRetry when a dependency still holds it.
func undoErr(err error) error {
	switch code := awserr.Code(err); {
	case err == nil, awserr.IsNotFound(err), code == "LoadBalancerNotFound":
		return nil
	case code == "DependencyViolation", code == "ResourceInUse", awserr.IsThrottle(err):
		return fmt.Errorf("%w: %v", errRetry, err)
	}
	return err
}

// service is the provider's throwaway endpoint service.
type service struct {
	ID, Name string
}

// createService creates, as the provider, an internal Network Load
// Balancer in subnet and an endpoint service in front of it that requires
// acceptance and carries the stack's tag, waits for it to be available,
// and allows consumer's principal to connect.
func (r *runner) createService(ctx context.Context, subnetID, allowedPrincipal string) (service, error) {
	cfg := r.accounts.Provider()
	lbs := elb.NewFromConfig(cfg)
	client := ec2.NewFromConfig(cfg)
	cctx, cancel := creating(ctx)
	defer cancel()
	lb, err := lbs.CreateLoadBalancer(cctx, &elb.CreateLoadBalancerInput{
		Name:    aws.String("acceptance-" + r.runID),
		Type:    elbtypes.LoadBalancerTypeEnumNetwork,
		Scheme:  elbtypes.LoadBalancerSchemeEnumInternal,
		Subnets: []string{subnetID},
		Tags:    []elbtypes.Tag{{Key: aws.String(RunTagKey), Value: aws.String(r.runID)}},
	})
	if err != nil {
		return service{}, fmt.Errorf("create Network Load Balancer: %w", err)
	}
	arn := aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	r.cleanups.push("provider Network Load Balancer "+arn, func(ctx context.Context) error {
		// In use until the endpoint service in front of it is deleted.
		if err := retry(ctx, func(ctx context.Context) error {
			_, err := lbs.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(arn)})
			return undoErr(err)
		}); err != nil {
			return err
		}
		return retry(ctx, func(ctx context.Context) error {
			_, err := lbs.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
			if err == nil {
				return fmt.Errorf("%w: still listed", errRetry)
			}
			return undoErr(err)
		})
	})
	if err := eventually(ctx, 10*time.Minute, r.stack.Poll, "the Network Load Balancer is active", func(ctx context.Context) (bool, string, error) {
		out, err := lbs.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
		if err != nil {
			return false, "", fmt.Errorf("%w: %v", errRetry, err)
		}
		if len(out.LoadBalancers) == 0 || out.LoadBalancers[0].State == nil {
			return false, "no state", nil
		}
		state := out.LoadBalancers[0].State
		switch state.Code {
		case elbtypes.LoadBalancerStateEnumActive:
			return true, "", nil
		case elbtypes.LoadBalancerStateEnumFailed:
			return false, "", fmt.Errorf("failed: %s", aws.ToString(state.Reason))
		}
		return false, string(state.Code), nil
	}); err != nil {
		return service{}, err
	}

	tag := r.stack.ServiceTag
	out, err := client.CreateVpcEndpointServiceConfiguration(cctx, &ec2.CreateVpcEndpointServiceConfigurationInput{
		AcceptanceRequired:      aws.Bool(true),
		NetworkLoadBalancerArns: []string{arn},
		TagSpecifications: r.tagSpec(ec2types.ResourceTypeVpcEndpointService,
			ec2types.Tag{Key: aws.String(tag.Key), Value: aws.String(tag.Value)}),
	})
	if err != nil {
		return service{}, fmt.Errorf("create endpoint service: %w", err)
	}
	svc := service{ID: aws.ToString(out.ServiceConfiguration.ServiceId), Name: aws.ToString(out.ServiceConfiguration.ServiceName)}
	r.cleanups.push("provider endpoint service "+svc.ID, func(ctx context.Context) error {
		// Refused while connections are still being deleted.
		return retry(ctx, func(ctx context.Context) error {
			out, err := client.DeleteVpcEndpointServiceConfigurations(ctx, &ec2.DeleteVpcEndpointServiceConfigurationsInput{ServiceIds: []string{svc.ID}})
			if err != nil {
				return undoErr(err)
			}
			for _, u := range out.Unsuccessful {
				if u.Error != nil && !awserr.IsNotFound(codeErr(aws.ToString(u.Error.Code))) {
					return fmt.Errorf("%w: %s: %s", errRetry, aws.ToString(u.Error.Code), aws.ToString(u.Error.Message))
				}
			}
			return nil
		})
	})
	if err := eventually(ctx, 5*time.Minute, r.stack.Poll, "the endpoint service is available", func(ctx context.Context) (bool, string, error) {
		out, err := client.DescribeVpcEndpointServiceConfigurations(ctx, &ec2.DescribeVpcEndpointServiceConfigurationsInput{ServiceIds: []string{svc.ID}})
		if err != nil {
			return false, "", fmt.Errorf("%w: %v", errRetry, err)
		}
		if len(out.ServiceConfigurations) == 0 {
			return false, "not listed", nil
		}
		switch state := string(out.ServiceConfigurations[0].ServiceState); {
		case strings.EqualFold(state, string(ec2types.ServiceStateAvailable)):
			return true, "", nil
		case strings.EqualFold(state, string(ec2types.ServiceStateFailed)):
			return false, "", errors.New("the service failed")
		default:
			return false, state, nil
		}
	}); err != nil {
		return service{}, err
	}
	if _, err := client.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{
		ServiceId: aws.String(svc.ID), AddAllowedPrincipals: []string{allowedPrincipal},
	}); err != nil {
		return service{}, fmt.Errorf("allow %s on %s: %w", allowedPrincipal, svc.ID, err)
	}
	return svc, nil
}

// codeErr makes an error of an Unsuccessful item's code, for awserr.
func codeErr(code string) error { return &smithy.GenericAPIError{Code: code} }

// createEndpoint creates, as the consumer, an interface endpoint to svc in
// its subnet, pushes its undo, and returns its ID.
func (r *runner) createEndpoint(ctx context.Context, svc service, vpcID, subnetID string) (string, error) {
	client := ec2.NewFromConfig(r.accounts.Consumer())
	cctx, cancel := creating(ctx)
	defer cancel()
	out, err := client.CreateVpcEndpoint(cctx, &ec2.CreateVpcEndpointInput{
		VpcId:             aws.String(vpcID),
		ServiceName:       aws.String(svc.Name),
		VpcEndpointType:   ec2types.VpcEndpointTypeInterface,
		SubnetIds:         []string{subnetID},
		PrivateDnsEnabled: aws.Bool(false),
		TagSpecifications: r.tagSpec(ec2types.ResourceTypeVpcEndpoint),
	})
	if err != nil {
		return "", fmt.Errorf("consumer: create endpoint to %s: %w", svc.Name, err)
	}
	id := aws.ToString(out.VpcEndpoint.VpcEndpointId)
	r.cleanups.push("consumer endpoint "+id, func(ctx context.Context) error {
		out, err := client.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}})
		if err := undoErr(err); err != nil {
			return err
		}
		if out != nil {
			for _, u := range out.Unsuccessful {
				if u.Error != nil && !awserr.IsNotFound(codeErr(aws.ToString(u.Error.Code))) {
					return fmt.Errorf("%s: %s", aws.ToString(u.Error.Code), aws.ToString(u.Error.Message))
				}
			}
		}
		// Its subnet and the service can go only once it is gone.
		return retry(ctx, func(ctx context.Context) error {
			out, err := client.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
			if err != nil {
				return undoErr(err)
			}
			for _, e := range out.VpcEndpoints {
				if canonicalState(string(e.State)) != stateDeleted {
					return fmt.Errorf("%w: %s", errRetry, e.State)
				}
			}
			return nil
		})
	})
	return id, nil
}

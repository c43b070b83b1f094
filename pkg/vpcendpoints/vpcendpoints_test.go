package vpcendpoints_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver/approvertest"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

var _ vpcendpoints.EC2API = (*ec2.Client)(nil)

const svc = "vpce-svc-0aaaaaaaaaaaaaaaa"

// acceptFunc fakes AcceptVpcEndpointConnections alone.
type acceptFunc struct {
	*approvertest.EC2
	accept func(*ec2.AcceptVpcEndpointConnectionsInput) (*ec2.AcceptVpcEndpointConnectionsOutput, error)
}

func (f acceptFunc) AcceptVpcEndpointConnections(_ context.Context, in *ec2.AcceptVpcEndpointConnectionsInput, _ ...func(*ec2.Options)) (*ec2.AcceptVpcEndpointConnectionsOutput, error) {
	return f.accept(in)
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("vpce-%017x", i)
	}
	return out
}

func TestAccept(t *testing.T) {
	tests := []struct {
		name      string
		ids       int
		answer    func(*ec2.AcceptVpcEndpointConnectionsInput) (*ec2.AcceptVpcEndpointConnectionsOutput, error)
		wantCalls int
		want      map[string]vpcendpoints.Failure
	}{
		{"batches of 1,000, all applied", 2500, func(*ec2.AcceptVpcEndpointConnectionsInput) (*ec2.AcceptVpcEndpointConnectionsOutput, error) {
			return &ec2.AcceptVpcEndpointConnectionsOutput{}, nil
		}, 3, map[string]vpcendpoints.Failure{}},
		{"an unsuccessful item", 2, func(*ec2.AcceptVpcEndpointConnectionsInput) (*ec2.AcceptVpcEndpointConnectionsOutput, error) {
			return &ec2.AcceptVpcEndpointConnectionsOutput{Unsuccessful: []types.UnsuccessfulItem{{ResourceId: aws.String(ids(2)[1]),
				Error: &types.UnsuccessfulItemError{Code: aws.String("InvalidState"), Message: aws.String("not pending")}}}}, nil
		}, 1, map[string]vpcendpoints.Failure{ids(2)[1]: {Code: "InvalidState", Message: "accept " + ids(2)[1] + ": InvalidState: not pending"}}},
		{"a failed call fails every ID, maybe applied", 2, func(*ec2.AcceptVpcEndpointConnectionsInput) (*ec2.AcceptVpcEndpointConnectionsOutput, error) {
			return nil, &smithy.GenericAPIError{Code: "InternalError", Message: "boom"}
		}, 1, map[string]vpcendpoints.Failure{
			ids(2)[0]: {Code: "InternalError", Message: "accept 2 connections of " + svc + ": api error InternalError: boom", Ambiguous: true},
			ids(2)[1]: {Code: "InternalError", Message: "accept 2 connections of " + svc + ": api error InternalError: boom", Ambiguous: true},
		}},
		{"nothing to accept: no call", 0, nil, 0, map[string]vpcendpoints.Failure{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			c := vpcendpoints.New(acceptFunc{EC2: approvertest.NewEC2(svc), accept: func(in *ec2.AcceptVpcEndpointConnectionsInput) (*ec2.AcceptVpcEndpointConnectionsOutput, error) {
				calls++
				assert.Equal(t, svc, aws.ToString(in.ServiceId))
				assert.LessOrEqual(t, len(in.VpcEndpointIds), vpcendpoints.MaxBatch)
				return tt.answer(in)
			}})
			got := c.Accept(context.Background(), svc, ids(tt.ids))
			assert.Equal(t, tt.wantCalls, calls)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestUntagNeverDeletesEveryTag(t *testing.T) {
	f := approvertest.NewEC2(svc)
	f.Add(svc, "vpce-0000000000000000a", "111111111111", "available", "")
	c := vpcendpoints.New(f)
	err := c.Untag(context.Background(), []string{approvertest.ConnectionID("vpce-0000000000000000a")}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no key named")
}

// notificationDeleter answers DeleteVpcEndpointConnectionNotifications with
// the unsuccessful items of codes, by ID, and records the batches.
type notificationDeleter struct {
	*approvertest.EC2
	codes   map[string]string
	batches [][]string
}

func (d *notificationDeleter) DeleteVpcEndpointConnectionNotifications(_ context.Context, in *ec2.DeleteVpcEndpointConnectionNotificationsInput, _ ...func(*ec2.Options)) (*ec2.DeleteVpcEndpointConnectionNotificationsOutput, error) {
	d.batches = append(d.batches, in.ConnectionNotificationIds)
	out := &ec2.DeleteVpcEndpointConnectionNotificationsOutput{}
	for _, id := range in.ConnectionNotificationIds {
		if code, ok := d.codes[id]; ok {
			out.Unsuccessful = append(out.Unsuccessful, types.UnsuccessfulItem{ResourceId: aws.String(id),
				Error: &types.UnsuccessfulItemError{Code: aws.String(code), Message: aws.String("no")}})
		}
	}
	return out, nil
}

func TestDeleteNotifications(t *testing.T) {
	ids := make([]string, 0, 150)
	for i := range 150 {
		ids = append(ids, fmt.Sprintf("vpce-nfn-%017x", i))
	}
	tests := []struct {
		name    string
		codes   map[string]string
		wantErr string
	}{
		{name: "every one deleted"},
		{name: "one deleted meanwhile is what was wanted", codes: map[string]string{ids[3]: "InvalidConnectionNotification", ids[120]: "InvalidVpcEndpointConnectionNotification.NotFound"}},
		{name: "one refused is named", codes: map[string]string{ids[7]: "UnauthorizedOperation"},
			wantErr: "delete connection notification " + ids[7] + ": UnauthorizedOperation: no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &notificationDeleter{EC2: approvertest.NewEC2(), codes: tt.codes}
			err := vpcendpoints.New(d).DeleteNotifications(context.Background(), ids)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Len(t, d.batches, 2, "at most MaxNotificationBatch IDs a call")
			assert.Len(t, d.batches[0], vpcendpoints.MaxNotificationBatch)
		})
	}
}

package approver

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// connectEvent is the connection event a notification must carry: a new
// request.
const connectEvent = "Connect"

// maxNewNotifications bounds the notifications one sweep creates, one call
// each: a first sweep of a large fleet spreads them over a few sweeps.
const maxNewNotifications = 100

// registerNotifications makes sure every managed service has a connection
// notification for Connect events on the stack's topic, so that a new
// request is decided within seconds rather than at the next sweep: one
// paged DescribeVpcEndpointConnectionNotifications, then one
// CreateVpcEndpointConnectionNotification per service that lacks one. It
// never deletes a notification. At most maxNewNotifications are created in
// one sweep (the next ones create the rest), and it stops at the deadline.
// A failure is logged and counted; it never fails the sweep's decisions.
func (a *Approver) registerNotifications(ctx context.Context, services []string) *NotificationCounts {
	topic := a.cfg.ConnectionTopicARN
	counts := &NotificationCounts{}
	have := map[string]bool{}
	existing, err := a.ec2.Notifications(ctx, topic)
	if err != nil {
		a.log.ErrorContext(ctx, "connection notifications not registered", "error", err.Error())
		counts.Failed++
		return counts
	}
	for _, n := range existing {
		if aws.ToString(n.ConnectionNotificationArn) == topic && n.ServiceId != nil && slices.Contains(n.ConnectionEvents, connectEvent) {
			have[aws.ToString(n.ServiceId)] = true
		}
	}
	for _, svc := range services {
		if have[svc] {
			continue
		}
		if counts.Created+counts.Failed == maxNewNotifications || ctx.Err() != nil {
			break
		}
		if err := a.ec2.Notify(ctx, svc, topic, []string{connectEvent}); err != nil {
			a.log.ErrorContext(ctx, "connection notification not registered", "serviceId", svc, "error", err.Error())
			counts.Failed++
			continue
		}
		a.log.InfoContext(ctx, "connection notification registered", "serviceId", svc, "topicArn", topic)
		counts.Created++
	}
	return counts
}

// Unregister deletes every connection notification on the stack's topic
// (Config.ConnectionTopicARN): the ones the sweeps registered, when
// CloudFormation deletes the stack. topic is the topic the request names;
// it must be the function's own, so that a request can never delete
// notifications of another topic. It returns how many were deleted.
func (a *Approver) Unregister(ctx context.Context, topic string) (int, error) {
	own := a.cfg.ConnectionTopicARN
	if own == "" {
		return 0, nil
	}
	if topic != own {
		return 0, fmt.Errorf("the request names topic %q, the function's is %q: no notification deleted", topic, own)
	}
	existing, err := a.ec2.Notifications(ctx, own)
	if err != nil {
		return 0, fmt.Errorf("list the connection notifications on %s: %w", own, err)
	}
	var ids []string
	for _, n := range existing {
		// The listing is filtered by topic; check it all the same. Only a
		// service's notifications are the sweeps' (and the role may delete
		// no other).
		if aws.ToString(n.ConnectionNotificationArn) == own && n.ConnectionNotificationId != nil && n.ServiceId != nil {
			ids = append(ids, aws.ToString(n.ConnectionNotificationId))
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if err := a.ec2.DeleteNotifications(ctx, ids); err != nil {
		return 0, fmt.Errorf("delete the %d connection notifications on %s: %w", len(ids), own, err)
	}
	a.log.InfoContext(ctx, "connection notifications deleted", "topicArn", own, "count", len(ids), "ids", ids)
	return len(ids), nil
}

// ConnectionTopic is the stack's connection notification topic
// (Config.ConnectionTopicARN), "" when there is none.
func (a *Approver) ConnectionTopic() string { return a.cfg.ConnectionTopicARN }

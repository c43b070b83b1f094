package localaws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Event is an EventBridge event as a rule delivers it to an SQS target.
type Event struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// EventCapture is a rule on the default event bus of an account and Region
// whose target is an SQS queue of its own: a test reads from it the events
// the function put.
type EventCapture struct {
	events   *eventbridge.Client
	queues   *sqs.Client
	rule     string
	queueURL string
}

// CaptureEvents creates, as account in region, the queue and the rule name
// on the default bus that sends it the events matching pattern (an event
// pattern, as JSON). moto delivers an event to the queue before PutEvents
// answers.
func (m *Moto) CaptureEvents(ctx context.Context, account, region, name, pattern string) (*EventCapture, error) {
	cfg := m.Config(account, region)
	c := &EventCapture{events: eventbridge.NewFromConfig(cfg), queues: sqs.NewFromConfig(cfg), rule: name}
	q, err := c.queues.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	c.queueURL = aws.ToString(q.QueueUrl)
	attrs, err := c.queues.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", name, err)
	}
	if _, err := c.events.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(pattern)}); err != nil {
		return nil, fmt.Errorf("put rule %s: %w", name, err)
	}
	_, err = c.events.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), Targets: []ebtypes.Target{{
		Id:  aws.String("queue"),
		Arn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
	}}})
	if err != nil {
		return nil, fmt.Errorf("put the target of rule %s: %w", name, err)
	}
	return c, nil
}

// Events returns the events delivered since the last call, in the order
// the queue gives them.
func (c *EventCapture) Events(ctx context.Context) ([]Event, error) {
	var out []Event
	for {
		msgs, err := c.queues.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(c.queueURL), MaxNumberOfMessages: 10})
		if err != nil {
			return nil, fmt.Errorf("receive events: %w", err)
		}
		if len(msgs.Messages) == 0 {
			return out, nil
		}
		for _, msg := range msgs.Messages {
			var e Event
			if err := json.Unmarshal([]byte(aws.ToString(msg.Body)), &e); err != nil {
				return nil, fmt.Errorf("event %s: %w", aws.ToString(msg.Body), err)
			}
			out = append(out, e)
			if _, err := c.queues.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(c.queueURL), ReceiptHandle: msg.ReceiptHandle}); err != nil {
				return nil, fmt.Errorf("delete event: %w", err)
			}
		}
	}
}

// Close deletes the rule and the queue.
func (c *EventCapture) Close(ctx context.Context) error {
	_, err := c.events.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(c.rule), Ids: []string{"queue"}})
	if err == nil {
		_, err = c.events.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(c.rule)})
	}
	_, qerr := c.queues.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(c.queueURL)})
	return errors.Join(err, qerr)
}

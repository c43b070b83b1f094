// Package trigger turns a Lambda payload into the work it asks for: which
// endpoint services to reconcile, and why.
//
// Events are wake-ups, not data to trust: whatever arrives, the approver asks
// EC2 for the truth. This package only decides what kind of event woke the
// function and which vpce-svc-... IDs it names. It knows the payload formats
// of EventBridge (schedules, CloudTrail API calls, Parameter Store changes),
// SQS and SNS, and nothing of EC2 or the policy. AWS Organizations'
// CloudTrail events (an account moved or removed) sweep too. A CloudFormation
// custom resource request (the stack's ConnectionNotificationCleanup) is
// passed on whole: it asks for no reconcile.
//
// See https://docs.aws.amazon.com/vpc/latest/privatelink/configure-endpoint-service.html
// for connection notifications and
// https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-ssm.html for
// Parameter Store change events.
package trigger

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/events"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
)

// Kind names what woke the function; it is logged on every decision.
type Kind string

// The kinds of trigger.
const (
	Schedule     Kind = "schedule"
	CloudTrail   Kind = "cloudtrail"
	PolicyChange Kind = "policy-change"
	Notification Kind = "notification"
	// OrganizationChange is an account moved in, or removed from, the AWS
	// Organizations organization (CloudTrail, forwarded from the
	// management account).
	OrganizationChange Kind = "organization-change"
	// CustomResource is a CloudFormation custom resource request: the
	// stack being created, updated or deleted.
	CustomResource Kind = "custom-resource"
)

// OrganizationEvents are the AWS Organizations calls that change where
// accounts sit: each clears the memberships kept and sweeps. AcceptHandshake
// is an account accepting an invitation to join (as the management account
// records it).
var OrganizationEvents = []string{"MoveAccount", "RemoveAccountFromOrganization", "LeaveOrganization", "AcceptHandshake"}

// OrganizationServiceEvents are AWS Organizations' service events (detail
// type "AWS Service Event via CloudTrail") that change where accounts sit:
// CreateAccountResult, an account created in the organization.
var OrganizationServiceEvents = []string{"CreateAccountResult"}

// Source is the delivery channel, which decides the shape of the answer.
type Source string

// The delivery channels.
const (
	FromEventBridge Source = "eventbridge"
	FromSQS         Source = "sqs"
	FromSNS         Source = "sns"
	// FromCloudFormation is a custom resource request, answered by a PUT
	// to its ResponseURL.
	FromCloudFormation Source = "cloudformation"
)

// Target is one unit of work: a set of services, or all managed ones.
type Target struct {
	// ID identifies the SQS message for partial-batch answers; empty otherwise.
	ID string
	// All asks for every managed service.
	All bool
	// Services are the vpce-svc-... IDs named, sorted; only meaningful when
	// All is false. They are not yet filtered to the managed services.
	Services []string
}

// Trigger is the decoded work of one invocation.
type Trigger struct {
	Kind   Kind
	Source Source
	// ReloadPolicy asks for a fresh read of the policy (no cached copy).
	ReloadPolicy bool
	// ForgetMemberships asks to look accounts up in AWS Organizations
	// again (the policy or the organization changed).
	ForgetMemberships bool
	// Sweep marks a sweep of every managed service (the schedule and policy
	// changes): only a sweep revokes, lists the services and registers
	// their notifications. A notification or CloudTrail event names a
	// service, but says nothing about its accepted connections.
	Sweep bool
	// Ignored, when set, says why the event needs no work at all.
	Ignored string
	Targets []Target
	// Resource is the custom resource request of a CustomResource trigger.
	Resource *cfn.Event
}

// ErrUnsupported is wrapped by every error for a payload this function does
// not handle.
var ErrUnsupported = errors.New("unsupported event")

// envelope holds the members that tell the payload kinds apart. encoding/json
// matches keys case-insensitively, which serves here: SQS says "eventSource",
// SNS "EventSource".
type envelope struct {
	Records     []struct{ EventSource string } `json:"Records"`
	DetailType  string                         `json:"detail-type"`
	Source      string                         `json:"source"`
	RequestType string                         `json:"RequestType"`
	ResponseURL string                         `json:"ResponseURL"`
}

// Config is what decoding needs to know of the deployment.
type Config struct {
	// PolicyParameter is the SSM parameter (a name, a path, or a shared
	// parameter's ARN) that holds the policy: only a change of it reloads
	// the policy.
	PolicyParameter string
	// PolicyChangeTopicARN is the central topic that announces changes of
	// a shared policy: a message from it, through SQS, reloads the policy
	// and sweeps. Empty when there is none.
	PolicyChangeTopicARN string
}

// Decode reads a Lambda payload. policyParameter is the SSM parameter that
// holds the policy: only a change of it reloads the policy.
func Decode(payload []byte, policyParameter string) (Trigger, error) {
	return Config{PolicyParameter: policyParameter}.Decode(payload)
}

// Decode reads a Lambda payload.
func (c Config) Decode(payload []byte) (Trigger, error) {
	policyParameter := c.PolicyParameter
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return Trigger{}, fmt.Errorf("%w: the payload is not a JSON object: %v", ErrUnsupported, err)
	}
	switch {
	case env.Records != nil:
		return c.decodeRecords(payload, env)
	case env.DetailType != "" || env.Source != "":
		return decodeEventBridge(payload, policyParameter)
	case env.RequestType != "" || env.ResponseURL != "":
		return decodeCustomResource(payload)
	}
	return Trigger{}, fmt.Errorf("%w: no Records, detail-type, source or RequestType in a payload with keys %s", ErrUnsupported, keysOf(payload))
}

// decodeCustomResource reads a CloudFormation custom resource request. Its
// ResponseURL must be https (CloudFormation's pre-signed S3 URL): the
// function sends its answer nowhere else.
func decodeCustomResource(payload []byte) (Trigger, error) {
	var ev cfn.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Trigger{}, fmt.Errorf("%w: malformed custom resource request: %v", ErrUnsupported, err)
	}
	switch ev.RequestType {
	case cfn.RequestCreate, cfn.RequestUpdate, cfn.RequestDelete:
	default:
		return Trigger{}, fmt.Errorf("%w: custom resource request with RequestType %q (want Create, Update or Delete)", ErrUnsupported, ev.RequestType)
	}
	u, err := url.Parse(ev.ResponseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return Trigger{}, fmt.Errorf("%w: custom resource request with ResponseURL %q: want an https URL", ErrUnsupported, ev.ResponseURL)
	}
	if ev.StackID == "" || ev.RequestID == "" || ev.LogicalResourceID == "" {
		return Trigger{}, fmt.Errorf("%w: custom resource request without StackId, RequestId or LogicalResourceId", ErrUnsupported)
	}
	return Trigger{Kind: CustomResource, Source: FromCloudFormation, Resource: &ev}, nil
}

func (c Config) decodeRecords(payload []byte, env envelope) (Trigger, error) {
	if len(env.Records) == 0 {
		return Trigger{}, fmt.Errorf("%w: Records is empty", ErrUnsupported)
	}
	source := env.Records[0].EventSource
	for i, r := range env.Records {
		if r.EventSource != source {
			return Trigger{}, fmt.Errorf("%w: Records[%d] has eventSource %q, Records[0] %q", ErrUnsupported, i, r.EventSource, source)
		}
	}
	switch source {
	case "aws:sqs":
		var ev events.SQSEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return Trigger{}, fmt.Errorf("%w: malformed SQS event: %v", ErrUnsupported, err)
		}
		t := Trigger{Kind: Notification, Source: FromSQS}
		for i, m := range ev.Records {
			if m.MessageId == "" {
				return Trigger{}, fmt.Errorf("%w: SQS Records[%d] has no messageId", ErrUnsupported, i)
			}
			topic, message := unwrapSNS(m.Body)
			if c.isPolicyChange(topic, message) {
				// The central account's Parameter Store Change of the shared
				// policy: read it again and sweep, as a local change does.
				// Whoever may write to the queue can forge one, and cause
				// only that: a sweep now, which the schedule makes anyway.
				t.Kind, t.ReloadPolicy, t.ForgetMemberships, t.Sweep = PolicyChange, true, true, true
				t.Targets = append(t.Targets, Target{ID: m.MessageId, All: true})
				continue
			}
			t.Targets = append(t.Targets, notificationTarget(m.MessageId, message))
		}
		return t, nil
	case "aws:sns":
		var ev events.SNSEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return Trigger{}, fmt.Errorf("%w: malformed SNS event: %v", ErrUnsupported, err)
		}
		t := Trigger{Kind: Notification, Source: FromSNS}
		for _, r := range ev.Records {
			if c.isPolicyChange(r.SNS.TopicArn, r.SNS.Message) {
				t.Kind, t.ReloadPolicy, t.ForgetMemberships, t.Sweep = PolicyChange, true, true, true
				t.Targets = append(t.Targets, Target{All: true})
				continue
			}
			t.Targets = append(t.Targets, notificationTarget("", r.SNS.Message))
		}
		return t, nil
	}
	return Trigger{}, fmt.Errorf("%w: Records with eventSource %q (want aws:sqs or aws:sns)", ErrUnsupported, source)
}

// isPolicyChange reports whether a message from topic is the central
// topic's announcement of a change of the policy: a Parameter Store Change
// of that very parameter, in its own account and Region. Anything else from
// there is a plain wake-up.
func (c Config) isPolicyChange(topic, message string) bool {
	if c.PolicyChangeTopicARN == "" || topic != c.PolicyChangeTopicARN {
		return false
	}
	var ev events.EventBridgeEvent
	if json.Unmarshal([]byte(message), &ev) != nil || ev.DetailType != "Parameter Store Change" || ev.Source != "aws.ssm" {
		return false
	}
	var d struct {
		Name string `json:"name"`
	}
	return json.Unmarshal(ev.Detail, &d) == nil && IsPolicyParameter(d.Name, ev.AccountID, ev.Region, c.PolicyParameter)
}

// unwrapSNS returns the topic and message of an SNS envelope delivered
// through SQS, or no topic and the body itself under raw message delivery.
func unwrapSNS(body string) (topic, message string) {
	var n struct {
		Type     string  `json:"Type"`
		TopicArn string  `json:"TopicArn"`
		Message  *string `json:"Message"`
	}
	if json.Unmarshal([]byte(body), &n) == nil && n.Type == "Notification" && n.Message != nil {
		return n.TopicArn, *n.Message
	}
	return "", body
}

// notificationTarget reconciles the services a connection notification names,
// or every managed service when it names none: the message format is not
// documented, so a notification that names nothing still wakes a sweep.
func notificationTarget(id, message string) Target {
	services := awsid.ServiceIDsIn(message)
	return Target{ID: id, All: len(services) == 0, Services: services}
}

// cloudTrailDetail is the part of a CloudTrail API call event read here.
type cloudTrailDetail struct {
	EventSource       string          `json:"eventSource"`
	EventName         string          `json:"eventName"`
	RequestParameters json.RawMessage `json:"requestParameters"`
	ResponseElements  json.RawMessage `json:"responseElements"`
}

func decodeEventBridge(payload []byte, policyParameter string) (Trigger, error) {
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return Trigger{}, fmt.Errorf("%w: malformed EventBridge event: %v", ErrUnsupported, err)
	}
	switch {
	case ev.DetailType == "Scheduled Event" && ev.Source == "aws.events":
		return Trigger{Kind: Schedule, Source: FromEventBridge, Sweep: true, Targets: []Target{{All: true}}}, nil

	case ev.DetailType == "AWS API Call via CloudTrail" && ev.Source == "aws.ec2":
		var d cloudTrailDetail
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			return Trigger{}, fmt.Errorf("%w: malformed CloudTrail detail: %v", ErrUnsupported, err)
		}
		if d.EventName != "CreateVpcEndpoint" {
			return Trigger{}, fmt.Errorf("%w: CloudTrail event %q (only CreateVpcEndpoint is handled)", ErrUnsupported, d.EventName)
		}
		t := Trigger{Kind: CloudTrail, Source: FromEventBridge}
		services := awsid.ServiceIDsIn(string(d.RequestParameters) + " " + string(d.ResponseElements))
		if len(services) == 0 {
			// An endpoint to an AWS service (com.amazonaws.<region>.s3) or
			// to a service with a private DNS name: nothing of ours.
			t.Ignored = "CreateVpcEndpoint names no endpoint service ID"
			return t, nil
		}
		t.Targets = []Target{{Services: services}}
		return t, nil

	case ev.DetailType == "Parameter Store Change" && ev.Source == "aws.ssm":
		var d struct {
			Name      string `json:"name"`
			Operation string `json:"operation"`
		}
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			return Trigger{}, fmt.Errorf("%w: malformed Parameter Store Change detail: %v", ErrUnsupported, err)
		}
		t := Trigger{Kind: PolicyChange, Source: FromEventBridge}
		if !IsPolicyParameter(d.Name, ev.AccountID, ev.Region, policyParameter) {
			t.Ignored = fmt.Sprintf("parameter %q changed; the policy is %q", d.Name, policyParameter)
			return t, nil
		}
		t.ReloadPolicy, t.ForgetMemberships, t.Sweep = true, true, true
		t.Targets = []Target{{All: true}}
		return t, nil

	case ev.DetailType == "AWS API Call via CloudTrail" && ev.Source == "aws.organizations":
		var d cloudTrailDetail
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			return Trigger{}, fmt.Errorf("%w: malformed CloudTrail detail: %v", ErrUnsupported, err)
		}
		if !slices.Contains(OrganizationEvents, d.EventName) {
			return Trigger{}, fmt.Errorf("%w: AWS Organizations CloudTrail event %q (only %s are handled)", ErrUnsupported, d.EventName, strings.Join(OrganizationEvents, ", "))
		}
		// Whoever moved, every managed service is swept: the approver
		// looks the accounts up again.
		return organizationChange(), nil

	case ev.DetailType == "AWS Service Event via CloudTrail" && ev.Source == "aws.organizations":
		var d struct {
			EventName           string `json:"eventName"`
			ServiceEventDetails struct {
				CreateAccountStatus struct {
					State string `json:"state"`
				} `json:"createAccountStatus"`
			} `json:"serviceEventDetails"`
		}
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			return Trigger{}, fmt.Errorf("%w: malformed CloudTrail service event detail: %v", ErrUnsupported, err)
		}
		if !slices.Contains(OrganizationServiceEvents, d.EventName) {
			return Trigger{}, fmt.Errorf("%w: AWS Organizations service event %q (only %s are handled)", ErrUnsupported, d.EventName, strings.Join(OrganizationServiceEvents, ", "))
		}
		if state := d.ServiceEventDetails.CreateAccountStatus.State; state != "SUCCEEDED" {
			t := Trigger{Kind: OrganizationChange, Source: FromEventBridge}
			t.Ignored = fmt.Sprintf("CreateAccountResult in state %q: no account joined", state)
			return t, nil
		}
		return organizationChange(), nil
	}
	return Trigger{}, fmt.Errorf("%w: EventBridge event with detail-type %q from source %q", ErrUnsupported, ev.DetailType, ev.Source)
}

// organizationChange forgets the memberships kept and sweeps every managed
// service.
func organizationChange() Trigger {
	return Trigger{Kind: OrganizationChange, Source: FromEventBridge, ForgetMemberships: true, Sweep: true,
		Targets: []Target{{All: true}}}
}

// IsPolicyParameter reports whether a change of parameter name, in account
// and region (the event's), changes the policy held in policyParameter:
// that very parameter or, when policyParameter is a path (it ends in "/"),
// any parameter under it. A shared policy (an ARN) changes only with its
// own name, account and Region.
func IsPolicyParameter(name, account, region, policyParameter string) bool {
	if p, ok := awsid.ParseParameterARN(policyParameter); ok {
		return name == p.Name && account == p.Account && region == p.Region
	}
	if awsid.IsParameterPath(policyParameter) {
		return strings.HasPrefix(name, policyParameter)
	}
	return name == policyParameter
}

// keysOf lists the top-level keys of a JSON object for error messages,
// without echoing values that may be large or sensitive.
func keysOf(payload []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(payload, &m) != nil || len(m) == 0 {
		return "(none)"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

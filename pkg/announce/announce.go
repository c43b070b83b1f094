// Package announce tells people about decisions through an SNS topic, so
// email or chat subscribers can act on a request the policy leaves to them
// ("manual"), with the exact AWS CLI commands to do so.
//
// Each request is announced once: when a notification or CloudTrail event
// brings it (the event names its endpoint), or on a sweep when it was
// created within the last sweep period. A request still pending is not
// announced again every sweep: its age is the StalePendingAlarm's job.
// Nothing is announced in dry run.
package announce

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// SNSAPI is the part of the SNS client used.
type SNSAPI interface {
	Publish(ctx context.Context, params *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Config says what to announce and where.
type Config struct {
	// TopicARN is the SNS topic; empty disables announcements.
	TopicARN string
	// All announces every decision, not only manual ones.
	All bool
	// SweepPeriod is the time between sweeps: a sweep announces requests
	// created within the last period.
	SweepPeriod time.Duration
	// Region is the provider's region, for the commands in the message.
	Region string
}

// Announcer publishes decisions.
type Announcer struct {
	sns SNSAPI
	cfg Config
	log *slog.Logger
}

// New returns an Announcer; a nil log discards.
func New(client SNSAPI, cfg Config, log *slog.Logger) *Announcer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Announcer{sns: client, cfg: cfg, log: log}
}

// Event is what woke the function, as far as announcing goes.
type Event struct {
	// Sweep is true for the schedule and policy changes.
	Sweep bool
	// Endpoints are the endpoint IDs a notification or CloudTrail event
	// named: the requests it brings.
	Endpoints []string
}

// Select returns the decisions to announce for this event, at time now.
func (a *Announcer) Select(report *approver.Report, ev Event, now time.Time) []approver.Decision {
	if a.cfg.TopicARN == "" || report.DryRun {
		return nil
	}
	var out []approver.Decision
	for _, d := range report.Decisions {
		if d.Revoked || d.Result == approver.ResultGone {
			continue
		}
		if d.Action != policy.Manual && !a.cfg.All {
			continue
		}
		brought := slices.Contains(ev.Endpoints, d.EndpointID)
		recent := ev.Sweep && !d.Created.IsZero() && now.Sub(d.Created) < a.cfg.SweepPeriod
		if brought || recent {
			out = append(out, d)
		}
	}
	return out
}

// Announce publishes each selected decision as one message. A failed
// publish is logged and does not fail the invocation: the decisions stand,
// and the pending-age alarm still catches a request nobody was told about.
func (a *Announcer) Announce(ctx context.Context, report *approver.Report, ev Event, now time.Time) {
	for _, d := range a.Select(report, ev, now) {
		subject, body := Message(d, a.cfg.Region)
		_, err := a.sns.Publish(ctx, &sns.PublishInput{
			TopicArn: aws.String(a.cfg.TopicARN),
			Subject:  aws.String(subject),
			Message:  aws.String(body),
		})
		if err != nil {
			a.log.ErrorContext(ctx, "announce failed", "serviceId", d.ServiceID, "endpointId", d.EndpointID, "error", err.Error())
			continue
		}
		a.log.InfoContext(ctx, "announced", "serviceId", d.ServiceID, "endpointId", d.EndpointID, "action", string(d.Action))
	}
}

// Message renders a decision as an SNS subject (at most 100 characters) and
// a plain-text body that names the consumer account, the endpoint, the
// service, the rule, and the exact commands to act.
func Message(d approver.Decision, region string) (subject, body string) {
	accept := fmt.Sprintf("aws ec2 accept-vpc-endpoint-connections --region %s --service-id %s --vpc-endpoint-ids %s", region, d.ServiceID, d.EndpointID)
	reject := fmt.Sprintf("aws ec2 reject-vpc-endpoint-connections --region %s --service-id %s --vpc-endpoint-ids %s", region, d.ServiceID, d.EndpointID)

	var b strings.Builder
	switch {
	case d.Action == policy.Manual:
		subject = "PrivateLink request waits for you: " + d.Owner + " to " + d.ServiceID
		b.WriteString("A VPC endpoint connection request waits for a person: the policy leaves it to you.\n\n")
	case d.Error != "":
		subject = "PrivateLink request not " + past(d.Action) + ": " + d.Owner + " to " + d.ServiceID
		b.WriteString("The policy decided to " + string(d.Action) + " a VPC endpoint connection request, but EC2 refused.\n\n")
	default:
		subject = "PrivateLink request " + past(d.Action) + ": " + d.Owner + " to " + d.ServiceID
		b.WriteString("A VPC endpoint connection request was " + past(d.Action) + " by the policy.\n\n")
	}
	fmt.Fprintf(&b, "  Consumer account: %s\n", d.Owner)
	fmt.Fprintf(&b, "  Endpoint:         %s (in %s)\n", d.EndpointID, d.Region)
	fmt.Fprintf(&b, "  Service:          %s\n", d.ServiceID)
	if !d.Created.IsZero() {
		fmt.Fprintf(&b, "  Requested:        %s\n", d.Created.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "  Rule:             %s\n", d.Rule)
	fmt.Fprintf(&b, "  Why:              %s\n", d.Reason)
	fmt.Fprintf(&b, "  Policy:           %s (version %s)\n", d.PolicyParameter, d.PolicyVersion)
	if d.Error != "" {
		fmt.Fprintf(&b, "  Error:            %s\n", d.Error)
	}
	b.WriteString("\n")
	switch {
	case d.Action == policy.Accept && d.Error == "":
		b.WriteString("To revoke it:\n  " + reject + "\n")
	case d.Action == policy.Reject && d.Error == "":
		b.WriteString("A rejected request cannot be accepted: the consumer must create a new endpoint, after you allow the account in the policy.\n")
	default:
		b.WriteString("To accept it:\n  " + accept + "\n\nTo reject it:\n  " + reject + "\n")
	}
	b.WriteString("\nTo decide such requests for good, change the policy (approverctl policy push).\n")
	if len(subject) > 100 {
		subject = subject[:100]
	}
	return subject, b.String()
}

func past(a policy.Action) string {
	if a == policy.Accept {
		return "accepted"
	}
	return "rejected"
}

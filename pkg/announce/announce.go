// Package announce tells people about decisions through an SNS topic, so
// email or chat subscribers can act on a request the policy leaves to them
// ("manual"), with the exact AWS CLI commands to do so.
//
// Each request is announced once, without a database: after a manual
// request is published, its pending connection is tagged
// privatelink-approver:announced-at, and a connection that carries the tag
// is never announced again. Every manual request any reconcile finds
// without it is announced, so requests created while the policy was broken
// are announced once it is fixed. With All, applied decisions are announced
// when the function applies them (once: the connection is then no longer
// pending), and failed ones once, by the same tag.
//
// Where EC2 refuses to tag a pending connection, the announcer falls back,
// for the life of the execution environment, to announcing on sweeps only
// the requests created within the last sweep period. Nothing is announced
// in dry run.
package announce

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
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

// Marker tags announced connections; *approver.Approver is one.
type Marker interface {
	MarkAnnounced(ctx context.Context, connectionIDs []string, t time.Time) error
}

// Config says what to announce and where.
type Config struct {
	// TopicARN is the SNS topic; empty disables announcements.
	TopicARN string
	// All announces every decision, not only manual ones.
	All bool
	// SweepPeriod is the time between sweeps: without announced-at tags, a
	// sweep announces the requests created within the last period.
	SweepPeriod time.Duration
	// Region is the provider's region, for the commands in the message.
	Region string
}

// Announcer publishes decisions.
type Announcer struct {
	sns    SNSAPI
	marker Marker
	cfg    Config
	log    *slog.Logger
	// untaggable is set once EC2 refused to tag a pending connection.
	untaggable atomic.Bool
}

// New returns an Announcer; a nil log discards.
func New(client SNSAPI, marker Marker, cfg Config, log *slog.Logger) *Announcer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Announcer{sns: client, marker: marker, cfg: cfg, log: log}
}

// Event is what woke the function, as far as announcing goes.
type Event struct {
	// Sweep is true for the schedule and policy changes.
	Sweep bool
}

// Select returns the indexes in report.Decisions of the decisions to
// announce for this event, at time now.
func (a *Announcer) Select(report *approver.Report, ev Event, now time.Time) []int {
	if a.cfg.TopicARN == "" || report.DryRun {
		return nil
	}
	var out []int
	for i, d := range report.Decisions {
		switch {
		case d.MembershipFailed, d.Result == approver.ResultLeftPending && !d.LeftToPerson():
			// Undecided (a failed lookup, a held part) or left for the
			// next sweep: announced once it is decided (and
			// MembershipErrorAlarm or PolicyPartsRefusedAlarm tells the
			// operators meanwhile).
		case d.Applied():
			// Applied once: the connection is pending no more.
			if a.cfg.All {
				out = append(out, i)
			}
		case d.Result == approver.ResultLeftPending || a.cfg.All && d.Result == approver.ResultFailed:
			if a.once(d, ev, now) {
				out = append(out, i)
			}
		}
	}
	return out
}

// once reports whether a request still pending is to be announced: when it
// carries no announced-at tag or, where tags cannot be had, when a sweep
// finds it created within the last sweep period.
func (a *Announcer) once(d approver.Outcome, ev Event, now time.Time) bool {
	if !a.untaggable.Load() && d.ConnectionID != "" {
		return d.AnnouncedAt == ""
	}
	return ev.Sweep && !d.Created.IsZero() && now.Sub(d.Created) < a.cfg.SweepPeriod
}

// Announce publishes each selected decision as one message, then tags the
// announced requests that are still pending, in one call. A failed publish
// is logged: a pending request is announced by a later reconcile, an
// applied decision is not announced again. A failed tag is logged on the
// decision (StampError) and means the request may be announced again. Neither fails the invocation: the decisions stand, and
// the pending-age alarm still catches a request nobody was told about.
func (a *Announcer) Announce(ctx context.Context, report *approver.Report, ev Event, now time.Time) {
	var marks []int
	for _, i := range a.Select(report, ev, now) {
		d := report.Decisions[i]
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
		a.log.InfoContext(ctx, "announced", "serviceId", d.ServiceID, "endpointId", d.EndpointID, "action", string(d.Action), "result", d.Result)
		if !d.Applied() && d.ConnectionID != "" && !a.untaggable.Load() {
			marks = append(marks, i)
		}
	}
	if len(marks) == 0 || a.marker == nil {
		return
	}
	ids := make([]string, len(marks))
	for j, i := range marks {
		ids[j] = report.Decisions[i].ConnectionID
	}
	err := a.marker.MarkAnnounced(ctx, ids, now)
	if err == nil {
		for _, i := range marks {
			report.Decisions[i].AnnouncedAt = approver.StampTime(now)
		}
		return
	}
	if approver.TagRefused(err) {
		a.untaggable.Store(true)
		a.log.WarnContext(ctx, "EC2 refuses to tag pending connections: from now on a sweep announces only the requests created within the last sweep period",
			"error", err.Error())
	}
	a.log.ErrorContext(ctx, "announced requests not marked: they may be announced again", "connections", len(ids), "error", err.Error())
	for _, i := range marks {
		report.Decisions[i].StampError = "tag announced-at: " + err.Error()
	}
}

// Message renders a decision as an SNS subject (at most 100 characters) and
// a plain-text body that names the consumer account, the endpoint, the
// service, the rule, and the exact commands to act.
func Message(d approver.Outcome, region string) (subject, body string) {
	person := func(verb string) string {
		return fmt.Sprintf("approverctl %s --region %s --service %s --reason \"...\" %s", verb, region, d.ServiceID, d.EndpointID)
	}
	raw := func(verb string) string {
		return fmt.Sprintf("aws ec2 %s-vpc-endpoint-connections --region %s --service-id %s --vpc-endpoint-ids %s", verb, region, d.ServiceID, d.EndpointID)
	}
	commands := func(verbs ...string) string {
		var c strings.Builder
		for _, v := range verbs {
			fmt.Fprintf(&c, "To %s it:\n  %s\n  (or, not stamped as yours: %s)\n\n", v, person(v), raw(v))
		}
		return c.String()
	}

	var b strings.Builder
	switch {
	case d.Action == policy.Manual:
		subject = "PrivateLink request waits for you: " + d.Owner + " to " + d.ServiceID
		b.WriteString("A VPC endpoint connection request waits for a person: the policy leaves it to you.\n\n")
	case d.Result == approver.ResultFailed:
		subject = "PrivateLink request not " + past(d) + ": " + d.Owner + " to " + d.ServiceID
		b.WriteString("The policy decided to " + verb(d) + " a VPC endpoint connection, but EC2 refused.\n\n")
	case d.Revoked:
		subject = "PrivateLink connection revoked: " + d.Owner + " to " + d.ServiceID
		b.WriteString("An accepted VPC endpoint connection was revoked by the policy: its consumer is cut off.\n\n")
	default:
		subject = "PrivateLink request " + past(d) + ": " + d.Owner + " to " + d.ServiceID
		b.WriteString("A VPC endpoint connection request was " + past(d) + " by the policy.\n\n")
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
	if d.Result == approver.ResultFailed {
		fmt.Fprintf(&b, "  Error:            %s %s\n", d.ErrorCode, d.Detail)
	}
	b.WriteString("\n")
	switch {
	case d.Result == approver.ResultFailed && d.Revoked:
		b.WriteString(commands("reject"))
	case d.Action == policy.Accept && d.Result != approver.ResultFailed:
		b.WriteString(strings.Replace(commands("reject"), "To reject it", "To revoke it", 1))
	case d.Action == policy.Reject && d.Result != approver.ResultFailed:
		b.WriteString("A rejected connection cannot be accepted again: the consumer must create a new endpoint, after you allow the account in the policy.\n\n")
	default:
		b.WriteString(commands("accept", "reject"))
	}
	b.WriteString("To decide such requests for good, change the policy (approverctl policy plan, then push).\n")
	if len(subject) > 100 {
		subject = subject[:100]
	}
	return subject, b.String()
}

func past(d approver.Outcome) string {
	switch {
	case d.Revoked:
		return "revoked"
	case d.Action == policy.Accept:
		return "accepted"
	default:
		return "rejected"
	}
}

func verb(d approver.Outcome) string {
	if d.Revoked {
		return "revoke"
	}
	return string(d.Action)
}

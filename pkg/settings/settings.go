// Package settings reads the approver's configuration from environment
// variables, once, at start. Every problem is reported together, each naming
// its variable, so a bad deploy fails during init with one clear message.
package settings

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
)

// Names of the environment variables the function and the CLI read. Each
// comment is the variable's entry in the reference (docs/deploy.md, make
// docs): the template sets every one of them from its parameters.
const (
	// EnvPolicyParameter (required): the SSM parameter that holds the
	// policy. Letters, digits, `_`, `.`, `-` and `/`, at most 2,048
	// characters. A path ending in `/` means the root part `<path>root`
	// and the parts it delegates to. Or the ARN of a parameter another
	// account shares (`arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME`,
	// in the function's Region; not a path).
	EnvPolicyParameter = "POLICY_PARAMETER"
	// EnvPolicyChangeTopicARN (default empty): the central SNS topic that
	// announces every change of a shared policy (org/central-policy.yaml).
	// A message from it, delivered through the stack's queue, reads the
	// policy again and sweeps, as a local Parameter Store Change does.
	EnvPolicyChangeTopicARN = "POLICY_CHANGE_TOPIC_ARN"
	// EnvDecisionEvents (default `true`): `true` puts each applied decision
	// (accepted, rejected, revoked) on the account's default EventBridge
	// bus: source `privatelink-approver`, detail-type `PrivateLink
	// Connection Decision`, the decision line as detail. `false` puts none.
	// `true` or `false`, in any case.
	EnvDecisionEvents = "DECISION_EVENTS"
	// EnvServiceIDs (default empty): comma-separated endpoint service IDs
	// to manage. Spaces around IDs, empty members and duplicates are
	// ignored. Takes precedence over SERVICE_TAG.
	EnvServiceIDs = "SERVICE_IDS"
	// EnvDryRun (default `false`): `true` decides and logs but never
	// accepts, rejects or registers anything. `true` or `false`, in any
	// case.
	EnvDryRun = "DRY_RUN"
	// EnvPolicyCacheSeconds (default `60`): whole seconds a valid policy is
	// reused by a warm function for invocations that find nothing to act
	// on; before acting, a cached policy is always read again. `0`
	// disables the cache.
	EnvPolicyCacheSeconds = "POLICY_CACHE_SECONDS"
	// EnvDecisionTopicARN (default empty): the SNS topic requests left to
	// a person (and, with PUBLISH_ALL_DECISIONS, every applied decision)
	// are announced on. Empty announces nothing.
	EnvDecisionTopicARN = "DECISION_TOPIC_ARN"
	// EnvPublishAll (default `false`): `true` announces every applied
	// decision on DECISION_TOPIC_ARN, not only the requests left to a
	// person.
	EnvPublishAll = "PUBLISH_ALL_DECISIONS"
	// EnvSweepPeriodSeconds (default `300`): the schedule's period in
	// whole seconds: how long the list of managed services and the
	// services' Regions are kept, and the announcement window when
	// connections cannot be tagged.
	EnvSweepPeriodSeconds = "SWEEP_PERIOD_SECONDS"
	// EnvServiceTag (default empty): with SERVICE_IDS empty, `key=value`,
	// or `key` for any value: the managed services are those of the
	// account and Region that carry the tag. Empty (and no SERVICE_IDS):
	// the services that require acceptance.
	EnvServiceTag = "SERVICE_TAG"
	// EnvConnectionTopicARN (default empty): the SNS topic of the stack's
	// connection notifications. Each sweep registers a `Connect`
	// notification on it for every managed service that has none; the
	// stack's deletion removes them.
	EnvConnectionTopicARN = "CONNECTION_TOPIC_ARN"
	// EnvOrganizationRole (default empty): an IAM role ARN the function
	// assumes for every AWS Organizations call (rules by organization or
	// OU). Empty: its own role.
	EnvOrganizationRole = "ORGANIZATION_ROLE_ARN"
	// EnvMembershipCache (default `300`): whole seconds, 0 to 3600, that
	// accounts' places in the organization are kept by a warm function.
	// `0` keeps them for one invocation.
	EnvMembershipCache = "MEMBERSHIP_CACHE_SECONDS"
)

// DefaultMembershipCache is how long accounts' places in the organization
// are kept when MEMBERSHIP_CACHE_SECONDS is unset; MaxMembershipCache is the
// longest it may be.
const (
	DefaultMembershipCache = 300 * time.Second
	MaxMembershipCache     = time.Hour
)

// DefaultSweepPeriod is the sweep period when SWEEP_PERIOD_SECONDS is unset:
// the template's default schedule.
const DefaultSweepPeriod = 5 * time.Minute

// DefaultPolicyCache is how long a parsed policy is reused across warm
// invocations when POLICY_CACHE_SECONDS is unset.
const DefaultPolicyCache = 60 * time.Second

// isTopicARN reports whether s is an SNS topic ARN:
// arn:<partition>:sns:<region>:<account>:<name>, the name 1 to 256 letters,
// digits, "_", "." or "-".
func isTopicARN(s string) bool {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "sns" || a.Region == "" || !awsid.IsAccount(a.AccountID) || len(a.Resource) > 256 {
		return false
	}
	name := strings.TrimRight(a.Resource, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
	return a.Resource != "" && name == ""
}

// IsRoleARN reports whether s is an IAM role ARN:
// arn:<partition>:iam::<account>:role/<optional path/><name>.
func IsRoleARN(s string) bool {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "iam" || a.Region != "" || !awsid.IsAccount(a.AccountID) {
		return false
	}
	name, ok := strings.CutPrefix(a.Resource, "role/")
	return ok && name != "" && !strings.HasSuffix(name, "/") && len(name) <= 512
}

// ParseRoleARN reads a role ARN setting or flag named name: "" when empty.
func ParseRoleARN(name, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v != "" && !IsRoleARN(v) {
		return "", fmt.Errorf("%s %q is not an IAM role ARN (arn:<partition>:iam::<account>:role/<name>)", name, v)
	}
	return v, nil
}

// Settings is the validated configuration.
type Settings struct {
	// PolicyParameter is the SSM parameter that holds the policy, or, when
	// it ends in "/", the path whose parameters together hold it.
	PolicyParameter string
	// ServiceIDs are the endpoint services managed. When empty, ServiceTag
	// chooses them, or, without it, every endpoint service of the account
	// that requires acceptance is managed.
	ServiceIDs []string
	// ServiceTag is SERVICE_TAG, key=value or key (any value); nil when
	// unset.
	ServiceTag *awsid.TagFilter
	// DryRun decides and logs but never calls Accept or Reject.
	DryRun bool
	// PolicyCache is how long a loaded policy is reused; 0 disables caching.
	PolicyCache time.Duration
	// DecisionTopicARN is the SNS topic decisions are announced on; empty
	// announces nothing.
	DecisionTopicARN string
	// ConnectionTopicARN is the SNS topic of the stack's connection
	// notifications: without SERVICE_IDS, sweeps register a notification
	// on it for every managed service. Empty registers none.
	ConnectionTopicARN string
	// PolicyChangeTopicARN is the central topic announcing changes of a
	// shared policy; empty when there is none.
	PolicyChangeTopicARN string
	// DecisionEvents puts each applied decision on the default EventBridge
	// bus.
	DecisionEvents bool
	// PublishAll announces every decision, not only manual ones.
	PublishAll bool
	// SweepPeriod is the time between scheduled sweeps.
	SweepPeriod time.Duration
	// OrganizationRole is the role assumed for every AWS Organizations
	// call; empty uses the function's own role.
	OrganizationRole string
	// MembershipCache is how long accounts' places in the organization are
	// kept; 0 keeps them for one invocation only.
	MembershipCache time.Duration
}

// ParseServiceTag reads SERVICE_TAG: key=value, or key for any value; nil
// when empty.
func ParseServiceTag(v string) (*awsid.TagFilter, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	f, err := awsid.ParseTagFilter(v)
	if err != nil {
		return nil, fmt.Errorf("%s %w", EnvServiceTag, err)
	}
	return &f, nil
}

// FromEnv reads Settings through getenv (os.Getenv in main, a map in tests).
func FromEnv(getenv func(string) string) (Settings, error) {
	var s Settings
	var problems []error

	s.PolicyParameter = strings.TrimSpace(getenv(EnvPolicyParameter))
	switch {
	case s.PolicyParameter == "":
		problems = append(problems, fmt.Errorf("%s is required: the name of the SSM parameter that holds the policy", EnvPolicyParameter))
	case strings.HasPrefix(s.PolicyParameter, "arn:"):
		p, ok := awsid.ParseParameterARN(s.PolicyParameter)
		region := strings.TrimSpace(getenv("AWS_REGION"))
		switch {
		case !ok:
			problems = append(problems, fmt.Errorf("%s %q is not an SSM parameter ARN (arn:<partition>:ssm:<region>:<account>:parameter/<name>)", EnvPolicyParameter, s.PolicyParameter))
		case awsid.IsParameterPath(p.Name):
			problems = append(problems, fmt.Errorf("%s %q: a path policy stays in one account: name a single shared parameter", EnvPolicyParameter, s.PolicyParameter))
		case region != "" && p.Region != region:
			problems = append(problems, fmt.Errorf("%s %q is in %s: a shared parameter is read in its own Region only (the function runs in %s)", EnvPolicyParameter, s.PolicyParameter, p.Region, region))
		}
	case !awsid.IsParameterName(s.PolicyParameter):
		problems = append(problems, fmt.Errorf("%s %q is not a valid SSM parameter name", EnvPolicyParameter, s.PolicyParameter))
	case awsid.IsParameterPath(s.PolicyParameter) && (!strings.HasPrefix(s.PolicyParameter, "/") || len(s.PolicyParameter) < 3 || strings.Contains(s.PolicyParameter, "//")):
		problems = append(problems, fmt.Errorf("%s %q: a path must look like /name/ or /a/b/ (leading and trailing slash)", EnvPolicyParameter, s.PolicyParameter))
	}

	ids, err := ParseServiceIDs(getenv(EnvServiceIDs))
	if err != nil {
		problems = append(problems, err)
	}
	s.ServiceIDs = ids
	if s.ServiceTag, err = ParseServiceTag(getenv(EnvServiceTag)); err != nil {
		problems = append(problems, err)
	}

	var err2 error
	if s.DryRun, err2 = boolean(getenv, EnvDryRun); err2 != nil {
		problems = append(problems, err2)
	}
	if s.PublishAll, err2 = boolean(getenv, EnvPublishAll); err2 != nil {
		problems = append(problems, err2)
	}
	if s.DecisionEvents, err2 = booleanOr(getenv, EnvDecisionEvents, true); err2 != nil {
		problems = append(problems, err2)
	}
	for _, topic := range []struct {
		name  string
		value *string
	}{{EnvDecisionTopicARN, &s.DecisionTopicARN}, {EnvConnectionTopicARN, &s.ConnectionTopicARN}, {EnvPolicyChangeTopicARN, &s.PolicyChangeTopicARN}} {
		*topic.value = strings.TrimSpace(getenv(topic.name))
		if *topic.value != "" && !isTopicARN(*topic.value) {
			problems = append(problems, fmt.Errorf("%s %q is not an SNS topic ARN (arn:<partition>:sns:<region>:<account>:<name>)", topic.name, *topic.value))
		}
	}
	s.SweepPeriod = DefaultSweepPeriod
	if v := strings.TrimSpace(getenv(EnvSweepPeriodSeconds)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 60 {
			problems = append(problems, fmt.Errorf("%s %q must be a whole number of seconds, 60 or more (EventBridge schedules run at most every minute)", EnvSweepPeriodSeconds, v))
		} else {
			s.SweepPeriod = time.Duration(n) * time.Second
		}
	}

	s.PolicyCache = DefaultPolicyCache
	if v := strings.TrimSpace(getenv(EnvPolicyCacheSeconds)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			problems = append(problems, fmt.Errorf("%s %q must be a whole number of seconds, 0 or more", EnvPolicyCacheSeconds, v))
		} else {
			s.PolicyCache = time.Duration(n) * time.Second
		}
	}

	if s.OrganizationRole, err = ParseRoleARN(EnvOrganizationRole, getenv(EnvOrganizationRole)); err != nil {
		problems = append(problems, err)
	}
	s.MembershipCache = DefaultMembershipCache
	if v := strings.TrimSpace(getenv(EnvMembershipCache)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > int(MaxMembershipCache/time.Second) {
			problems = append(problems, fmt.Errorf("%s %q must be a whole number of seconds from 0 to %d", EnvMembershipCache, v, int(MaxMembershipCache.Seconds())))
		} else {
			s.MembershipCache = time.Duration(n) * time.Second
		}
	}

	if len(problems) > 0 {
		return Settings{}, fmt.Errorf("invalid settings: %w", errors.Join(problems...))
	}
	return s, nil
}

// boolean reads an optional true/false variable, in any case.
func boolean(getenv func(string) string, name string) (bool, error) {
	return booleanOr(getenv, name, false)
}

// booleanOr reads a true/false setting, in any case; unset is def.
func booleanOr(getenv func(string) string, name string, def bool) (bool, error) {
	switch v := strings.TrimSpace(getenv(name)); strings.ToLower(v) {
	case "":
		return def, nil
	case "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, fmt.Errorf("%s %q must be true or false", name, v)
	}
}

// ParseServiceIDs reads a comma-separated list of endpoint service IDs, as
// SERVICE_IDS and the CLI's flags hold them. Empty means none named.
func ParseServiceIDs(v string) ([]string, error) {
	var ids, bad []string
	seen := map[string]bool{}
	for _, id := range strings.Split(v, ",") {
		id = strings.TrimSpace(id)
		switch {
		case id == "" || seen[id]:
		case !awsid.IsServiceID(id):
			bad = append(bad, strconv.Quote(id))
		default:
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: not endpoint service IDs (vpce-svc- and 8 to 17 lowercase hex digits): %s", EnvServiceIDs, strings.Join(bad, ", "))
	}
	return ids, nil
}

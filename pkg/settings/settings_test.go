package settings_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/settings"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    settings.Settings
		wantErr []string // each must appear in the error
	}{
		{"minimal", map[string]string{"POLICY_PARAMETER": "/privatelink/policy"},
			settings.Settings{DecisionEvents: true, PolicyParameter: "/privatelink/policy", PolicyCache: time.Minute, SweepPeriod: 5 * time.Minute}, nil},
		{"everything", map[string]string{
			"POLICY_PARAMETER": "policy", "SERVICE_IDS": " vpce-svc-0aaaaaaaaaaaaaaaa, vpce-svc-0bbbbbbbbbbbbbbbb,vpce-svc-0aaaaaaaaaaaaaaaa,",
			"DRY_RUN": "TRUE", "POLICY_CACHE_SECONDS": "0", "DECISION_TOPIC_ARN": "arn:aws-us-gov:sns:us-gov-west-1:123456789012:decisions",
			"PUBLISH_ALL_DECISIONS": "true", "SWEEP_PERIOD_SECONDS": "60", "CONNECTION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:connections"},
			settings.Settings{DecisionEvents: true, PolicyParameter: "policy", ServiceIDs: []string{"vpce-svc-0aaaaaaaaaaaaaaaa", "vpce-svc-0bbbbbbbbbbbbbbbb"}, DryRun: true,
				DecisionTopicARN: "arn:aws-us-gov:sns:us-gov-west-1:123456789012:decisions", PublishAll: true, SweepPeriod: time.Minute,
				ConnectionTopicARN: "arn:aws:sns:us-east-1:123456789012:connections"}, nil},
		{"a service tag", map[string]string{"POLICY_PARAMETER": "p", "SERVICE_TAG": " privatelink-approver=managed "},
			settings.Settings{DecisionEvents: true, PolicyParameter: "p", PolicyCache: time.Minute, SweepPeriod: 5 * time.Minute,
				ServiceTag: &awsid.TagFilter{Key: "privatelink-approver", Value: "managed"}}, nil},
		{"a service tag with any value", map[string]string{"POLICY_PARAMETER": "p", "SERVICE_TAG": "team"},
			settings.Settings{DecisionEvents: true, PolicyParameter: "p", PolicyCache: time.Minute, SweepPeriod: 5 * time.Minute,
				ServiceTag: &awsid.TagFilter{Key: "team", AnyValue: true}}, nil},
		{"a service tag with an empty value", map[string]string{"POLICY_PARAMETER": "p", "SERVICE_TAG": "team="},
			settings.Settings{DecisionEvents: true, PolicyParameter: "p", PolicyCache: time.Minute, SweepPeriod: 5 * time.Minute,
				ServiceTag: &awsid.TagFilter{Key: "team"}}, nil},
		{"bad service tags", map[string]string{"POLICY_PARAMETER": "p", "SERVICE_TAG": "=x"}, settings.Settings{}, []string{`SERVICE_TAG "=x": the tag key must be`}},
		{"an AWS tag", map[string]string{"POLICY_PARAMETER": "p", "SERVICE_TAG": "aws:cloudformation:stack-name"}, settings.Settings{}, []string{"SERVICE_TAG", "aws:"}},
		{"a value with = or a quote", map[string]string{"POLICY_PARAMETER": "p", "SERVICE_TAG": `team=a=b"`}, settings.Settings{}, []string{"SERVICE_TAG", "letters, digits, spaces"}},
		{"dry run false", map[string]string{"POLICY_PARAMETER": "p", "DRY_RUN": "false"},
			settings.Settings{DecisionEvents: true, PolicyParameter: "p", PolicyCache: time.Minute, SweepPeriod: 5 * time.Minute}, nil},
		{"a path", map[string]string{"POLICY_PARAMETER": "/privatelink/policies/"},
			settings.Settings{DecisionEvents: true, PolicyParameter: "/privatelink/policies/", PolicyCache: time.Minute, SweepPeriod: 5 * time.Minute}, nil},
		{"a path without a leading slash", map[string]string{"POLICY_PARAMETER": "policies/"}, settings.Settings{}, []string{"POLICY_PARAMETER", "a path must look like"}},
		{"the root is no path", map[string]string{"POLICY_PARAMETER": "/"}, settings.Settings{}, []string{"a path must look like"}},
		{"a shared policy by ARN, and its change topic", map[string]string{"AWS_REGION": "eu-west-1",
			"POLICY_PARAMETER":        "arn:aws:ssm:eu-west-1:999988887777:parameter/privatelink/policy",
			"POLICY_CHANGE_TOPIC_ARN": "arn:aws:sns:eu-west-1:999988887777:policy-changes"},
			settings.Settings{DecisionEvents: true, PolicyParameter: "arn:aws:ssm:eu-west-1:999988887777:parameter/privatelink/policy", PolicyCache: time.Minute, SweepPeriod: 5 * time.Minute,
				PolicyChangeTopicARN: "arn:aws:sns:eu-west-1:999988887777:policy-changes"}, nil},
		{"a shared policy in another Region", map[string]string{"AWS_REGION": "us-east-1", "POLICY_PARAMETER": "arn:aws:ssm:eu-west-1:999988887777:parameter/p"},
			settings.Settings{}, []string{"is in eu-west-1: a shared parameter is read in its own Region only"}},
		{"a shared path", map[string]string{"POLICY_PARAMETER": "arn:aws:ssm:eu-west-1:999988887777:parameter/policies/"},
			settings.Settings{}, []string{"a path policy stays in one account"}},
		{"not a parameter ARN", map[string]string{"POLICY_PARAMETER": "arn:aws:sns:eu-west-1:999988887777:policy", "POLICY_CHANGE_TOPIC_ARN": "topic"},
			settings.Settings{}, []string{"is not an SSM parameter ARN", `POLICY_CHANGE_TOPIC_ARN "topic"`}},
		{"no decision events", map[string]string{"POLICY_PARAMETER": "p", "DECISION_EVENTS": " FALSE "},
			settings.Settings{PolicyParameter: "p", PolicyCache: time.Minute, SweepPeriod: 5 * time.Minute}, nil},
		{"bad decision events", map[string]string{"POLICY_PARAMETER": "p", "DECISION_EVENTS": "maybe"},
			settings.Settings{}, []string{`DECISION_EVENTS "maybe" must be true or false`}},
		{"missing parameter", map[string]string{}, settings.Settings{}, []string{"POLICY_PARAMETER is required"}},
		{"bad parameter name", map[string]string{"POLICY_PARAMETER": "my policy"}, settings.Settings{}, []string{"POLICY_PARAMETER", `"my policy"`}},
		{"bad announcement settings", map[string]string{"POLICY_PARAMETER": "p", "DECISION_TOPIC_ARN": "decisions", "PUBLISH_ALL_DECISIONS": "1", "SWEEP_PERIOD_SECONDS": "30",
			"CONNECTION_TOPIC_ARN": "arn:aws:sqs:us-east-1:123456789012:q"},
			settings.Settings{}, []string{`DECISION_TOPIC_ARN "decisions"`, `PUBLISH_ALL_DECISIONS "1"`, `SWEEP_PERIOD_SECONDS "30"`, `CONNECTION_TOPIC_ARN "arn:aws:sqs`}},
		{"an organization role and a membership cache", map[string]string{"POLICY_PARAMETER": "p",
			"ORGANIZATION_ROLE_ARN": " arn:aws:iam::111122223333:role/privatelink/org-reader ", "MEMBERSHIP_CACHE_SECONDS": "3600"},
			settings.Settings{DecisionEvents: true, PolicyParameter: "p", PolicyCache: time.Minute, SweepPeriod: 5 * time.Minute,
				OrganizationRole: "arn:aws:iam::111122223333:role/privatelink/org-reader", MembershipCache: time.Hour}, nil},
		{"no membership cache", map[string]string{"POLICY_PARAMETER": "p", "MEMBERSHIP_CACHE_SECONDS": "0"},
			settings.Settings{DecisionEvents: true, PolicyParameter: "p", PolicyCache: time.Minute, SweepPeriod: 5 * time.Minute}, nil},
		{"bad organization settings", map[string]string{"POLICY_PARAMETER": "p",
			"ORGANIZATION_ROLE_ARN": "arn:aws:iam::111122223333:user/alice", "MEMBERSHIP_CACHE_SECONDS": "3601"},
			settings.Settings{}, []string{`ORGANIZATION_ROLE_ARN "arn:aws:iam::111122223333:user/alice" is not an IAM role ARN`, `MEMBERSHIP_CACHE_SECONDS "3601" must be a whole number of seconds from 0 to 3600`}},
		{"a role name is no role ARN", map[string]string{"POLICY_PARAMETER": "p", "ORGANIZATION_ROLE_ARN": "org-reader"},
			settings.Settings{}, []string{"ORGANIZATION_ROLE_ARN", "not an IAM role ARN"}},
		{"a negative membership cache", map[string]string{"POLICY_PARAMETER": "p", "MEMBERSHIP_CACHE_SECONDS": "-5"},
			settings.Settings{}, []string{`MEMBERSHIP_CACHE_SECONDS "-5"`}},
		{"every problem at once", map[string]string{"SERVICE_IDS": "vpce-svc-0aaaaaaaaaaaaaaaa,svc-2,vpce-svc-XYZ", "DRY_RUN": "yes", "POLICY_CACHE_SECONDS": "-1"},
			settings.Settings{}, []string{"POLICY_PARAMETER is required", "SERVICE_IDS", `"svc-2"`, `"vpce-svc-XYZ"`, `DRY_RUN "yes"`, `POLICY_CACHE_SECONDS "-1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := settings.FromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			if _, set := tt.env["MEMBERSHIP_CACHE_SECONDS"]; !set {
				tt.want.MembershipCache = settings.DefaultMembershipCache
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/privatelink-approver/privatelink-approver/pkg/approver"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// decideCmd is approverctl accept or approverctl reject: a person's
// decision, stamped on the connections as theirs.
func (a *app) decideCmd(action policy.Action) *cobra.Command {
	var service, reason string
	verb := string(action)
	long := `Accept pending connection requests of one endpoint service, in one batched
call, whatever the policy says, and stamp each connection as a person's
decision: privatelink-approver:decision accepted, rule person, by (your ARN,
from STS GetCallerIdentity), reason and decided-at. A sweep never revokes a
connection a person accepted, unless a reject rule of the policy names it.`
	if action == policy.Reject {
		long = `Reject connections of one endpoint service, in one batched call: pending
requests (decision rejected) and accepted connections (decision revoked: the
consumer is cut off). Each is stamped as a person's decision: rule person,
by (your ARN, from STS GetCallerIdentity), reason and decided-at.`
	}
	cmd := &cobra.Command{
		Use:   verb + " --service ID --reason TEXT ENDPOINT...",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " connection requests as a person, stamped with your ARN and reason",
		Long: long + `

The reason is required; it is cut to 256 characters (a tag value) and
control characters become spaces. Connections in another state are reported
and left alone. Exit 1 when any endpoint could not be ` + pastTense(action) + `.`,
		Example: fmt.Sprintf("  approverctl %s --service vpce-svc-0123456789abcdef0 --reason \"NET-1234, approved by the partner team\" vpce-0a1b2c3d4e5f67890", verb),
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, endpoints []string) error {
			if strings.TrimSpace(reason) == "" {
				return errors.New("--reason is required: say why, it is stamped on the connection")
			}
			c, err := a.aws(cmd.Context())
			if err != nil {
				return err
			}
			me, err := c.sts.GetCallerIdentity(cmd.Context(), &sts.GetCallerIdentityInput{})
			if err != nil {
				return fmt.Errorf("who are you (STS GetCallerIdentity): %w", err)
			}
			report, err := c.approver(scope{}, false).DecideByPerson(cmd.Context(), approver.PersonDecision{
				ServiceID: service, EndpointIDs: endpoints, Action: action, By: aws.ToString(me.Arn), Reason: reason})
			if err != nil {
				return err
			}
			if err := a.show(decisionsView(report, " by "+aws.ToString(me.Arn))); err != nil {
				return err
			}
			if err := report.Err(); err != nil {
				fmt.Fprintln(a.stderr, "approverctl:", err)
				return reportedError{err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "the endpoint service ID (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why: stamped on each connection (required)")
	_ = cmd.MarkFlagRequired("service")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func pastTense(a policy.Action) string {
	if a == policy.Accept {
		return "accepted"
	}
	return "rejected"
}

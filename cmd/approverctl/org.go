package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/privatelink-approver/privatelink-approver/pkg/awserr"
	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

func (a *app) orgCmd() *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:   "org ACCOUNT",
		Short: "Print an account's place in AWS Organizations, as rules by organization or OU see it",
		Long: `Look ACCOUNT up in AWS Organizations as the function does (ListParents up to
the root, DescribeOrganization) and print its orgPath: the organization ID,
the root ID, then every OU from the root down to the account's parent,
joined by "/". The calls are made as --role, else ORGANIZATION_ROLE_ARN,
else with your own credentials (which must then be the management or a
delegated administrator account's). Exit 1 when the lookup fails; an account
outside the organization is an answer, not a failure.`,
		Example: "  approverctl org 111122223333\n  approverctl org 111122223333 --role arn:aws:iam::999988887777:role/privatelink-approver-org-reader --output json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			account := args[0]
			if !awsid.IsAccount(account) {
				return fmt.Errorf("account %q: want a 12-digit account ID", account)
			}
			m, err := a.lookup(cmd, role, account)
			if err != nil {
				return err
			}
			out := map[string]any{"account": account, "member": m.Member(), "orgPath": m.Path(),
				"organization": m.Organization, "root": m.Root, "organizationalUnits": append([]string{}, m.OUs...)}
			if !m.Member() {
				return a.show(view{JSON: out, Notes: []string{account + " is not in the organization"}})
			}
			return a.show(view{JSON: out, Header: []string{"ACCOUNT", "ORG PATH"}, Rows: [][]string{{account, m.Path()}}})
		},
	}
	bindRole(cmd, &role)
	return cmd
}

// lookup looks one account up in AWS Organizations, acting as the role the
// flag or ORGANIZATION_ROLE_ARN names.
func (a *app) lookup(cmd *cobra.Command, roleFlag, account string) (policy.Membership, error) {
	role, err := a.orgRole(roleFlag)
	if err != nil {
		return policy.Membership{}, err
	}
	c, err := a.aws(cmd.Context())
	if err != nil {
		return policy.Membership{}, err
	}
	r := c.memberships(role)
	if r == nil {
		return policy.Membership{}, errors.New("no AWS Organizations client")
	}
	res := r.Lookup(cmd.Context(), []string{account})[account]
	if res.Err != nil {
		return policy.Membership{}, fmt.Errorf("%w%s", res.Err, orgHint(res.Err))
	}
	return res.Membership, nil
}

// orgHint says where Organizations answers, when it denied a call.
func orgHint(err error) string {
	if awserr.IsAccessDenied(err) {
		return " (Organizations answers only in the management account or a delegated administrator: give --role or set ORGANIZATION_ROLE_ARN)"
	}
	return ""
}

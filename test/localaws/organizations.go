package localaws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// Organization is an AWS Organizations organization in moto, managed from
// its management account (moto keeps each organization in the account that
// created it; an assumed role of that account sees it).
type Organization struct {
	m          *Moto
	Management string
	ID, Root   string
}

// CreateOrganization creates an organization (all features) managed by
// account management.
func (m *Moto) CreateOrganization(ctx context.Context, management string) (*Organization, error) {
	o := &Organization{m: m, Management: management}
	c := o.client()
	out, err := c.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		return nil, fmt.Errorf("create the organization of %s: %w", management, err)
	}
	o.ID = aws.ToString(out.Organization.Id)
	roots, err := c.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		return nil, fmt.Errorf("the root of %s: %v (%d roots)", o.ID, err, len(roots.Roots))
	}
	o.Root = aws.ToString(roots.Roots[0].Id)
	return o, nil
}

func (o *Organization) client() *organizations.Client {
	return organizations.NewFromConfig(o.m.Config(o.Management, Region))
}

// CreateOU creates an organizational unit under parent (the root or an OU)
// and returns its ID.
func (o *Organization) CreateOU(ctx context.Context, parent, name string) (string, error) {
	out, err := o.client().CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(parent), Name: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("create OU %s under %s: %w", name, parent, err)
	}
	return aws.ToString(out.OrganizationalUnit.Id), nil
}

// CreateAccount creates a member account (moto gives it a random ID, at
// once) and moves it under parent, unless parent is the root.
func (o *Organization) CreateAccount(ctx context.Context, name, parent string) (string, error) {
	c := o.client()
	out, err := c.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
	if err != nil {
		return "", fmt.Errorf("create account %s: %w", name, err)
	}
	id := aws.ToString(out.CreateAccountStatus.AccountId)
	if id == "" {
		return "", fmt.Errorf("create account %s: no account ID (state %s)", name, out.CreateAccountStatus.State)
	}
	if parent != o.Root {
		if err := o.MoveAccount(ctx, id, o.Root, parent); err != nil {
			return "", err
		}
	}
	return id, nil
}

// Join makes account (which may have made requests from outside the
// organization) a member, under the root: the moto extension creates the
// member account with that ID.
func (o *Organization) Join(ctx context.Context, account string) error {
	_, err := o.client().CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("joined-" + account),
		Email: aws.String(account + "@example.com"), Tags: []orgtypes.Tag{{Key: aws.String("privatelink-test:account-id"), Value: aws.String(account)}}})
	if err != nil {
		return fmt.Errorf("account %s joins %s: %w", account, o.ID, err)
	}
	return nil
}

// MoveAccount moves account from one parent to another.
func (o *Organization) MoveAccount(ctx context.Context, account, from, to string) error {
	_, err := o.client().MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(account),
		SourceParentId: aws.String(from), DestinationParentId: aws.String(to)})
	if err != nil {
		return fmt.Errorf("move %s from %s to %s: %w", account, from, to, err)
	}
	return nil
}

// RoleARN is the ARN of a role of the management account: moto lets any
// caller assume it, and its credentials then act as that account.
func (o *Organization) RoleARN(name string) string {
	return fmt.Sprintf("arn:aws:iam::%s:role/%s", o.Management, name)
}

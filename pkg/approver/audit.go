package approver

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/settings"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

// TriggerAudit is the trigger of an audit's decisions (approverctl audit).
const TriggerAudit = "audit"

// PrincipalLister reads who may connect to an endpoint service;
// *vpcendpoints.Client is one.
type PrincipalLister interface {
	AllowedPrincipals(ctx context.Context, svc string) ([]string, error)
}

// Audit is what approverctl audit reports: every endpoint service of the
// account and Region, whether the approver manages it and why, who may
// connect to it, and the accepted connections of the managed services that
// the stored policy now rejects. Its JSON is approverctl audit's
// --output json; fields are only ever added.
type Audit struct {
	// Region is where the services are.
	Region          string `json:"region"`
	PolicyParameter string `json:"policyParameter"`
	PolicyVersion   string `json:"policyVersion"`
	// Revoke is the stored policy's revoke: whether sweeps revoke the
	// drift (within maxRevocations, MaxRevocations).
	Revoke         bool `json:"revoke"`
	MaxRevocations int  `json:"maxRevocations"`
	// Services are every endpoint service of the account in the Region,
	// and those SERVICE_IDS lists that are not (Found false), by ID.
	Services []ServiceAudit `json:"services"`
	// Checked counts the accepted connections (EC2 states pending and
	// available) of the managed services that were checked.
	Checked int `json:"checked"`
	// Drift are the accepted connections the stored policy would now
	// reject, as a revoking sweep decides them: not a person's accept that
	// only defaultAction rejects (a sweep never revokes it).
	Drift []ConnectionAudit `json:"drift"`
	// Unknown are the accepted connections a rule by organization or OU
	// (or defaultAction) could reject, whose accounts could not be looked
	// up in AWS Organizations: not drift, not known to be kept.
	Unknown []ConnectionAudit `json:"unknown"`
	// Unchecked are the managed services whose connections were not
	// checked: unreadable, or held by a refused or missing part.
	Unchecked []UncheckedService `json:"unchecked"`
	// Parts are the parts under the policy's path that decide nothing.
	Parts []policy.PartIssue `json:"parts,omitempty"`
}

// ServiceAudit is one endpoint service, as the audit sees it.
type ServiceAudit struct {
	ServiceID   string `json:"serviceId"`
	ServiceName string `json:"serviceName,omitempty"`
	// Managed and Why: whether the approver manages it, by the rule it
	// chooses its services with (see Approver.Managed).
	Managed bool   `json:"managed"`
	Why     string `json:"why"`
	// Found is false for a service SERVICE_IDS lists that is not the
	// account's in the Region: nothing else is known of it.
	Found              bool `json:"found"`
	AcceptanceRequired bool `json:"acceptanceRequired"`
	// AllowedPrincipals are who may connect (DescribeVpcEndpointServicePermissions):
	// ARNs, or "*" for every AWS principal (AllowsAnyone).
	AllowedPrincipals []string `json:"allowedPrincipals"`
	AllowsAnyone      bool     `json:"allowsAnyone"`
	// PrincipalsError says why they could not be read.
	PrincipalsError string `json:"principalsError,omitempty"`
	// Problem says what is wrong with the service, to fix; "" when
	// nothing.
	Problem string `json:"problem,omitempty"`
}

// ConnectionAudit is one accepted connection the stored policy rejects, or
// might.
type ConnectionAudit struct {
	ServiceID    string `json:"serviceId"`
	EndpointID   string `json:"endpointId"`
	ConnectionID string `json:"connectionId,omitempty"`
	Owner        string `json:"owner"`
	OrgPath      string `json:"orgPath,omitempty"`
	Region       string `json:"region"`
	State        string `json:"state"`
	// Rule is the rule that rejects it ("default" for defaultAction), or,
	// for an unknown one, the rule by organization or OU that could.
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
	// AcceptedBy is the rule its stamp names (PersonRule for a person's
	// accept); "" when it carries no stamp.
	AcceptedBy string `json:"acceptedBy,omitempty"`
	// ErrorCode and Detail say why an unknown one's account could not be
	// looked up.
	ErrorCode string `json:"errorCode,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// UncheckedService is a managed service whose connections the audit could
// not check, and why.
type UncheckedService struct {
	ServiceID string `json:"serviceId"`
	Reason    string `json:"reason"`
}

// Findings counts what is to fix: managed services that do not require
// acceptance or that the account does not own, and drift.
func (au *Audit) Findings() int {
	n := len(au.Drift)
	for _, s := range au.Services {
		if s.Problem != "" {
			n++
		}
	}
	return n
}

// Complete reports whether everything was checked: no connection unknown,
// no managed service unchecked, every service's principals read.
func (au *Audit) Complete() bool {
	if len(au.Unknown) > 0 || len(au.Unchecked) > 0 {
		return false
	}
	return !slices.ContainsFunc(au.Services, func(s ServiceAudit) bool { return s.PrincipalsError != "" })
}

// Managed says whether the approver manages the service of configuration
// c, and why, by the rule its reconcile chooses services with: the
// services SERVICE_IDS lists; without a list, those that carry SERVICE_TAG's
// tag, whatever their acceptance setting; without either, those that
// require acceptance.
func (a *Approver) Managed(c types.ServiceConfiguration) (bool, string) {
	svc := aws.ToString(c.ServiceId)
	switch {
	case len(a.cfg.ServiceIDs) > 0 && slices.Contains(a.cfg.ServiceIDs, svc):
		return true, "listed in " + settings.EnvServiceIDs
	case len(a.cfg.ServiceIDs) > 0:
		return false, "not in " + settings.EnvServiceIDs
	case a.cfg.ServiceTag != nil && a.isManaged(c):
		return true, "tagged " + tagText(*a.cfg.ServiceTag)
	case a.cfg.ServiceTag != nil:
		return false, "not tagged " + tagText(*a.cfg.ServiceTag)
	case a.isManaged(c):
		return true, "requires acceptance"
	default:
		return false, "does not require acceptance: not managed"
	}
}

func tagText(f awsid.TagFilter) string {
	if f.AnyValue {
		return f.Key
	}
	return f.Key + "=" + f.Value
}

// Audit lists every endpoint service of the account and Region
// (DescribeVpcEndpointServiceConfigurations, every page), whether it is
// managed and why, and, with principals (nil: not read), who may connect to
// each. It then reads the accepted connections of the managed services (one
// DescribeVpcEndpointConnections for all, as a sweep reads them) and
// decides each with the stored policy as a revoking sweep would, whatever
// the policy's revoke says: through the same decision table, with the
// accounts that rules by organization or OU could decide looked up in AWS
// Organizations. A connection a sweep would revoke is drift. It changes
// nothing.
//
// It fails when the services cannot be listed or the policy cannot be had;
// a service whose connections or principals cannot be read, and an account
// that cannot be looked up, are in the Audit (see Complete).
func (a *Approver) Audit(ctx context.Context, principals PrincipalLister) (*Audit, error) {
	start := a.now()
	configs, err := a.ec2.ServiceConfigurations(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("list the account's endpoint services: %w", err)
	}
	loaded, err := a.policies.Load(ctx, true)
	if err != nil {
		return nil, err
	}
	au := &Audit{Region: a.cfg.Region, PolicyParameter: loaded.Parameter, PolicyVersion: loaded.Version,
		Revoke: loaded.Policy.Revoke, MaxRevocations: loaded.Policy.MaxRevocations, Services: []ServiceAudit{},
		Drift: []ConnectionAudit{}, Unknown: []ConnectionAudit{}, Unchecked: []UncheckedService{}, Parts: loaded.Policy.Issues}

	var managed []string
	found := map[string]bool{}
	for _, c := range configs {
		s := a.serviceAudit(ctx, c, principals)
		found[s.ServiceID] = true
		if s.Managed {
			managed = append(managed, s.ServiceID)
		}
		au.Services = append(au.Services, s)
	}
	for _, svc := range a.cfg.ServiceIDs {
		if !found[svc] {
			found[svc] = true
			au.Services = append(au.Services, ServiceAudit{ServiceID: svc, Managed: true, Why: "listed in " + settings.EnvServiceIDs,
				AllowedPrincipals: []string{},
				Problem:           fmt.Sprintf("listed in %s, but not an endpoint service of this account in %s", settings.EnvServiceIDs, a.cfg.Region)})
		}
	}
	slices.SortFunc(au.Services, func(x, y ServiceAudit) int { return strings.Compare(x.ServiceID, y.ServiceID) })
	slices.Sort(managed)

	if err := a.auditConnections(ctx, au, loaded, managed, start); err != nil {
		return nil, err
	}
	return au, nil
}

// serviceAudit is what the audit says of one service configuration.
func (a *Approver) serviceAudit(ctx context.Context, c types.ServiceConfiguration, principals PrincipalLister) ServiceAudit {
	s := ServiceAudit{ServiceID: aws.ToString(c.ServiceId), ServiceName: aws.ToString(c.ServiceName), Found: true,
		AcceptanceRequired: aws.ToBool(c.AcceptanceRequired), AllowedPrincipals: []string{}}
	s.Managed, s.Why = a.Managed(c)
	if principals != nil {
		list, err := principals.AllowedPrincipals(ctx, s.ServiceID)
		if err != nil {
			s.PrincipalsError = fmt.Sprintf("read the allowed principals of %s: %v", s.ServiceID, err)
		} else {
			s.AllowedPrincipals = list
			s.AllowsAnyone = slices.Contains(list, vpcendpoints.AnyPrincipal)
		}
	}
	if s.Managed && !s.AcceptanceRequired {
		s.Problem = "managed, but does not require acceptance: EC2 accepts every request from an allowed principal at once, before the policy decides"
		if s.AllowsAnyone {
			s.Problem += ", and every AWS principal is allowed"
		}
	}
	return s
}

// auditConnections decides the accepted connections of the managed
// services as a revoking sweep would, and records drift, unknown and
// unchecked services in au.
func (a *Approver) auditConnections(ctx context.Context, au *Audit, loaded *policy.Loaded, managed []string, start time.Time) error {
	// A sweep reads listed services by ID, the others with every
	// connection of the account.
	reads := a.readAll(ctx, coverage{services: managed, byID: len(a.cfg.ServiceIDs) > 0}, true)
	accepted := map[string]int{}
	for i := range reads {
		reads[i].pending = nil // only the accepted ones: no lookup for a request
		accepted[reads[i].svc] = len(reads[i].accepted)
	}
	// The question is what the stored policy rejects, whatever its revoke:
	// a copy that revokes, so that a sweep decides the accepted
	// connections (and looks their accounts up) as it would revoke them.
	revoking := *loaded.Policy
	revoking.Revoke = true
	asIfRevoking := *loaded
	asIfRevoking.Policy = &revoking
	req := Request{Trigger: TriggerAudit, All: true, Sweep: true}
	now := a.now()
	orgs := lookups{}
	a.learnRegions(ctx, &asIfRevoking, reads, req.Sweep, start)
	if err := a.resolve(ctx, &asIfRevoking, reads, req, now, orgs); err != nil {
		return err
	}
	for _, pl := range a.decideAll(&asIfRevoking, reads, req, now, orgs) {
		switch {
		case pl.err != nil:
			au.Unchecked = append(au.Unchecked, UncheckedService{ServiceID: pl.svc, Reason: pl.err.Error()})
			continue
		case pl.held != "":
			au.Unchecked = append(au.Unchecked, UncheckedService{ServiceID: pl.svc, Reason: pl.held})
			continue
		}
		au.Checked += accepted[pl.svc]
		for _, d := range pl.decisions {
			if !d.situation.Accepted {
				continue
			}
			c := ConnectionAudit{ServiceID: d.ServiceID, EndpointID: d.EndpointID, ConnectionID: d.ConnectionID, Owner: d.Owner,
				OrgPath: d.OrgPath, Region: d.Region, State: d.State, Rule: d.Rule, AcceptedBy: d.tags[TagRule]}
			switch d.choice {
			case chooseRevoke:
				c.Reason = strings.TrimPrefix(d.Reason, revokedPrefix)
				au.Drift = append(au.Drift, c)
			case chooseUndecided:
				c.Reason = strings.TrimPrefix(d.Reason, notRevokedPrefix)
				c.ErrorCode, c.Detail = d.ErrorCode, d.Detail
				au.Unknown = append(au.Unknown, c)
			}
		}
	}
	byConnection := func(x, y ConnectionAudit) int {
		return cmp.Or(strings.Compare(x.ServiceID, y.ServiceID), strings.Compare(x.EndpointID, y.EndpointID))
	}
	slices.SortFunc(au.Drift, byConnection)
	slices.SortFunc(au.Unknown, byConnection)
	return nil
}

// What a revocation's reason starts with (decide), and what the audit,
// revoking nothing, leaves out.
const (
	revokedPrefix    = "revoked: "
	notRevokedPrefix = "not revoked: "
)

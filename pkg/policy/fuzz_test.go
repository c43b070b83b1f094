package policy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
)

// FuzzParse: any input is either a policy that decides without panicking,
// or an error; never a panic, never both. Seeds: testdata/fuzz/FuzzParse.
// fuzzMemberships are places in an organization the fuzzed policies'
// organization rules may name (see the seeds).
var fuzzMemberships = []*policy.Membership{
	{},
	{Organization: "o-abc1234567", Root: "r-ab12"},
	{Organization: "o-abc1234567", Root: "r-ab12", OUs: []string{"ou-ab12-11111111"}},
	{Organization: "o-abc1234567", Root: "r-ab12", OUs: []string{"ou-ab12-11111111", "ou-ab12-22222222"}},
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(readmePolicy))
	f.Add([]byte("111122223333, 444455556666\n777788889999"))
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := policy.Parse(text)
		if err != nil {
			if p != nil {
				t.Fatalf("a policy and an error: %v", err)
			}
			var verr *policy.ValidationError
			if !errors.As(err, &verr) && !errors.Is(err, policy.ErrEmpty) {
				t.Fatalf("an error that is not a validation error: %v", err)
			}
			return
		}
		for _, account := range []string{"111122223333", "999988887777", "*"} {
			d := p.Decide(policy.Request{Account: account, ServiceID: "vpce-svc-0123456789abcdef0",
				EndpointID: "vpce-0123456789abcdef0", Region: "eu-west-1"}, time.Now())
			switch d.Action {
			case policy.Accept, policy.Reject, policy.Manual:
			default:
				t.Fatalf("decision %q", d.Action)
			}
			if d.Rule == "" || d.Reason() == "" {
				t.Fatalf("a decision without a rule or reason: %+v", d)
			}
			// Whatever the account's place in the organization, the
			// decision made with it is one the decision made without it
			// allowed for: an unresolved decision never hides an action.
			for _, m := range fuzzMemberships {
				req := policy.Request{Account: account, ServiceID: "vpce-svc-0123456789abcdef0",
					EndpointID: "vpce-0123456789abcdef0", Region: "eu-west-1", Org: m}
				if known := p.Decide(req, time.Now()); !d.Could(known.Action) {
					t.Fatalf("with membership %q the decision is %s, which the decision without it (%+v) ruled out", m.Path(), known.Action, d)
				}
			}
		}
	})
}

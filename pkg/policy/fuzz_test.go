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

// fuzzRoot delegates the part team accepts on one service only, and leaves
// everything else to a person but for one blocked account.
const fuzzRoot = `{"version": 1, "defaultAction": "manual", "maxRevocations": 3, "maxRejections": 4,
  "delegate": [{"part": "team", "services": ["vpce-svc-0aaaaaaaaaaaaaaaa"], "actions": ["accept"]}],
  "rules": [{"name": "blocked", "action": "reject", "accounts": ["999988887777"]}]}`

// FuzzCompose: whatever the writer of one part puts in it, the part decides
// nothing beyond its delegation: the root's settings stand, every service
// it was not delegated is decided as the root alone decides it, and on its
// own service it never rejects (it was delegated accept only).
func FuzzCompose(f *testing.F) {
	f.Add([]byte("111122223333"))
	f.Add([]byte(`{"version": 1, "rules": [{"name": "all", "action": "accept", "accounts": ["*"]}]}`))
	f.Add([]byte(`{"version": 1, "revoke": true, "maxRevocations": 100000, "rules": [{"name": "x-all", "action": "accept", "accounts": ["*"]},
	  {"name": "x-cut", "action": "reject", "accounts": ["111122223333"]}]}`))
	f.Add([]byte(`{"version": 1, "rules": [{"name": "x", "action": "accept", "accounts": ["*"], "services": ["vpce-svc-0bbbbbbbbbbbbbbbb"]}]}`))
	f.Add([]byte(`{"version": 1, "defaultAction": "reject", "rules": []}`))
	f.Add([]byte(`{"version": 1, "rules": [{"name": "a/b", "action": "accept", "accounts": ["*"]}]}`))
	rootAlone, err := policy.ParseRoot([]byte(fuzzRoot))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, part []byte) {
		p, err := policy.Compose("/p/", []byte(fuzzRoot), []policy.Source{{Name: "team", Text: part}})
		if err != nil {
			t.Fatalf("a valid root made invalid by a part: %v", err)
		}
		if p.DefaultAction != policy.Manual || p.Revoke || p.MaxRevocations != 3 || p.MaxRejections != 4 {
			t.Fatalf("a part changed the root's settings: %+v", p)
		}
		_, held := p.Held("vpce-svc-0aaaaaaaaaaaaaaaa")
		if held != (len(p.Issues) > 0) {
			t.Fatalf("held %t with issues %v", held, p.Issues)
		}
		for _, account := range []string{"111122223333", "999988887777", "123456789012"} {
			other := policy.Request{Account: account, ServiceID: "vpce-svc-0bbbbbbbbbbbbbbbb"}
			if got, want := p.Decide(other, time.Now()), rootAlone.Decide(other, time.Now()); got.Action != want.Action || got.Rule != want.Rule {
				t.Fatalf("on a service not delegated, %s is %s by %s; the root alone: %s by %s", account, got.Action, got.Rule, want.Action, want.Rule)
			}
			own := p.Decide(policy.Request{Account: account, ServiceID: "vpce-svc-0aaaaaaaaaaaaaaaa"}, time.Now())
			if own.Action == policy.Reject && own.Rule != "blocked" {
				t.Fatalf("the part rejected %s by %s: it was delegated accept only", account, own.Rule)
			}
		}
	})
}

//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/privatelink-approver/privatelink-approver/test/localaws"
)

// fleetPair is one provider account and Region of a fleet test: its
// service and the pending request to it.
type fleetPair struct {
	account, region string
	svc             localaws.Service
	endpoint        string
}

// fleetPairJSON is one pair of `approverctl fleet ... --output json`.
type fleetPairJSON struct {
	Account string          `json:"account"`
	Region  string          `json:"region"`
	Error   string          `json:"error"`
	Result  json.RawMessage `json:"result"`
}

// newFleet makes three provider accounts of their own in two Regions of
// their own; in each pair, a service with a pending request from allowed
// and the policy at parameter, which accepts allowed.
func newFleet(t *testing.T, parameter string) (accounts, regions []string, pairs map[string]fleetPair) {
	t.Helper()
	regions = []string{"eu-north-1", "ap-southeast-2"}
	for len(accounts) < 3 {
		id := fmt.Sprintf("%012d", 700000000000+rand.Int64N(99999999999))
		if !strings.Contains(strings.Join(accounts, ","), id) {
			accounts = append(accounts, id)
		}
	}
	policy := `{"version": 1, "defaultAction": "manual", "rules": [{"name": "partner", "action": "accept", "accounts": ["` + allowed + `"]}]}`
	pairs = map[string]fleetPair{}
	for _, account := range accounts {
		for _, region := range regions {
			svc, err := moto.CreateServiceIn(ctx(t), account, region)
			require.NoError(t, err)
			endpoint, err := moto.CreateEndpoint(ctx(t), svc, localaws.Endpoint{Account: allowed})
			require.NoError(t, err)
			require.NoError(t, moto.PutPolicyIn(ctx(t), account, region, parameter, policy))
			pairs[account+" "+region] = fleetPair{account: account, region: region, svc: svc, endpoint: endpoint}
		}
	}
	return accounts, regions, pairs
}

// fleetJSON runs approverctl fleet with --output json and returns its
// pairs by "ACCOUNT REGION", in the order printed, and the exit code.
func fleetJSON(t *testing.T, env []string, args ...string) (map[string]fleetPairJSON, []string, int) {
	t.Helper()
	out, stderr, code := runCtl(t, env, append(append([]string{"fleet"}, args...), "--output", "json")...)
	var list []fleetPairJSON
	require.NoError(t, json.Unmarshal([]byte(out), &list), "stdout: %s\nstderr: %s", out, stderr)
	byPair := map[string]fleetPairJSON{}
	var order []string
	for _, p := range list {
		byPair[p.Account+" "+p.Region] = p
		order = append(order, p.Account+" "+p.Region)
	}
	return byPair, order, code
}

func TestFleetPendingAndPlanAcrossAccountsAndRegions(t *testing.T) {
	const parameter = "/e2e/fleet/policy"
	accounts, regions, pairs := newFleet(t, parameter)
	where := []string{"--accounts", strings.Join(accounts, ","), "--regions", strings.Join(regions, ","), "--parameter", parameter}
	var inOrder []string
	for _, account := range accounts {
		for _, region := range regions {
			inOrder = append(inOrder, account+" "+region)
		}
	}
	changed := writeFile(t, "changed.json", `{"version": 1, "defaultAction": "manual", "rules": []}`)

	t.Run("pending lists every pair's request, one role per account", func(t *testing.T) {
		before, err := moto.Stats()
		require.NoError(t, err)
		got, order, code := fleetJSON(t, nil, append([]string{"pending"}, where...)...)
		assert.Equal(t, 0, code)
		assert.Equal(t, 3, statsDelta(t, before)["sts:AssumeRole"], "each account's role assumed once, for both Regions")
		assert.Equal(t, inOrder, order, "accounts in the order given, then Regions")
		for key, pair := range pairs {
			p := got[key]
			require.Empty(t, p.Error, key)
			var result struct {
				Pending []struct {
					ServiceID   string `json:"serviceId"`
					EndpointID  string `json:"endpointId"`
					Owner       string `json:"owner"`
					WouldDecide string `json:"wouldDecide"`
					Rule        string `json:"rule"`
				} `json:"pending"`
			}
			require.NoError(t, json.Unmarshal(p.Result, &result), key)
			require.Len(t, result.Pending, 1, "%s: only its own account's request, in its own Region", key)
			assert.Equal(t, pair.svc.ID, result.Pending[0].ServiceID, key)
			assert.Equal(t, pair.endpoint, result.Pending[0].EndpointID, key)
			assert.Equal(t, allowed, result.Pending[0].Owner, key)
			assert.Equal(t, "accept", result.Pending[0].WouldDecide, key)
			assert.Equal(t, "partner", result.Pending[0].Rule, key)
		}

		out, stderr, code := runCtl(t, nil, append([]string{"fleet", "pending"}, where...)...)
		assert.Equal(t, 0, code, stderr)
		assert.Regexp(t, `^ACCOUNT\s+REGION\s+SERVICE\s+ENDPOINT\s`, out)
		for _, pair := range pairs {
			assert.Regexp(t, fmt.Sprintf(`(?m)^%s\s+%s\s+%s\s+%s\s+%s\s.*\saccept\s+partner\s`, pair.account, pair.region, pair.svc.ID, pair.endpoint, allowed), out)
		}
		assert.Contains(t, out, "6 account and Region pair(s): 6 read, 0 failed.")
	})

	t.Run("plan with a file that changes something exits 2", func(t *testing.T) {
		got, _, code := fleetJSON(t, nil, append([]string{"plan", changed}, where...)...)
		assert.Equal(t, 2, code)
		require.Len(t, got, 6)
		for key, pair := range pairs {
			var result struct {
				Changed bool `json:"changed"`
				Changes []struct {
					EndpointID string
					Current    struct{ Action, Rule string }
					Proposed   struct{ Action, Rule string }
				}
			}
			require.NoError(t, json.Unmarshal(got[key].Result, &result), key)
			assert.True(t, result.Changed, key)
			require.Len(t, result.Changes, 1, key)
			assert.Equal(t, pair.endpoint, result.Changes[0].EndpointID, key)
			assert.Equal(t, "accept", result.Changes[0].Current.Action, key)
			assert.Equal(t, "manual", result.Changes[0].Proposed.Action, key)
		}
		// The stored policy itself changes nothing anywhere.
		same := writeFile(t, "same.json", `{"version": 1, "defaultAction": "manual", "rules": [{"name": "partner", "action": "accept", "accounts": ["`+allowed+`"]}]}`)
		out, stderr, code := runCtl(t, nil, append([]string{"fleet", "plan", same}, where...)...)
		assert.Equal(t, 0, code, "%s%s", out, stderr)
	})

	t.Run("an account whose role is refused: its rows say so, the rest is right, exit 1", func(t *testing.T) {
		refused := accounts[1]
		proxy, err := moto.RefuseRoles(refused)
		require.NoError(t, err)
		t.Cleanup(proxy.Stop)
		env := []string{"AWS_ENDPOINT_URL=" + proxy.URL}

		for _, command := range [][]string{{"pending"}, {"plan", changed}} {
			got, order, code := fleetJSON(t, env, append(command, where...)...)
			assert.Equal(t, 1, code, command)
			assert.Equal(t, inOrder, order, command)
			for key, pair := range pairs {
				p := got[key]
				if pair.account == refused {
					assert.Contains(t, p.Error, "assume role arn:aws:iam::"+refused+":role/privatelink-approver-fleet-reader: api error AccessDenied", command)
					assert.Empty(t, p.Result, command)
					continue
				}
				assert.Empty(t, p.Error, command)
				assert.Contains(t, string(p.Result), pair.endpoint, "%v %s", command, key)
			}
		}

		out, stderr, code := runCtl(t, env, append([]string{"fleet", "pending"}, where...)...)
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, "2 of 6 account and Region pair(s) failed")
		for _, pair := range pairs {
			line := regexp.MustCompile(`(?m)^` + pair.account + `\s+` + pair.region + `\s.*$`).FindString(out)
			if pair.account == refused {
				assert.Contains(t, line, "AccessDenied", pair.region)
				assert.NotContains(t, line, pair.endpoint)
				continue
			}
			assert.Contains(t, line, pair.endpoint)
			assert.Regexp(t, `\s-$`, line, "no error")
		}
	})

	// The fleet changed nothing.
	for key, pair := range pairs {
		states, err := moto.StatesIn(ctx(t), pair.account, pair.svc)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{pair.endpoint: "pendingAcceptance"}, states, key)
	}
}

func TestFleetAuditAcrossAccounts(t *testing.T) {
	const parameter = "/e2e/fleet-audit/policy"
	accounts, regions, pairs := newFleet(t, parameter)
	got, _, code := fleetJSON(t, nil, "audit", "--accounts", strings.Join(accounts, ","), "--regions", strings.Join(regions, ","), "--parameter", parameter)
	assert.Equal(t, 0, code, "every managed service requires acceptance, nothing accepted yet")
	for key, pair := range pairs {
		var result struct {
			Services []struct {
				ServiceID string `json:"serviceId"`
				Managed   bool   `json:"managed"`
			} `json:"services"`
			Complete bool `json:"complete"`
		}
		require.NoError(t, json.Unmarshal(got[key].Result, &result), key)
		require.Len(t, result.Services, 1, key)
		assert.Equal(t, pair.svc.ID, result.Services[0].ServiceID, key)
		assert.True(t, result.Services[0].Managed, key)
		assert.True(t, result.Complete, key)
	}
}

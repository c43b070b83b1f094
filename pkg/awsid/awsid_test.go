package awsid_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/privatelink-approver/privatelink-approver/pkg/awsid"
)

func TestChecks(t *testing.T) {
	tests := []struct {
		name  string
		check func(string) bool
		in    string
		want  bool
	}{
		{"account", awsid.IsAccount, "111122223333", true},
		{"account too short", awsid.IsAccount, "11112222333", false},
		{"account with a letter", awsid.IsAccount, "11112222333a", false},
		{"account with a space", awsid.IsAccount, " 11122223333", false},
		{"service", awsid.IsServiceID, "vpce-svc-0123456789abcdef0", true},
		{"service with 8 digits", awsid.IsServiceID, "vpce-svc-01234567", true},
		{"service with 7 digits", awsid.IsServiceID, "vpce-svc-0123456", false},
		{"service with 18 digits", awsid.IsServiceID, "vpce-svc-0123456789abcdef01", false},
		{"service in upper case", awsid.IsServiceID, "vpce-svc-0123456789ABCDEF0", false},
		{"an endpoint is no service", awsid.IsServiceID, "vpce-0123456789abcdef0", false},
		{"endpoint", awsid.IsEndpointID, "vpce-0123456789abcdef0", true},
		{"endpoint in upper case", awsid.IsEndpointID, "vpce-0123456789ABCDEF0", true},
		{"a service is no endpoint", awsid.IsEndpointID, "vpce-svc-0123456789abcdef0", false},
		{"endpoint with a g", awsid.IsEndpointID, "vpce-0123456789abcdefg", false},
		{"endpoint, empty", awsid.IsEndpointID, "vpce-", false},
		{"region", awsid.IsRegion, "eu-west-1", true},
		{"region in GovCloud", awsid.IsRegion, "us-gov-east-1", true},
		{"region without a number", awsid.IsRegion, "eu-west", false},
		{"region in upper case", awsid.IsRegion, "EU-west-1", false},
		{"region with an empty word", awsid.IsRegion, "eu--1", false},
		{"region with three letters", awsid.IsRegion, "eur-west-1", false},
		{"organization", awsid.IsOrganizationID, "o-abc1234567", true},
		{"organization, 32 characters", awsid.IsOrganizationID, "o-" + strings.Repeat("a", 32), true},
		{"organization, 9 characters", awsid.IsOrganizationID, "o-abc123456", false},
		{"organization, 33 characters", awsid.IsOrganizationID, "o-" + strings.Repeat("a", 33), false},
		{"organization in upper case", awsid.IsOrganizationID, "o-ABC1234567", false},
		{"organization with a dash", awsid.IsOrganizationID, "o-abc-234567", false},
		{"root", awsid.IsRootID, "r-ab12", true},
		{"root, 3 characters", awsid.IsRootID, "r-ab1", false},
		{"ou", awsid.IsOUID, "ou-ab12-11111111", true},
		{"ou, longest", awsid.IsOUID, "ou-" + strings.Repeat("a", 32) + "-" + strings.Repeat("b", 32), true},
		{"ou, root part of 3", awsid.IsOUID, "ou-ab1-11111111", false},
		{"ou, unit of 7", awsid.IsOUID, "ou-ab12-1111111", false},
		{"ou, unit of 33", awsid.IsOUID, "ou-ab12-" + strings.Repeat("1", 33), false},
		{"ou without its unit", awsid.IsOUID, "ou-ab12", false},
		{"ou with a third part", awsid.IsOUID, "ou-ab12-11111111-2", false},
		{"ou in upper case", awsid.IsOUID, "ou-AB12-11111111", false},
		{"a root is no ou", awsid.IsOUID, "r-ab12", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.check(tt.in), tt.in)
		})
	}
}

func TestScanners(t *testing.T) {
	text := `{"ServiceName":"com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef0",
		"VpcEndpointId":"vpce-0aaaaaaaaaaaaaaaa", "again":"vpce-0aaaaaaaaaaaaaaaa", "long":"vpce-0123456789abcdef0123",
		"glued":"xvpce-0bbbbbbbbbbbbbbbb", "upper":"vpce-0CCCCCCCCCCCCCCCC", "svc2":"vpce-svc-01234567"}`
	assert.Equal(t, []string{"vpce-svc-01234567", "vpce-svc-0123456789abcdef0"}, awsid.ServiceIDsIn(text))
	assert.Empty(t, awsid.ServiceIDsIn("nothing here, vpce-svc-0123456 is too short"))
}

// The scanner replaces this regular expression: it must find exactly what
// the expression finds.
var serviceRE = regexp.MustCompile(`\bvpce-svc-[0-9a-f]{8,17}\b`)

func distinct(re *regexp.Regexp, text string) []string {
	ids := re.FindAllString(text, -1)
	slices.Sort(ids)
	return slices.Compact(ids)
}

func FuzzServiceIDsInMatchesTheRegexp(f *testing.F) {
	for _, seed := range []string{
		"vpce-svc-0123456789abcdef0", "_vpce-svc-01234567", "vpce-svc-01234567_", "vpce-svc-vpce-svc-01234567",
		"a.vpce-svc-01234567.b", "vpce-svc-0123456789abcdef01", "vpce-svc-0123456", "é vpce-svc-01234567 é", "vpce-svc-0123456A",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := awsid.ServiceIDsIn(text), distinct(serviceRE, text); !slices.Equal(got, want) {
			t.Fatalf("ServiceIDsIn(%q) = %q, the expression finds %q", text, got, want)
		}
	})
}

func TestParameterNames(t *testing.T) {
	tests := []struct {
		in         string
		name, path bool
	}{
		{"/privatelink/policy", true, false},
		{"policy", true, false},
		{"/privatelink/policies/", true, true},
		{"my policy", false, false},
		{"", false, false},
		{"/" + strings.Repeat("a", awsid.MaxParameterName), false, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.name, awsid.IsParameterName(tt.in), tt.in)
		assert.Equal(t, tt.path, awsid.IsParameterPath(tt.in), tt.in)
	}
}

func TestParseParameterARN(t *testing.T) {
	tests := []struct {
		in   string
		want awsid.ParameterARN
		ok   bool
	}{
		{"arn:aws:ssm:eu-west-1:111122223333:parameter/privatelink/policy", awsid.ParameterARN{Partition: "aws", Region: "eu-west-1", Account: "111122223333", Name: "/privatelink/policy"}, true},
		{"arn:aws-us-gov:ssm:us-gov-west-1:111122223333:parameter/policy", awsid.ParameterARN{Partition: "aws-us-gov", Region: "us-gov-west-1", Account: "111122223333", Name: "policy"}, true},
		{"arn:aws:ssm:eu-west-1:111122223333:parameter/a/", awsid.ParameterARN{Partition: "aws", Region: "eu-west-1", Account: "111122223333", Name: "/a/"}, true},
		{"/privatelink/policy", awsid.ParameterARN{}, false},
		{"arn:aws:sns:eu-west-1:111122223333:parameter/p", awsid.ParameterARN{}, false},
		{"arn:aws:ssm:eu-west-1:1111:parameter/p", awsid.ParameterARN{}, false},
		{"arn:aws:ssm::111122223333:parameter/p", awsid.ParameterARN{}, false},
		{"arn:aws:ssm:eu-west-1:111122223333:document/p", awsid.ParameterARN{}, false},
		{"arn:aws:ssm:eu-west-1:111122223333:parameter/", awsid.ParameterARN{}, false},
		{"arn:aws:ssm:eu-west-1:111122223333:parameter/a b", awsid.ParameterARN{}, false},
	}
	for _, tt := range tests {
		got, ok := awsid.ParseParameterARN(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
		assert.Equal(t, tt.ok, awsid.IsParameterARN(tt.in), tt.in)
	}
}

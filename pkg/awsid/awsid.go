// Package awsid recognises the AWS identifiers the approver reads and
// writes: account IDs, endpoint service IDs, VPC endpoint IDs, Region
// names, the IDs of AWS Organizations (organization, root, OU) and SSM
// parameter ARNs. The policy, the settings, the triggers and approverctl all check
// IDs here, so they cannot disagree on what an ID looks like.
//
// The checks are small hand-written scanners rather than regular
// expressions: they cost nothing at start-up, which matters for a Lambda
// function's cold start.
//
// See https://docs.aws.amazon.com/vpc/latest/privatelink/configure-endpoint-service.html
package awsid

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// Prefixes and lengths of the IDs, as EC2 issues them.
const (
	ServicePrefix  = "vpce-svc-"
	EndpointPrefix = "vpce-"
	// MinHexDigits and MaxHexDigits bound the hex part of service and
	// endpoint IDs (8 for older resources, 17 for newer ones).
	MinHexDigits = 8
	MaxHexDigits = 17
	// AccountDigits is the length of an AWS account ID.
	AccountDigits = 12
)

// IsAccount reports whether s is a 12-digit AWS account ID.
func IsAccount(s string) bool {
	return len(s) == AccountDigits && strings.Trim(s, "0123456789") == ""
}

// IsServiceID reports whether s is an endpoint service ID: vpce-svc- and 8
// to 17 lowercase hex digits, as EC2 reports it.
func IsServiceID(s string) bool {
	rest, ok := strings.CutPrefix(s, ServicePrefix)
	return ok && hexRun(rest, false) == len(rest) && validHexLength(len(rest))
}

// IsEndpointID reports whether s is a VPC endpoint ID: vpce- and 8 to 17
// hex digits. Upper-case digits are accepted (people paste them so);
// NormalizeEndpointID gives the form EC2 reports.
func IsEndpointID(s string) bool {
	rest, ok := strings.CutPrefix(s, EndpointPrefix)
	return ok && hexRun(rest, true) == len(rest) && validHexLength(len(rest))
}

// NormalizeEndpointID returns an endpoint ID as EC2 reports it: lower case.
func NormalizeEndpointID(s string) string { return strings.ToLower(s) }

// IsRegion reports whether s looks like an AWS Region name such as
// eu-west-1 or us-gov-east-1: two lowercase letters, one or more lowercase
// words, and a number, joined by "-".
func IsRegion(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || len(parts[0]) != 2 || !lowerLetters(parts[0]) {
		return false
	}
	last := parts[len(parts)-1]
	if last == "" || strings.Trim(last, "0123456789") != "" {
		return false
	}
	for _, p := range parts[1 : len(parts)-1] {
		if p == "" || !lowerLetters(p) {
			return false
		}
	}
	return true
}

// Prefixes of AWS Organizations IDs.
const (
	OrganizationPrefix = "o-"
	RootPrefix         = "r-"
	OUPrefix           = "ou-"
)

// IsOrganizationID reports whether s is an organization ID: o- and 10 to
// 32 lowercase letters or digits.
func IsOrganizationID(s string) bool {
	rest, ok := strings.CutPrefix(s, OrganizationPrefix)
	return ok && lowerAlnum(rest, 10, 32)
}

// IsRootID reports whether s is the ID of an organization's root: r- and 4
// to 32 lowercase letters or digits.
func IsRootID(s string) bool {
	rest, ok := strings.CutPrefix(s, RootPrefix)
	return ok && lowerAlnum(rest, 4, 32)
}

// IsOUID reports whether s is an organizational unit ID: ou-, 4 to 32
// lowercase letters or digits (the root's part), "-", and 8 to 32 lowercase
// letters or digits.
func IsOUID(s string) bool {
	rest, ok := strings.CutPrefix(s, OUPrefix)
	if !ok {
		return false
	}
	root, unit, ok := strings.Cut(rest, "-")
	return ok && lowerAlnum(root, 4, 32) && lowerAlnum(unit, 8, 32)
}

// lowerAlnum reports whether s is min to max lowercase letters or digits.
func lowerAlnum(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// MaxParameterName is the longest SSM parameter name, with its path.
const MaxParameterName = 2048

// IsParameterName reports whether s can name an SSM parameter: letters,
// digits and . - _ /, at most 2,048 characters.
func IsParameterName(s string) bool {
	if s == "" || len(s) > MaxParameterName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-/", c) >= 0) {
			return false
		}
	}
	return true
}

// ParameterARN is a parameter named by its ARN, as a parameter another
// account shares through AWS RAM is read:
// arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME.
type ParameterARN struct {
	Partition, Region, Account string
	// Name is the parameter's name in its own account: "/a/b" for
	// parameter/a/b (the ARN drops the leading slash), "p" for parameter/p.
	Name string
}

// ParseParameterARN reads s as an SSM parameter ARN; ok is false when s is
// not one (a plain name, or another ARN).
func ParseParameterARN(s string) (p ParameterARN, ok bool) {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "ssm" || !IsRegion(a.Region) || !IsAccount(a.AccountID) {
		return ParameterARN{}, false
	}
	rest, found := strings.CutPrefix(a.Resource, "parameter/")
	if !found || rest == "" || !IsParameterName(rest) {
		return ParameterARN{}, false
	}
	name := rest
	if strings.Contains(rest, "/") {
		name = "/" + rest
	}
	return ParameterARN{Partition: a.Partition, Region: a.Region, Account: a.AccountID, Name: name}, true
}

// IsParameterARN reports whether s is an SSM parameter ARN.
func IsParameterARN(s string) bool {
	_, ok := ParseParameterARN(s)
	return ok
}

// IsParameterPath reports whether a policy parameter name is a path (it
// ends in "/"): the policy is then every parameter under it, merged. The
// one place this rule lives.
func IsParameterPath(name string) bool { return strings.HasSuffix(name, "/") }

// ServiceIDsIn returns the distinct endpoint service IDs found anywhere in
// text, sorted: for example in the service name
// com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef0.
func ServiceIDsIn(text string) []string {
	var ids []string
	for i := 0; ; {
		j := strings.Index(text[i:], ServicePrefix)
		if j < 0 {
			break
		}
		start := i + j
		digits := start + len(ServicePrefix)
		n := hexRun(text[digits:], false)
		end := digits + n
		// Whole words only: the ID neither follows nor precedes a word
		// character.
		if validHexLength(n) && (start == 0 || !isWordByte(text[start-1])) && (end == len(text) || !isWordByte(text[end])) {
			ids = append(ids, text[start:end])
		}
		i = digits
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// hexRun is the length of the run of hex digits at the start of s.
func hexRun(s string, upper bool) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || upper && 'A' <= c && c <= 'F') {
			return i
		}
	}
	return len(s)
}

func validHexLength(n int) bool { return MinHexDigits <= n && n <= MaxHexDigits }

func lowerLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// isWordByte is a regular expression's \w: letters, digits and "_".
func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// TagFilter chooses resources by a tag: Key with Value, or Key with any
// value when AnyValue.
type TagFilter struct {
	Key, Value string
	AnyValue   bool
}

// Limits of tags, and the characters every AWS service takes in them
// (EC2 takes more; these also keep a tag safe inside an IAM policy).
const (
	MaxTagKey   = 128
	MaxTagValue = 256
	tagChars    = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.:/+-@"
)

// ParseTagFilter reads key=value, or key alone for any value. The key is 1
// to 128 characters, not AWS's own (aws:); the value up to 256; both of
// letters, digits, spaces and _ . : / + - @.
func ParseTagFilter(v string) (TagFilter, error) {
	key, value, hasValue := strings.Cut(v, "=")
	switch {
	case key == "" || len(key) > MaxTagKey:
		return TagFilter{}, fmt.Errorf("%q: the tag key must be 1 to %d characters (key=value, or key for any value)", v, MaxTagKey)
	case strings.HasPrefix(key, "aws:"):
		return TagFilter{}, fmt.Errorf("%q: keys starting aws: are AWS's own", v)
	case len(value) > MaxTagValue:
		return TagFilter{}, fmt.Errorf("%q: the tag value is longer than %d characters", v, MaxTagValue)
	case strings.Trim(key, tagChars) != "" || strings.Trim(value, tagChars) != "":
		return TagFilter{}, fmt.Errorf("%q: a tag key and value take letters, digits, spaces and _ . : / + - @ only", v)
	}
	return TagFilter{Key: key, Value: value, AnyValue: !hasValue}, nil
}

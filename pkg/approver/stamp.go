package approver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/privatelink-approver/privatelink-approver/pkg/awserr"
	"github.com/privatelink-approver/privatelink-approver/pkg/policy"
	"github.com/privatelink-approver/privatelink-approver/pkg/vpcendpoints"
)

// The tags the approver writes on a connection (resource type
// vpc-endpoint-connection, its VpcEndpointConnectionId): the durable record
// of who decided, visible in the console, and the memory that makes each
// announcement happen once. Every key starts with TagPrefix, which is all
// the function's IAM role may tag.
const (
	TagPrefix = "privatelink-approver:"
	// TagDecision is accepted, rejected or revoked.
	TagDecision = TagPrefix + "decision"
	// TagRule is the deciding rule's name, "default", or PersonRule.
	TagRule = TagPrefix + "rule"
	// TagPolicyVersion is the policy version the decision line carries;
	// absent on a person's decision.
	TagPolicyVersion = TagPrefix + "policy-version"
	// TagDecidedAt is when, RFC 3339 in UTC to the second.
	TagDecidedAt = TagPrefix + "decided-at"
	// TagBy and TagReason are a person's ARN and reason.
	TagBy     = TagPrefix + "by"
	TagReason = TagPrefix + "reason"
	// TagAnnouncedAt marks a pending request announced on the decision
	// topic: it is never announced again.
	TagAnnouncedAt = TagPrefix + "announced-at"
)

// PersonRule is the rule of a decision a person made with approverctl; no
// policy rule may have this name.
const PersonRule = policy.PersonRuleName

// maxTagValue is the longest EC2 tag value, in Unicode characters.
const maxTagValue = 256

// StampTime is the form of the decided-at and announced-at tags.
func StampTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ourTags returns the connection's privatelink-approver:* tags.
func ourTags(tags []types.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		if k := aws.ToString(t.Key); strings.HasPrefix(k, TagPrefix) {
			out[k] = aws.ToString(t.Value)
		}
	}
	return out
}

// acceptedByPerson reports whether the connection carries a person's
// accept.
func (d Outcome) acceptedByPerson() bool {
	return d.tags[TagRule] == PersonRule && d.tags[TagDecision] == ResultAccepted
}

// stampOf is the tag set that records an applied decision.
func stampOf(d Outcome, at string) map[string]string {
	tags := map[string]string{TagDecision: d.Result, TagRule: FitTagValue(d.Rule), TagDecidedAt: at}
	if d.Rule == PersonRule {
		tags[TagBy], tags[TagReason] = d.By, d.Reason
	} else {
		tags[TagPolicyVersion] = d.PolicyVersion
	}
	return tags
}

// stamp tags every decision EC2 applied with its stamp, in one CreateTags
// call per distinct tag set (split past 1,000 connections). A key of an
// earlier stamp that this one does not set (a person's by and reason under
// a rule's revocation) is deleted, so the tags never mix two decisions. A
// failure is recorded on the decision; it never undoes or fails it.
func (a *Approver) stamp(ctx context.Context, decisions []Outcome, now time.Time) {
	at := StampTime(now)
	type group struct {
		tags    map[string]string
		members []int
	}
	writes, deletes := map[string]*group{}, map[string]*group{}
	add := func(groups map[string]*group, tags map[string]string, i int) {
		key := tagSetKey(tags)
		if groups[key] == nil {
			groups[key] = &group{tags: tags}
		}
		groups[key].members = append(groups[key].members, i)
	}
	for i := range decisions {
		d := &decisions[i]
		if !d.Applied() {
			continue
		}
		if d.ConnectionID == "" {
			d.StampError = "EC2 listed no VpcEndpointConnectionId for the connection: nothing to tag"
			continue
		}
		tags := stampOf(*d, at)
		add(writes, tags, i)
		stale := map[string]string{}
		for _, k := range []string{TagPolicyVersion, TagBy, TagReason} {
			if _, old := d.tags[k]; old {
				if _, set := tags[k]; !set {
					stale[k] = ""
				}
			}
		}
		if len(stale) > 0 {
			add(deletes, stale, i)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(writes)) {
		g := writes[key]
		for members := range slices.Chunk(g.members, vpcendpoints.MaxBatch) {
			if err := a.ec2.Tag(ctx, connectionIDs(decisions, members), g.tags); err != nil {
				for _, i := range members {
					decisions[i].StampError = fmt.Sprintf("tag the connection: %v", err)
				}
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(deletes)) {
		g := deletes[key]
		for members := range slices.Chunk(g.members, vpcendpoints.MaxBatch) {
			if err := a.ec2.Untag(ctx, connectionIDs(decisions, members), slices.Sorted(maps.Keys(g.tags))); err != nil {
				for _, i := range members {
					if decisions[i].StampError == "" {
						decisions[i].StampError = fmt.Sprintf("remove the earlier stamp's %v: %v", slices.Sorted(maps.Keys(g.tags)), err)
					}
				}
			}
		}
	}
}

// MarkAnnounced tags connections announced-at t: they are never announced
// again. ids are VpcEndpointConnectionIds.
func (a *Approver) MarkAnnounced(ctx context.Context, ids []string, t time.Time) error {
	var errs []error
	for batch := range slices.Chunk(ids, vpcendpoints.MaxBatch) {
		if err := a.ec2.Tag(ctx, batch, map[string]string{TagAnnouncedAt: StampTime(t)}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func connectionIDs(decisions []Outcome, members []int) []string {
	ids := make([]string, len(members))
	for j, i := range members {
		ids[j] = decisions[i].ConnectionID
	}
	return ids
}

// tagSetKey is a canonical text for a tag set, to group equal sets.
func tagSetKey(tags map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		fmt.Fprintf(&b, "%q=%q;", k, tags[k])
	}
	return b.String()
}

// TagRefused reports whether err is EC2 refusing to tag (a client error
// that retrying will not cure: the resource, its state or the role does not
// allow it), rather than throttling, a server error or a connection that is
// gone.
func TagRefused(err error) bool { return awserr.IsRefusal(err) }

// FitTagValue is value itself when it fits an EC2 tag value (256
// characters), else a prefix of it and a digest of the whole, 256
// characters in all: deterministic, and unique as the digest is. A rule of
// a part deep under a long path can have a longer name; its decision line
// keeps the full one.
func FitTagValue(value string) string {
	if utf8.RuneCountInString(value) <= maxTagValue {
		return value
	}
	sum := sha256.Sum256([]byte(value))
	digest := "~" + hex.EncodeToString(sum[:8])
	runes := []rune(value)
	return string(runes[:maxTagValue-len(digest)]) + digest
}

// tagValue makes text fit an EC2 tag value: control characters and invalid
// UTF-8 become spaces, and it is cut to 256 characters.
func tagValue(text string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(text) {
		if n == maxTagValue {
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

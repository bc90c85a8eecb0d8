package group

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Described is the group as its coordinator describes it.
type Described struct {
	Group string
	State string // Stable, PreparingRebalance, Empty, Dead, ...
	// Members with the units each owns (none: a standby), by member id.
	Members []DescribedMember
}

// DescribedMember is one member and what it owns.
type DescribedMember struct {
	MemberID, ClientID, Host string
	Owns                     []string
}

// Describe asks the group coordinator who owns which unit: for `cursors
// list`, from any process, running or not.
func Describe(ctx context.Context, opts []kgo.Opt, group, topicPrefix string) (Described, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return Described{}, err
	}
	defer cl.Close()
	groups, err := kadm.NewClient(cl).DescribeGroups(ctx, group)
	if err != nil {
		return Described{}, fmt.Errorf("describing the group %s: %w", group, err)
	}
	g, ok := groups[group]
	if !ok {
		return Described{}, fmt.Errorf("describing the group %s: no answer", group)
	}
	if g.Err != nil {
		return Described{}, fmt.Errorf("describing the group %s: %w", group, g.Err)
	}
	out := Described{Group: group, State: g.State}
	for _, m := range g.Members {
		dm := DescribedMember{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				if u, ok := strings.CutPrefix(t.Topic, topicPrefix); ok && slices.Contains(t.Partitions, 0) {
					dm.Owns = append(dm.Owns, u)
				}
			}
		}
		slices.Sort(dm.Owns)
		out.Members = append(out.Members, dm)
	}
	slices.SortFunc(out.Members, func(a, b DescribedMember) int { return strings.Compare(a.MemberID, b.MemberID) })
	return out, nil
}

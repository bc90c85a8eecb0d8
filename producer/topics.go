package producer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TopicSettings are used when coupa-kafka creates a topic.
type TopicSettings struct {
	// Partitions of each table topic; -1 takes the broker's num.partitions.
	Partitions int32
	// ReplicationFactor of every created topic; -1 takes the broker default.
	ReplicationFactor int16
}

// ensureTopics checks the table topics and the offsets topic and creates the
// missing ones, compacted. It refuses, all problems at once:
//   - an existing topic that is not compacted: a delete-policy topic would
//     lose records that no later pass republishes (and replays would be
//     incomplete), so it is never silently used;
//   - a missing offsets topic while a table topic already holds records:
//     the cursors are gone, and starting over silently would republish
//     every table; the operator must say so.
func ensureTopics(ctx context.Context, adm *kadm.Client, tableTopics []string, offsetsTopic string, s TopicSettings) error {
	all := append(append([]string(nil), tableTopics...), offsetsTopic)
	listed, err := adm.ListTopics(ctx, all...)
	if err != nil {
		return fmt.Errorf("listing topics: %w", err)
	}
	var existing, missing []string
	for _, t := range all {
		if listed.Has(t) {
			existing = append(existing, t)
		} else {
			missing = append(missing, t)
		}
	}
	var problems []error
	if len(existing) > 0 {
		cfgs, err := adm.DescribeTopicConfigs(ctx, existing...)
		if err != nil {
			return fmt.Errorf("describing topic configs: %w", err)
		}
		for _, rc := range cfgs {
			if rc.Err != nil {
				problems = append(problems, fmt.Errorf("topic %s: describing configs: %w", rc.Name, rc.Err))
				continue
			}
			if err := checkCompacted(rc); err != nil {
				problems = append(problems, err)
			}
		}
	}
	if !listed.Has(offsetsTopic) {
		if withData, err := topicsWithData(ctx, adm, existing); err != nil {
			return err
		} else if len(withData) > 0 {
			problems = append(problems, fmt.Errorf("offsets topic %s does not exist, but %s already hold records: the cursors were lost (or the configured offsets topic is the wrong one); refusing to start over silently. Point the offsets topic setting at the right topic, or create %s (compacted) to re-sync every table from the beginning", offsetsTopic, strings.Join(withData, ", "), offsetsTopic))
		}
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	return createCompacted(ctx, adm, missing, offsetsTopic, s)
}

// checkCompacted accepts cleanup.policy=compact, and compact,delete only
// with unlimited retention: time- or size-based deletion would drop records
// that no later pass republishes, and replays would miss them.
func checkCompacted(rc kadm.ResourceConfig) error {
	policy, retention, retentionBytes := "delete", "", ""
	for _, c := range rc.Configs {
		if c.Value == nil {
			continue
		}
		switch c.Key {
		case "cleanup.policy":
			policy = *c.Value
		case "retention.ms":
			retention = *c.Value
		case "retention.bytes":
			retentionBytes = *c.Value
		}
	}
	fix := fmt.Sprintf("kafka-configs.sh --bootstrap-server <brokers> --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact", rc.Name)
	switch {
	case !strings.Contains(policy, "compact"):
		return fmt.Errorf("topic %s exists with cleanup.policy=%s, but coupa-kafka needs a compacted topic (records would be deleted by retention and replays would miss them); fix it with: %s", rc.Name, policy, fix)
	case strings.Contains(policy, "delete") && (retention != "-1" || (retentionBytes != "" && retentionBytes != "-1")):
		return fmt.Errorf("topic %s has cleanup.policy=%s with retention.ms=%s: records older than that would be deleted and replays would miss them; use %s (or set retention.ms=-1 and retention.bytes=-1)", rc.Name, policy, orUnset(retention), fix)
	}
	return nil
}

func orUnset(s string) string {
	if s == "" {
		return "(broker default)"
	}
	return s
}

func topicsWithData(ctx context.Context, adm *kadm.Client, topics []string) ([]string, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	var out []string
	for _, t := range topics {
		has := false
		ends.Each(func(o kadm.ListedOffset) {
			if o.Topic == t && o.Offset > 0 {
				has = true
			}
		})
		if has {
			out = append(out, t)
		}
	}
	return out, nil
}

func createCompacted(ctx context.Context, adm *kadm.Client, topics []string, offsetsTopic string, s TopicSettings) error {
	compact := "compact"
	configs := map[string]*string{"cleanup.policy": &compact}
	for _, t := range topics {
		partitions := s.Partitions
		if t == offsetsTopic {
			partitions = 1 // a handful of small records; one partition keeps reads trivial
		}
		resp, err := adm.CreateTopic(ctx, partitions, s.ReplicationFactor, configs, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
			return fmt.Errorf("creating topic %s: %w", t, err)
		}
	}
	return waitUsable(ctx, adm, topics)
}

// waitUsable waits until every partition of topics has a leader that
// answers for it. The controller accepts a new topic before the brokers'
// metadata shows it; a reader that came too soon was told the offsets topic
// "does not exist" (seen on a real broker with several new topics at once).
func waitUsable(ctx context.Context, adm *kadm.Client, topics []string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		listed, err := adm.ListEndOffsets(ctx, topics...)
		if err == nil {
			err = listed.Error()
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %s were created but are not usable yet: %w", strings.Join(topics, ", "), err)
		case <-time.After(wait):
		}
	}
}

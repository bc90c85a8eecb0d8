package kread_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/coupa-kafka/coupa-kafka/internal/kread"
)

// FromTimestamp delivers every committed record stamped at or after its
// time, also when timestamps do not grow with offsets, and also when the
// broker answers the offsets-by-timestamp lookup with "none" although such
// records exist (Apache Kafka does, when the first segment its search picks
// was emptied by the log cleaner): then the partition is read from its
// start.
func TestFromTimestamp(t *testing.T) {
	for _, brokerFinds := range []bool{true, false} {
		name := map[bool]string{true: "broker finds the offset", false: "broker answers none"}[brokerFinds]
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			if !brokerFinds {
				cluster.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
					r := req.(*kmsg.ListOffsetsRequest)
					resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
					for _, rt := range r.Topics {
						st := kmsg.NewListOffsetsResponseTopic()
						st.Topic = rt.Topic
						for _, rp := range rt.Partitions {
							if rp.Timestamp < 0 { // earliest, latest: let kfake answer
								return nil, nil, false
							}
							sp := kmsg.NewListOffsetsResponseTopicPartition()
							sp.Partition, sp.Offset, sp.Timestamp = rp.Partition, -1, -1
							st.Partitions = append(st.Partitions, sp)
						}
						resp.Topics = append(resp.Topics, st)
					}
					cluster.KeepControl()
					return resp, nil, true
				})
			}
			seeds := kgo.SeedBrokers(cluster.ListenAddrs()...)
			cl, err := kgo.NewClient(seeds)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			// Slices publish out of order: minutes 5, 1, 9, 3, 7.
			for _, m := range []int{5, 1, 9, 3, 7} {
				r := &kgo.Record{Topic: "t", Key: []byte{byte(m)}, Timestamp: base.Add(time.Duration(m) * time.Minute)}
				if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			var got []int
			from := base.Add(4 * time.Minute).UnixMilli()
			err = kread.Committed(ctx, "t", kread.FromTimestamp(from), func(r *kgo.Record) error {
				if r.Timestamp.UnixMilli() >= from {
					got = append(got, int(r.Key[0]))
				}
				return nil
			}, seeds)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || got[0] != 5 || got[1] != 9 || got[2] != 7 {
				t.Fatalf("records at or after minute 4: %v, want [5 9 7]", got)
			}
		})
	}
}

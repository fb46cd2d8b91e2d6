package syncstore

import (
	"fmt"
	"math"
	"testing"
)

func TestPickShardFollowsWeights(t *testing.T) {
	shards := []ShardWeight{{"s1", 1}, {"s2", 3}, {"closed", 0}}
	counts := map[string]int{}
	const n = 40000
	for i := range n {
		name, ok := PickShard(fmt.Sprintf("user%06d", i), shards)
		if !ok {
			t.Fatal("no shard picked with two open shards")
		}
		counts[name]++
	}
	if counts["closed"] != 0 {
		t.Errorf("a closed shard got %d new users", counts["closed"])
	}
	// Expected 10000 and 30000; 5 standard deviations is about ±430.
	if share := float64(counts["s2"]) / n; math.Abs(share-0.75) > 0.011 {
		t.Errorf("s2 got %.3f of new users, want 0.75 (counts %v)", share, counts)
	}
}

func TestPickShardIsDeterministic(t *testing.T) {
	a := []ShardWeight{{"s1", 1}, {"s2", 1}, {"s3", 2}}
	b := []ShardWeight{{"s3", 2}, {"s1", 1}, {"s2", 1}} // order does not matter
	for i := range 1000 {
		u := fmt.Sprintf("u%d", i)
		x, _ := PickShard(u, a)
		y, _ := PickShard(u, b)
		if x != y {
			t.Fatalf("PickShard(%q) = %q and %q for the same weights in another order", u, x, y)
		}
	}
}

func TestPickShardNoneOpen(t *testing.T) {
	if name, ok := PickShard("alice", []ShardWeight{{"s1", 0}}); ok {
		t.Errorf("PickShard with every shard closed = %q, want none", name)
	}
	if name, ok := PickShard("alice", nil); ok {
		t.Errorf("PickShard without shards = %q, want none", name)
	}
}

func TestPickShardClosingKeepsOthers(t *testing.T) {
	// Closing a shard moves only the users it would have taken: new users
	// bound for an open shard still go there.
	open := []ShardWeight{{"s1", 1}, {"s2", 1}, {"s3", 1}}
	closed := []ShardWeight{{"s1", 1}, {"s2", 1}, {"s3", 0}}
	for i := range 2000 {
		u := fmt.Sprintf("u%d", i)
		before, _ := PickShard(u, open)
		after, _ := PickShard(u, closed)
		if before != "s3" && before != after {
			t.Fatalf("closing s3 moved %q from %s to %s", u, before, after)
		}
	}
}

func TestShardNames(t *testing.T) {
	for name, want := range map[string]bool{
		"s1": true, "eu-west_2": true, "0": true, "abcdefghijabcdefghijabcdefghij12": true,
		"": false, "default": false, "S1": false, "-s1": false, "_s": false, "s 1": false, "s:1": false,
		"abcdefghijabcdefghijabcdefghij123": false, "é": false,
	} {
		if got := ValidShardName(name); got != want {
			t.Errorf("ValidShardName(%q) = %v, want %v", name, got, want)
		}
	}
	if got, err := ParseShardName("default"); got != "" || err != nil {
		t.Errorf(`ParseShardName("default") = %q, %v; want "" (the route table's database)`, got, err)
	}
	if _, err := ParseShardName("Bad!"); err == nil {
		t.Error(`ParseShardName("Bad!") accepted`)
	}
	if ShardLabel("") != DefaultShard || ShardLabel("s2") != "s2" {
		t.Errorf("ShardLabel: %q, %q", ShardLabel(""), ShardLabel("s2"))
	}
}

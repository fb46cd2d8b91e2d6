package bench

import (
	"fmt"
	"math/rand/v2"
)

// Weights is a discrete distribution: Pick returns i with probability
// Weights[i] / Σ Weights.
type Weights []int

// Pick draws one index.
func (w Weights) Pick(r *rand.Rand) int {
	total := 0
	for _, x := range w {
		total += x
	}
	if total <= 0 {
		return 0
	}
	n := r.IntN(total)
	for i, x := range w {
		if n < x {
			return i
		}
		n -= x
	}
	return len(w) - 1
}

func (w Weights) validate(name string) error {
	total := 0
	for _, x := range w {
		if x < 0 {
			return fmt.Errorf("mix %s: negative weight %d", name, x)
		}
		total += x
	}
	if total == 0 {
		return fmt.Errorf("mix %s: weights sum to zero", name)
	}
	return nil
}

// Mix is the per-session workload. DefaultMix documents the values and
// where they come from (bench/README.md has the prose).
type Mix struct {
	NodeWeave  float64 `json:"node_weave"`  // share of sessions that start with node/weave
	Idle       float64 `json:"idle"`        // share that stop after info/collections
	MetaGlobal float64 `json:"meta_global"` // share of active sessions reading meta/global
	CryptoKeys float64 `json:"crypto_keys"` // share of active sessions reading crypto/keys
	// GetCount, PostCount and DeleteCount weigh how many requests of each
	// kind an active session makes: index i = i requests.
	GetCount    Weights `json:"get_count"`
	PostCount   Weights `json:"post_count"`
	DeleteCount Weights `json:"delete_count"`
	// IfUnmodified is the share of POSTs carrying X-If-Unmodified-Since.
	IfUnmodified float64 `json:"if_unmodified"`
	// Update is the share of POSTed records that overwrite an existing
	// record rather than create a new one. Real clients mostly re-upload
	// changed records (a history entry per visited page, an edited
	// bookmark). New records do not make the data set grow: as many expire
	// or are deleted (see liveSet).
	Update float64 `json:"update"`
	// Collections are the ones GETs, POSTs and DELETEs pick from (uniformly,
	// without repetition within a session).
	Collections []string `json:"collections"`
}

// DefaultMix is a Sync 1.1 client's session as Mozilla's load tests
// modelled it: the count distributions 71/15/7/4/3 (GETs), 67/18/9/4/2
// (POSTs) and 99/1 (DELETEs) over 0–4 requests, collections drawn
// uniformly from the five big engines; plus the login-time calls of
// Firefox's Sync 1.1 client (node/weave, info/collections, meta/global,
// crypto/keys).
func DefaultMix() Mix {
	return Mix{
		NodeWeave:    0.10,
		Idle:         0.50,
		MetaGlobal:   0.60,
		CryptoKeys:   0.10,
		GetCount:     Weights{71, 15, 7, 4, 3},
		PostCount:    Weights{67, 18, 9, 4, 2},
		DeleteCount:  Weights{99, 1},
		IfUnmodified: 0.50,
		Update:       0.75,
		Collections:  []string{"bookmarks", "forms", "passwords", "history", "prefs"},
	}
}

func (m *Mix) validate() error {
	for name, p := range map[string]float64{
		"node_weave": m.NodeWeave, "idle": m.Idle, "meta_global": m.MetaGlobal,
		"crypto_keys": m.CryptoKeys, "if_unmodified": m.IfUnmodified, "update": m.Update,
	} {
		if p < 0 || p > 1 {
			return fmt.Errorf("mix %s: %v is not a probability", name, p)
		}
	}
	for name, w := range map[string]Weights{"get_count": m.GetCount, "post_count": m.PostCount, "delete_count": m.DeleteCount} {
		if err := w.validate(name); err != nil {
			return err
		}
		if len(w)-1 > len(m.Collections) {
			return fmt.Errorf("mix %s: up to %d requests but only %d collections", name, len(w)-1, len(m.Collections))
		}
	}
	return nil
}

// sessionPlan is what one session will do, drawn before it starts.
type sessionPlan struct {
	device     int
	nodeWeave  bool
	idle       bool
	metaGlobal bool
	cryptoKeys bool
	gets       []string
	posts      []postPlan
	deletes    []string
}

type postPlan struct {
	collection   string
	records      int
	ifUnmodified bool
}

// maxPostRecords is a client's upload batch (Firefox's MAX_UPLOAD_RECORDS).
const maxPostRecords = 100

// postBatchSize draws a batch size skewed to the limit: uniform over
// 20…180 clamped to 100, so about 1 POST in 2 carries the full 100.
func postBatchSize(r *rand.Rand) int {
	return min(20+r.IntN(161), maxPostRecords)
}

func (m *Mix) plan(r *rand.Rand, devices int) sessionPlan {
	p := sessionPlan{
		device:    r.IntN(devices),
		nodeWeave: r.Float64() < m.NodeWeave,
		idle:      r.Float64() < m.Idle,
	}
	if p.idle {
		return p
	}
	p.metaGlobal = r.Float64() < m.MetaGlobal
	p.cryptoKeys = r.Float64() < m.CryptoKeys
	p.gets = m.pickCollections(r, m.GetCount.Pick(r))
	for _, c := range m.pickCollections(r, m.PostCount.Pick(r)) {
		p.posts = append(p.posts, postPlan{
			collection:   c,
			records:      postBatchSize(r),
			ifUnmodified: r.Float64() < m.IfUnmodified,
		})
	}
	p.deletes = m.pickCollections(r, m.DeleteCount.Pick(r))
	return p
}

// pickCollections draws n distinct collections uniformly.
func (m *Mix) pickCollections(r *rand.Rand, n int) []string {
	if n == 0 {
		return nil
	}
	perm := r.Perm(len(m.Collections))
	out := make([]string, n)
	for i := range out {
		out[i] = m.Collections[perm[i]]
	}
	return out
}

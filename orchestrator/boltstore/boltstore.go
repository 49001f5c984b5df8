// Package boltstore is a bbolt-backed orchestrator.Store: scale-set records
// as JSON, an append-only journal, plus the emulator's side resources (ARM
// documents, published images, operations, fleet state) so that `osupgrade
// serve` survives SIGKILL and resumes.
//
// It must not interpret what it stores beyond keys: the orchestrator and the
// API own the meaning (it decodes the records it hands out, to check them).
// Every write is one bbolt transaction (fsynced); PrepareWrites groups
// many (a Step pass's records and journal entries) into one.
//
// Open checks the whole file before using it (open.go, check.go, pages.go):
// a damaged file is refused with ErrCorrupt and the way out, never read into
// a panic or taken for an empty state; a file mostly free is compacted.
package boltstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/osupgrade/osupgrade/orchestrator"
)

var (
	bucketSets      = []byte("sets")
	bucketJournal   = []byte("journal")
	bucketResources = []byte("resources")
	bucketMeta      = []byte("meta")
)

// ErrLocked is returned by Open when another process holds the database.
var ErrLocked = errors.New("state database is in use by another process")

// Store is a bbolt database holding the orchestrator's state. Safe for
// concurrent use.
type Store struct {
	db   *bolt.DB
	path string

	// prepared is the digest of each set's record as last prepared by
	// PrepareWrites, so that an unchanged record is not written again;
	// SaveSet and DeleteSet forget a set's. failures counts failed
	// commits: one clears prepared, and a commit prepared before it may
	// have left out a record that failed to be written, so it fails too.
	prepMu   sync.Mutex
	prepared map[string][sha256.Size]byte
	failures atomic.Uint64

	// stamp, when set (StampWrites), is the clock every write transaction
	// records under stampKey, never moving it back.
	stampMu  sync.Mutex
	stampKey []byte
	stamp    func() time.Time
}

// StampWrites makes every later write transaction also record now() under
// meta key, unless the stored time is later: the time of the newest write
// is durable with the write. A restarted server's clock resumes no earlier
// than that, so what it wrote is never in its future: a scaled clock runs
// ahead of the wall, and a publication stamped by it, read by a restart
// whose clock started from the wall, was not yet published.
func (s *Store) StampWrites(key string, now func() time.Time) {
	s.stampMu.Lock()
	defer s.stampMu.Unlock()
	s.stampKey, s.stamp = []byte(key), now
}

// update runs f in a write transaction and stamps it (StampWrites).
func (s *Store) update(f func(tx *bolt.Tx) error) error {
	s.stampMu.Lock()
	key, now := s.stampKey, s.stamp
	s.stampMu.Unlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		if err := f(tx); err != nil {
			return err
		}
		if now == nil {
			return nil
		}
		meta := tx.Bucket(bucketMeta)
		t := now().UTC()
		if old := meta.Get(key); old != nil {
			var stored time.Time
			if stored.UnmarshalText(old) == nil && !t.After(stored) {
				return nil
			}
		}
		b, err := t.MarshalText()
		if err != nil {
			return fmt.Errorf("stamp the write: %w", err)
		}
		return meta.Put(key, b)
	})
}

var (
	_ orchestrator.Store        = (*Store)(nil)
	_ orchestrator.BatchStore   = (*Store)(nil)
	_ orchestrator.CatalogStore = (*Store)(nil)
)

const kindCatalog = "catalog"

// SaveCatalog replaces the stored image catalog in one transaction.
func (s *Store) SaveCatalog(_ context.Context, vs []orchestrator.ImageVersion) error {
	return s.update(func(tx *bolt.Tx) error {
		res := tx.Bucket(bucketResources)
		if res.Bucket([]byte(kindCatalog)) != nil {
			if err := res.DeleteBucket([]byte(kindCatalog)); err != nil {
				return err
			}
		}
		b, err := res.CreateBucket([]byte(kindCatalog))
		if err != nil {
			return err
		}
		for _, v := range vs {
			doc, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(v.Ref+"|"+v.Version), doc); err != nil {
				return err
			}
		}
		return nil
	})
}

// LoadCatalog reads the stored image catalog.
func (s *Store) LoadCatalog(ctx context.Context) ([]orchestrator.ImageVersion, error) {
	var out []orchestrator.ImageVersion
	err := s.Resources(ctx, kindCatalog, "", func(k string, doc []byte) error {
		v, err := decodeCatalog([]byte(k), doc)
		if err != nil {
			return corrupt(s.path, "%v", err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// Close releases the database file.
func (s *Store) Close() error { return s.db.Close() }

// SaveSet writes the record as JSON in one transaction.
func (s *Store) SaveSet(_ context.Context, rec *orchestrator.SetRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("save scale set %s: %w", rec.Model.Name, err)
	}
	s.forget(rec.Model.Name)
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSets).Put([]byte(rec.Model.Name), b)
	})
}

// DeleteSet removes a record.
func (s *Store) DeleteSet(_ context.Context, name string) error {
	s.forget(name)
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSets).Delete([]byte(name))
	})
}

// forget drops a set's prepared digest: its record was written outside
// PrepareWrites.
func (s *Store) forget(name string) {
	s.prepMu.Lock()
	defer s.prepMu.Unlock()
	delete(s.prepared, name)
}

// ErrEarlierWriteFailed is returned by a commit prepared before an earlier
// commit failed: it may have left out a record that the failed one held.
var ErrEarlierWriteFailed = errors.New("an earlier write of the state failed")

// PrepareWrites encodes w now (the records may change once it returns)
// and returns the commit that writes it in one transaction, one fsync. A
// record identical to the one last prepared for its set is left out.
// Commits must be called in the order of their PrepareWrites calls.
func (s *Store) PrepareWrites(w orchestrator.Writes) (func(context.Context) error, error) {
	return s.PrepareWritesAfter(w, nil)
}

// PrepareWritesAfter is PrepareWrites whose commit calls first before its
// transaction (the API's fleet records go before the orchestrator's): an
// error from first fails the commit as a failed transaction does.
func (s *Store) PrepareWritesAfter(w orchestrator.Writes, first func(context.Context) error) (func(context.Context) error, error) {
	type put struct{ key, value []byte }
	var sets []put
	journal := make([][]byte, 0, len(w.Journal))
	for _, e := range w.Journal {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		journal = append(journal, b)
	}
	s.prepMu.Lock()
	defer s.prepMu.Unlock()
	if s.prepared == nil {
		s.prepared = map[string][sha256.Size]byte{}
	}
	failures := s.failures.Load()
	for _, rec := range w.Sets {
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("save scale set %s: %w", rec.Model.Name, err)
		}
		sum := sha256.Sum256(b)
		if old, ok := s.prepared[rec.Model.Name]; ok && old == sum {
			continue
		}
		s.prepared[rec.Model.Name] = sum
		sets = append(sets, put{[]byte(rec.Model.Name), b})
	}
	for _, name := range w.Deleted {
		delete(s.prepared, name)
	}
	deleted := slices.Clone(w.Deleted)
	return func(ctx context.Context) error {
		if len(sets) > 0 || len(deleted) > 0 || len(journal) > 0 || first != nil {
			var err error
			if first != nil {
				err = first(ctx)
			}
			if err == nil && len(sets)+len(deleted)+len(journal) > 0 {
				err = s.update(func(tx *bolt.Tx) error {
					bk := tx.Bucket(bucketSets)
					for _, p := range sets {
						if err := bk.Put(p.key, p.value); err != nil {
							return err
						}
					}
					for _, name := range deleted {
						if err := bk.Delete([]byte(name)); err != nil {
							return err
						}
					}
					jb := tx.Bucket(bucketJournal)
					for _, b := range journal {
						seq, err := jb.NextSequence()
						if err != nil {
							return err
						}
						if err := jb.Put(seqKey(seq), b); err != nil {
							return err
						}
					}
					return nil
				})
			}
			if err != nil {
				s.prepMu.Lock()
				clear(s.prepared)
				s.failures.Add(1)
				s.prepMu.Unlock()
				return fmt.Errorf("write %d scale sets and %d journal entries: %w", len(sets), len(journal), err)
			}
		}
		if s.failures.Load() != failures {
			return ErrEarlierWriteFailed
		}
		return nil
	}, nil
}

// LoadSets reads every record, in name order.
func (s *Store) LoadSets(context.Context) ([]*orchestrator.SetRecord, error) {
	var out []*orchestrator.SetRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSets).ForEach(func(k, v []byte) error {
			rec, err := decodeSet(k, v)
			if err != nil {
				return corrupt(s.path, "%v", err)
			}
			out = append(out, rec)
			return nil
		})
	})
	return out, err
}

// AppendJournal appends an entry under the next sequence number.
func (s *Store) AppendJournal(_ context.Context, e orchestrator.JournalEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return s.update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketJournal)
		seq, err := bk.NextSequence()
		if err != nil {
			return err
		}
		return bk.Put(seqKey(seq), b)
	})
}

// JournalRecord is a journal entry with its sequence number (1-based).
type JournalRecord struct {
	Seq uint64 `json:"seq"`
	orchestrator.JournalEntry
}

// Journal returns up to limit entries after sequence number after (0: from
// the start), of one set when set is not empty. limit <= 0 means no limit.
func (s *Store) Journal(_ context.Context, set string, after uint64, limit int) ([]JournalRecord, error) {
	var out []JournalRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketJournal).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil; k, v = c.Next() {
			r, err := decodeJournal(k, v)
			if err != nil {
				return corrupt(s.path, "%v", err)
			}
			if set != "" && r.Set != set {
				continue
			}
			out = append(out, r)
			if limit > 0 && len(out) >= limit {
				return nil
			}
		}
		return nil
	})
	return out, err
}

// LastJournalTime is the time of the newest journal entry (zero when the
// journal is empty): a restarted clock must not run behind it.
func (s *Store) LastJournalTime() (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bucketJournal).Cursor().Last()
		if k == nil {
			return nil
		}
		r, err := decodeJournal(k, v)
		if err != nil {
			return corrupt(s.path, "%v", err)
		}
		t = r.Time
		return nil
	})
	return t, err
}

// PutResource stores a document of a kind ("arm", "operations", "images",
// ...) under key.
func (s *Store) PutResource(_ context.Context, kind, key string, doc []byte) error {
	return s.update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketResources).CreateBucketIfNotExists([]byte(kind))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), doc)
	})
}

// PutResources stores several documents of one kind in one transaction:
// all or none are written.
func (s *Store) PutResources(_ context.Context, kind string, docs map[string][]byte) error {
	return s.update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketResources).CreateBucketIfNotExists([]byte(kind))
		if err != nil {
			return err
		}
		for k, v := range docs {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Doc is one document for PutDocs.
type Doc struct {
	Kind, Key string
	Value     []byte
}

// PutDocs stores documents of any kinds in one transaction: all or none.
func (s *Store) PutDocs(_ context.Context, docs ...Doc) error {
	return s.update(func(tx *bolt.Tx) error {
		for _, d := range docs {
			b, err := tx.Bucket(bucketResources).CreateBucketIfNotExists([]byte(d.Kind))
			if err != nil {
				return err
			}
			if err := b.Put([]byte(d.Key), d.Value); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteResource removes a document; a missing one is not an error.
func (s *Store) DeleteResource(_ context.Context, kind, key string) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketResources).Bucket([]byte(kind))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
}

// DeletePrefix removes every document of a kind whose key starts with prefix.
func (s *Store) DeletePrefix(_ context.Context, kind, prefix string) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketResources).Bucket([]byte(kind))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		p := []byte(prefix)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Seek(p) {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// Resource reads one document; ok is false when it does not exist.
func (s *Store) Resource(_ context.Context, kind, key string) (doc []byte, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketResources).Bucket([]byte(kind))
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(key)); v != nil {
			doc, ok = bytes.Clone(v), true
		}
		return nil
	})
	return doc, ok, err
}

// Resources reads every document of a kind whose key starts with prefix,
// calling f in key order.
func (s *Store) Resources(_ context.Context, kind, prefix string, f func(key string, doc []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketResources).Bucket([]byte(kind))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			// Values are valid only inside the transaction: hand out copies.
			if err := f(string(k), bytes.Clone(v)); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetMeta stores a small value (the virtual clock's time, ...).
func (s *Store) SetMeta(key string, v []byte) error {
	return s.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte(key), v) })
}

// Meta reads a value stored with SetMeta.
func (s *Store) Meta(key string) ([]byte, bool, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte(key)); v != nil {
			out = bytes.Clone(v)
		}
		return nil
	})
	return out, out != nil, err
}

func seqKey(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}

package orchestrator

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// Store keeps what the runner needs to resume after a restart. SaveSet is
// called with the decision journaled in rec.Unapplied before the decision is
// carried out, and again once it is.
type Store interface {
	SaveSet(ctx context.Context, rec *SetRecord) error
	DeleteSet(ctx context.Context, name string) error
	LoadSets(ctx context.Context) ([]*SetRecord, error)
	AppendJournal(ctx context.Context, e JournalEntry) error
}

// Writes are the store writes of one Step pass or one request: records to
// save, records to delete and journal entries, in the order made.
type Writes struct {
	Sets    []*SetRecord
	Deleted []string
	Journal []JournalEntry
}

// Empty reports whether there is nothing to write.
func (w Writes) Empty() bool { return len(w.Sets) == 0 && len(w.Deleted) == 0 && len(w.Journal) == 0 }

// BatchStore is a Store that makes Writes durable together: one
// transaction, one fsync, for all the writes of one PrepareWrites (the
// orchestrator hands a pass over a few sets' records at a time, so that
// encoding them does not hold its lock long).
//
// PrepareWrites is called under the orchestrator's lock, in the order the
// writes were made; it must copy what it keeps (encode the records: they
// change once the lock is released), and may leave out a record identical
// to the one it last prepared. The commit it returns is called without the
// lock, in the order of the PrepareWrites calls, and returns once the
// writes are durable; the orchestrator makes no reimage before the commit
// holding its decision has returned (write-ahead).
type BatchStore interface {
	Store
	PrepareWrites(w Writes) (commit func(context.Context) error, err error)
}

// JournalEntry is one decision of the runner, written before it is acted on.
type JournalEntry struct {
	Time     time.Time      `json:"time"`
	Set      string         `json:"set"`
	Attempt  int            `json:"attempt"`
	Status   plan.Status    `json:"status"`
	Reimages []plan.Reimage `json:"reimages,omitempty"`
	Events   []plan.Event   `json:"events,omitempty"`
	Note     string         `json:"note,omitempty"`
}

// MemoryStore is a Store that keeps everything in memory: records are kept
// by reference, so saving costs nothing, even for 10^6 instances.
type MemoryStore struct {
	mu      sync.Mutex
	sets    map[string]*SetRecord
	journal []JournalEntry
	catalog []ImageVersion
}

// NewMemoryStore is an empty in-memory store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{sets: map[string]*SetRecord{}} }

var (
	_ Store        = (*MemoryStore)(nil)
	_ CatalogStore = (*MemoryStore)(nil)
)

func (m *MemoryStore) SaveCatalog(_ context.Context, vs []ImageVersion) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.catalog = slices.Clone(vs)
	return nil
}

func (m *MemoryStore) LoadCatalog(context.Context) ([]ImageVersion, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.catalog), nil
}

func (m *MemoryStore) SaveSet(_ context.Context, rec *SetRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sets[rec.Model.Name] = rec
	return nil
}

func (m *MemoryStore) DeleteSet(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sets, name)
	return nil
}

func (m *MemoryStore) LoadSets(context.Context) ([]*SetRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*SetRecord
	for _, r := range m.sets {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *SetRecord) int { return compareStrings(a.Model.Name, b.Model.Name) })
	return out, nil
}

func (m *MemoryStore) AppendJournal(_ context.Context, e JournalEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.journal = append(m.journal, e)
	return nil
}

// Journal returns the entries written so far.
func (m *MemoryStore) Journal() []JournalEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.journal)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

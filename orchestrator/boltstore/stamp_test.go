package boltstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator"
)

// Every kind of write carries the clock's time, and the stamp never goes
// back: a write made while the clock reads earlier leaves the later one.
func TestStampWritesKeepsTheNewest(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	writes := []struct {
		name  string
		write func(s *Store) error
	}{
		{"catalog", func(s *Store) error {
			return s.SaveCatalog(context.Background(), []orchestrator.ImageVersion{{Ref: "a:b:c", Version: "1.0.0", PublishedAt: t0}})
		}},
		{"resource", func(s *Store) error { return s.PutResource(context.Background(), "k", "key", []byte("{}")) }},
		{"journal", func(s *Store) error {
			return s.AppendJournal(context.Background(), orchestrator.JournalEntry{Time: t0, Set: "s"})
		}},
		{"delete resource", func(s *Store) error { return s.DeleteResource(context.Background(), "k", "key") }},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "state.db"))
			now := t0.Add(time.Hour)
			s.StampWrites("clock", func() time.Time { return now })
			stamped := func() time.Time {
				t.Helper()
				b, ok, err := s.Meta("clock")
				if err != nil || !ok {
					t.Fatalf("stamp: %v, %v", ok, err)
				}
				var at time.Time
				if err := at.UnmarshalText(b); err != nil {
					t.Fatal(err)
				}
				return at
			}
			if err := w.write(s); err != nil {
				t.Fatal(err)
			}
			if got := stamped(); !got.Equal(now) {
				t.Fatalf("stamp %s, want %s", got, now)
			}
			later := now
			now = t0 // the clock reads earlier now (a restart from the wall)
			if err := w.write(s); err != nil {
				t.Fatal(err)
			}
			if got := stamped(); !got.Equal(later) {
				t.Errorf("stamp %s after a write at %s, want the newest %s kept", got, now, later)
			}
		})
	}
}

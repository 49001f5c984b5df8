package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/osupgrade/osupgrade/orchestrator"
)

// writesOf commits w and counts the pages it wrote.
func writesOf(t *testing.T, s *Store, w orchestrator.Writes) int {
	t.Helper()
	before := writeCount(s)
	commit, err := s.PrepareWrites(w)
	if err != nil {
		t.Fatal(err)
	}
	if err := commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	return int(writeCount(s) - before)
}

// PrepareWrites writes a pass in one transaction, encodes the records
// when prepared (a change after it is not written), and leaves out a
// record identical to the one last prepared.
func TestPrepareWrites(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	a, b := &orchestrator.SetRecord{Model: model("a", 3), Version: "1"}, &orchestrator.SetRecord{Model: model("b", 3), Version: "1"}
	commit, err := s.PrepareWrites(orchestrator.Writes{Sets: []*orchestrator.SetRecord{a, b}, Journal: []orchestrator.JournalEntry{{Set: "a", Note: "one"}, {Set: "b", Note: "two"}}})
	if err != nil {
		t.Fatal(err)
	}
	a.Version = "changed after prepare"
	before := writeCount(s)
	if err := commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := writeCount(s) - before; n == 0 {
		t.Fatal("nothing written")
	}
	recs, err := s.LoadSets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Version != "1" || recs[1].Version != "1" {
		t.Fatalf("loaded %+v, want a and b at version 1 as prepared", recs)
	}
	if j, err := s.Journal(ctx, "", 0, 0); err != nil || len(j) != 2 || j[0].Seq != 1 || j[1].Note != "two" {
		t.Fatalf("journal %+v %v, want the two entries in order", j, err)
	}

	b2 := *b
	if n := writesOf(t, s, orchestrator.Writes{Sets: []*orchestrator.SetRecord{&b2}}); n != 0 {
		t.Errorf("an unchanged record wrote %d pages, want none", n)
	}
	b2.Version = "2"
	if n := writesOf(t, s, orchestrator.Writes{Sets: []*orchestrator.SetRecord{&b2}}); n == 0 {
		t.Error("a changed record was not written")
	}
	// A record written outside PrepareWrites is not taken as unchanged.
	if err := s.SaveSet(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n := writesOf(t, s, orchestrator.Writes{Sets: []*orchestrator.SetRecord{&b2}}); n == 0 {
		t.Error("a record saved with SaveSet since was taken as unchanged")
	}
	if n := writesOf(t, s, orchestrator.Writes{Deleted: []string{"a"}}); n == 0 {
		t.Error("a deletion was not written")
	}
	if recs, _ := s.LoadSets(ctx); len(recs) != 1 || recs[0].Version != "2" {
		t.Errorf("loaded %+v, want b at version 2 alone", recs)
	}
}

// A commit that fails makes the commits prepared before it was known fail
// too (they may have left out a record it held), and the next prepare
// writes every record again.
func TestFailedCommitFailsTheOnesPreparedBehindIt(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	rec := &orchestrator.SetRecord{Model: model("a", 3), Version: "1"}
	diskFull := errors.New("disk full")
	failing, err := s.PrepareWritesAfter(orchestrator.Writes{Sets: []*orchestrator.SetRecord{rec}}, func(context.Context) error { return diskFull })
	if err != nil {
		t.Fatal(err)
	}
	// Prepared behind it: rec is unchanged, so left out.
	behind, err := s.PrepareWrites(orchestrator.Writes{Sets: []*orchestrator.SetRecord{rec}})
	if err != nil {
		t.Fatal(err)
	}
	if err := failing(ctx); !errors.Is(err, diskFull) {
		t.Fatalf("failing commit: %v", err)
	}
	if err := behind(ctx); !errors.Is(err, ErrEarlierWriteFailed) {
		t.Fatalf("commit prepared behind a failed one: %v, want ErrEarlierWriteFailed", err)
	}
	if n := writesOf(t, s, orchestrator.Writes{Sets: []*orchestrator.SetRecord{rec}}); n == 0 {
		t.Fatal("the record was not written again after the failure")
	}
	if recs, _ := s.LoadSets(ctx); len(recs) != 1 {
		t.Fatalf("loaded %d records, want 1", len(recs))
	}
}

// writeCount is how many page writes the database has made.
func writeCount(s *Store) int64 {
	st := s.db.Stats()
	return st.TxStats.GetWrite()
}

package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
)

// fillSets saves n scale sets named set-0000... and journals one entry
// each, in one transaction (thousands of fsyncs are slow on a shared disk).
func fillSets(t *testing.T, st *Store, n int) {
	t.Helper()
	err := st.db.Update(func(tx *bolt.Tx) error {
		for i := range n {
			name := fmt.Sprintf("set-%04d", i)
			rec, _ := json.Marshal(&orchestrator.SetRecord{Model: model(name, 100), Version: "18.04.202501010", Refused: []string{"18.04.202412010", "18.04.202411010"}})
			entry, _ := json.Marshal(orchestrator.JournalEntry{Time: clock.Epoch.Add(time.Duration(i) * time.Second), Set: name, Note: "created"})
			seq, _ := tx.Bucket(bucketJournal).NextSequence()
			if err := tx.Bucket(bucketSets).Put([]byte(name), rec); err != nil {
				return err
			}
			if err := tx.Bucket(bucketJournal).Put(seqKey(seq), entry); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// TestOpenCompactsMostlyFreeFile: after most sets are deleted, the next Open
// gives the space back and keeps everything else: sets, journal, its
// sequence, documents. A stale copy of a crashed compaction is no obstacle.
func TestOpenCompactsMostlyFreeFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	st := open(t, path)
	fillSets(t, st, 3000)
	if err := st.PutResource(ctx, "arm", "set-0001", []byte(`{"name":"set-0001"}`)); err != nil {
		t.Fatal(err)
	}
	// Deleted in 29 transactions of 100 (one fsync each).
	for first := 100; first < 3000; first += 100 {
		err := st.db.Update(func(tx *bolt.Tx) error {
			for i := first; i < first+100; i++ {
				if err := tx.Bucket(bucketSets).Delete([]byte(fmt.Sprintf("set-%04d", i))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wantSets, _ := st.LoadSets(ctx)
	wantJournal, _ := st.Journal(ctx, "", 0, 0)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, path)
	if before < compactMinBytes {
		t.Fatalf("test file is %d bytes, under the %d compaction starts at", before, compactMinBytes)
	}
	// A crashed compaction's copy: garbage, ignored and replaced.
	if err := os.WriteFile(path+".compact", []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}

	st = open(t, path)
	defer func() { st.Close() }()
	after := fileSize(t, path)
	t.Logf("state.db: %d bytes before, %d after compaction (%.0f%% smaller)", before, after, 100*float64(before-after)/float64(before))
	if after*2 > before {
		t.Fatalf("state.db is %d bytes after Open, was %d: want at most half", after, before)
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Fatalf("compaction copy left behind: %v", err)
	}
	gotSets, err := st.LoadSets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gotJournal, err := st.Journal(ctx, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotSets, wantSets) || len(gotSets) != 100 {
		t.Fatalf("sets changed by compaction: %d sets, want %d", len(gotSets), len(wantSets))
	}
	if !reflect.DeepEqual(gotJournal, wantJournal) || len(gotJournal) != 3000 {
		t.Fatalf("journal changed by compaction: %d entries, want %d", len(gotJournal), len(wantJournal))
	}
	if doc, ok, _ := st.Resource(ctx, "arm", "set-0001"); !ok || string(doc) != `{"name":"set-0001"}` {
		t.Fatalf("document after compaction: %q %v", doc, ok)
	}
	if err := st.AppendJournal(ctx, orchestrator.JournalEntry{Set: "set-0001"}); err != nil {
		t.Fatal(err)
	}
	if next, _ := st.Journal(ctx, "", 3000, 0); len(next) != 1 || next[0].Seq != 3001 {
		t.Fatalf("journal sequence after compaction: %+v, want entry 3001", next)
	}
	// The compacted file is mostly in use: the next Open keeps it.
	compacted, _ := os.Stat(path)
	st.Close()
	st = open(t, path)
	if again, _ := os.Stat(path); !os.SameFile(compacted, again) {
		t.Fatal("the compacted file was compacted again")
	}
}

// TestOpenLeavesUsedFileAlone: a file mostly in use is not rewritten.
func TestOpenLeavesUsedFileAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	st := open(t, path)
	fillSets(t, st, 3000)
	st.Close()
	before, _ := os.Stat(path)
	if before.Size() < compactMinBytes {
		t.Fatalf("test file is %d bytes, under the %d compaction starts at", before.Size(), compactMinBytes)
	}
	st = open(t, path)
	defer st.Close()
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) || after.Size() != before.Size() {
		t.Fatalf("a file mostly in use was rewritten: %d bytes, now %d", before.Size(), after.Size())
	}
}

// TestFailedCompactionLeavesFileWhole: when the copy cannot be written, Open
// says so and the file is as it was, and opens once the obstacle is gone.
func TestFailedCompactionLeavesFileWhole(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	st := open(t, path)
	fillSets(t, st, 3000)
	err := st.db.Update(func(tx *bolt.Tx) error {
		for i := 10; i < 3000; i++ {
			if err := tx.Bucket(bucketSets).Delete([]byte(fmt.Sprintf("set-%04d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	before, _ := os.ReadFile(path)
	// A directory in the copy's place, not empty: it cannot be removed.
	if err := os.MkdirAll(filepath.Join(path+".compact", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "the file is unchanged") {
		t.Fatalf("Open with the copy's place taken: %v, want a compaction error", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("a failed compaction changed the file")
	}
	os.RemoveAll(path + ".compact")
	st = open(t, path)
	defer st.Close()
	if sets, err := st.LoadSets(ctx); err != nil || len(sets) != 10 {
		t.Fatalf("after the failed compaction: %d sets (%v), want 10", len(sets), err)
	}
}

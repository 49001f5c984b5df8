package boltstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/osupgrade/osupgrade/internal/clock"
	"github.com/osupgrade/osupgrade/orchestrator"
)

// buildState writes a database like serve's: scale sets, a journal long
// enough to need a branch page, documents of several kinds, the catalog and
// a meta value.
func buildState(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	st := open(t, path)
	defer st.Close()
	for i := range 5 {
		if err := st.SaveSet(ctx, &orchestrator.SetRecord{Model: model(fmt.Sprintf("web-%d", i), 10), Version: "18.04.202501010"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		e := orchestrator.JournalEntry{Time: clock.Epoch.Add(time.Duration(i) * time.Second), Set: fmt.Sprintf("web-%d", i%5), Attempt: 1, Note: "batch decision"}
		if err := st.AppendJournal(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutResources(ctx, "arm", map[string][]byte{"web-0": []byte(`{"name":"web-0"}`), "web-1": []byte(`{"name":"web-1"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveCatalog(ctx, []orchestrator.ImageVersion{{Ref: ubuntu, Version: "18.04.202501010"}, {Ref: ubuntu, Version: "18.04.202502010"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetMeta("clock", []byte(clock.Epoch.Format(time.RFC3339))); err != nil {
		t.Fatal(err)
	}
}

// layout is where a database's pages are, by bbolt's own page info.
type layout struct {
	pageSize int
	hwm      int
	byType   map[string][]int // "branch", "leaf", "freelist", "free"
}

func readLayout(t *testing.T, path string) layout {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := layout{pageSize: db.Info().PageSize, byType: map[string][]int{}}
	err = db.View(func(tx *bolt.Tx) error {
		l.hwm = int(tx.Size()) / l.pageSize
		for id := 2; id < l.hwm; {
			pi, err := tx.Page(id)
			if err != nil {
				return err
			}
			l.byType[pi.Type] = append(l.byType[pi.Type], id)
			id += 1 + pi.OverflowCount
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.byType["branch"]) == 0 || len(l.byType["leaf"]) < 2 || len(l.byType["freelist"]) != 1 {
		t.Fatalf("test database lacks the pages the cases damage: %v", l.byType)
	}
	return l
}

// offset of field at byte off of element i of page id.
func (l layout) element(id, i, off int) int64 {
	return int64(id*l.pageSize + pageHeaderSize + i*pageElementSize + off)
}

func (l layout) header(id, off int) int64 { return int64(id*l.pageSize + off) }

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func u32(v uint32) []byte { return order.AppendUint32(nil, v) }
func u64(v uint64) []byte { return order.AppendUint64(nil, v) }

// withBolt changes the file through bbolt: a database that is whole but
// not what we wrote.
func withBolt(t *testing.T, path string, f func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(f); err != nil {
		t.Fatal(err)
	}
}

// openNoPanic is Open with a panic turned into a test failure.
func openNoPanic(t *testing.T, path string) (s *Store, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Open panicked: %v", r)
		}
	}()
	return Open(path, 200*time.Millisecond)
}

func TestOpenRefusesDamagedState(t *testing.T) {
	cases := []struct {
		name string
		// damage breaks the good database at path, whose layout is l.
		damage func(t *testing.T, path string, l layout)
		why    string // in the message
	}{
		{"empty file", func(t *testing.T, path string, _ layout) { os.Truncate(path, 0) }, "empty (0 bytes)"},
		{"cut to one page", func(t *testing.T, path string, l layout) { os.Truncate(path, int64(l.pageSize)) }, "bbolt cannot open it"},
		{"cut in half", func(t *testing.T, path string, l layout) { os.Truncate(path, int64(l.hwm/2*l.pageSize)) }, "cut short"},
		{"not a bbolt file", func(t *testing.T, path string, _ layout) {
			os.WriteFile(path, []byte(strings.Repeat(`{"sets":[]}`+"\n", 3000)), 0o600)
		}, "bbolt cannot open it"},
		{"both meta pages flipped", func(t *testing.T, path string, l layout) {
			writeAt(t, path, l.header(0, pageHeaderSize+20), []byte{0xff})
			writeAt(t, path, l.header(1, pageHeaderSize+20), []byte{0xff})
		}, "bbolt cannot open it"},
		{"branch child past the end", func(t *testing.T, path string, l layout) {
			writeAt(t, path, l.element(l.byType["branch"][0], 0, 8), u64(1<<40))
		}, "outside"},
		{"branch child is itself", func(t *testing.T, path string, l layout) {
			b := l.byType["branch"][0]
			writeAt(t, path, l.element(b, 1, 8), u64(uint64(b)))
		}, "referenced twice"},
		{"branch key offset out of the page", func(t *testing.T, path string, l layout) {
			writeAt(t, path, l.element(l.byType["branch"][0], 0, 0), u32(0xfffff000))
		}, "reaching byte"},
		{"branch page type flipped", func(t *testing.T, path string, l layout) {
			writeAt(t, path, l.header(l.byType["branch"][0], 8), []byte{0x40, 0})
		}, "has type"},
		{"leaf value size flipped", func(t *testing.T, path string, l layout) {
			writeAt(t, path, l.element(l.byType["leaf"][1], 0, 12), u32(0x7fffffff))
		}, "reaching byte"},
		{"leaf element count flipped", func(t *testing.T, path string, l layout) {
			writeAt(t, path, l.header(l.byType["leaf"][1], 10), []byte{0xff, 0x7f})
		}, "more than it can hold"},
		{"leaf page id flipped", func(t *testing.T, path string, l layout) {
			writeAt(t, path, l.header(l.byType["leaf"][1], 0), u64(7777))
		}, "carries the id"},
		{"leaf overflow flipped", func(t *testing.T, path string, l layout) {
			writeAt(t, path, l.header(l.byType["leaf"][1], 12), u32(0x00ffffff))
		}, "overflow pages"},
		{"journal keys out of order", func(t *testing.T, path string, l layout) {
			// The branch's first child is a journal leaf: zero its second key.
			b := l.byType["branch"][0]
			f, _ := os.ReadFile(path)
			leaf := int(order.Uint64(f[l.element(b, 0, 8):]))
			pos := order.Uint32(f[l.element(leaf, 1, 4):])
			writeAt(t, path, l.element(leaf, 1, 0)+int64(pos), u64(0))
		}, "consistency check"},
		{"freelist count flipped", func(t *testing.T, path string, l layout) {
			writeAt(t, path, l.header(l.byType["freelist"][0], 10), []byte{0xfe, 0xff})
		}, "freelist"},
		{"foreign bbolt database", func(t *testing.T, path string, _ layout) {
			os.Remove(path)
			withBolt(t, path, func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("users")); return err })
		}, "lacks the buckets sets, journal, resources, meta"},
		{"bucket missing", func(t *testing.T, path string, _ layout) {
			withBolt(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketJournal) })
		}, "lacks the buckets journal"},
		{"scale set record not JSON", func(t *testing.T, path string, _ layout) {
			withBolt(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketSets).Put([]byte("web-2"), []byte("{\"model\":\x00")) })
		}, `record "web-2" does not decode`},
		{"scale set record under another name", func(t *testing.T, path string, _ layout) {
			withBolt(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketSets).Put([]byte("web-9"), tx.Bucket(bucketSets).Get([]byte("web-1")))
			})
		}, `under "web-9" names "web-1"`},
		{"journal key not a sequence number", func(t *testing.T, path string, _ layout) {
			withBolt(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketJournal).Put([]byte("abc"), []byte(`{}`)) })
		}, "journal key is 3 bytes"},
		{"journal entry not JSON", func(t *testing.T, path string, _ layout) {
			withBolt(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketJournal).Put(seqKey(20), []byte(`{"time":`)) })
		}, "journal entry 20 does not decode"},
		{"catalog entry not JSON", func(t *testing.T, path string, _ layout) {
			withBolt(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketResources).Bucket([]byte(kindCatalog)).Put([]byte("x|1"), []byte("[[["))
			})
		}, `catalog entry "x|1" does not decode`},
		{"catalog entry without a version", func(t *testing.T, path string, _ layout) {
			withBolt(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketResources).Bucket([]byte(kindCatalog)).Put([]byte("x|1"), []byte(`{"ref":"x"}`))
			})
		}, `catalog entry "x|1" lacks the image reference or version`},
	}
	template := filepath.Join(t.TempDir(), "state.db")
	buildState(t, template)
	good, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			if err := os.WriteFile(path, good, 0o600); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path, readLayout(t, path))
			before, _ := os.ReadFile(path)
			s, err := openNoPanic(t, path)
			if err == nil {
				s.Close()
				t.Fatal("Open accepted the damaged database")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			msg := err.Error()
			wants := []string{tc.why, "state database " + path + " is damaged", "mv " + path + " " + path + ".corrupt"}
			if tc.name != "empty file" {
				wants = append(wants, "bbolt@")
			}
			for _, want := range wants {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Error("Open wrote to the damaged file")
			}
		})
	}
}

// TestOpenGoodAndNewDatabases: a whole database opens with its contents; a
// missing file is a first start and opens empty, with our buckets.
func TestOpenGoodAndNewDatabases(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	buildState(t, good)
	s, err := openNoPanic(t, good)
	if err != nil {
		t.Fatalf("good database: %v", err)
	}
	sets, _ := s.LoadSets(ctx)
	journal, _ := s.Journal(ctx, "", 0, 0)
	s.Close()
	if len(sets) != 5 || len(journal) != 300 {
		t.Fatalf("good database read back %d sets and %d journal entries, want 5 and 300", len(sets), len(journal))
	}

	fresh := filepath.Join(dir, "fresh.db")
	s, err = openNoPanic(t, fresh)
	if err != nil {
		t.Fatalf("new database: %v", err)
	}
	if err := s.SaveSet(ctx, &orchestrator.SetRecord{Model: model("web", 3)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = openNoPanic(t, fresh); err != nil {
		t.Fatalf("reopening the new database: %v", err)
	}
	s.Close()
	if left, _ := filepath.Glob(filepath.Join(dir, "*.new-*")); len(left) != 0 {
		t.Fatalf("creation left %v behind", left)
	}
}

// TestReadsOfUndecodableRecordsFail: a record damaged after Open checked
// the file is an ErrCorrupt from the read, not a panic (a journal key of the
// wrong length used to index out of range).
func TestReadsOfUndecodableRecordsFail(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	buildState(t, path)
	s := open(t, path)
	defer s.Close()
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketJournal).Put([]byte{0xff, 0xff}, []byte(`{}`)); err != nil {
			return err
		}
		return tx.Bucket(bucketSets).Put([]byte("web-3"), []byte("not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	reads := map[string]func() error{
		"LoadSets":        func() error { _, err := s.LoadSets(ctx); return err },
		"Journal":         func() error { _, err := s.Journal(ctx, "", 0, 0); return err },
		"LastJournalTime": func() error { _, err := s.LastJournalTime(); return err },
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s panicked: %v", name, r)
				}
			}()
			if err := read(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("%s: %v, want ErrCorrupt naming %s", name, err, path)
			}
		})
	}
}

// TestOpenSurvivesRandomDamage flips random bytes of a real database, 200
// times (seeded): Open either refuses with ErrCorrupt, or the database it
// opens reads in full, takes writes and opens again.
func TestOpenSurvivesRandomDamage(t *testing.T) { damageRandomly(t, 17, 200) }

func damageRandomly(t *testing.T, seed uint64, n int) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	buildState(t, good)
	l := readLayout(t, good)
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 5))
	path := filepath.Join(dir, "state.db")
	refused, opened := 0, 0
	for range n {
		data := []byte(string(orig))
		var at []int
		for range 1 + rng.IntN(3) {
			// Half anywhere, half in a page's header and first elements,
			// where the structure is.
			off := rng.IntN(len(data))
			if rng.IntN(2) == 0 {
				off = rng.IntN(l.hwm)*l.pageSize + rng.IntN(64)
			}
			data[off] ^= byte(1 + rng.IntN(255))
			at = append(at, off)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("flips at %v: panic: %v", at, r)
				}
			}()
			s, err := Open(path, 200*time.Millisecond)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("flips at %v: Open: %v, want ErrCorrupt or success", at, err)
				}
				refused++
				return
			}
			opened++
			readAll(t, ctx, s)
			if err := s.AppendJournal(ctx, orchestrator.JournalEntry{Set: "web-0", Note: "after"}); err != nil {
				t.Fatalf("flips at %v: write: %v", at, err)
			}
			s.Close()
			s, err = Open(path, 200*time.Millisecond)
			if err != nil {
				t.Fatalf("flips at %v: reopen after a write: %v", at, err)
			}
			s.Close()
		}()
		if t.Failed() {
			return
		}
	}
	t.Logf("of %d damaged copies %d were refused, %d opened (flips in free space or in values)", n, refused, opened)
	if refused == 0 {
		t.Fatal("no damage was detected: the flips missed the structure")
	}
}

// readAll reads everything a Store holds; errors are acceptable only as
// ErrCorrupt.
func readAll(t *testing.T, ctx context.Context, s *Store) {
	t.Helper()
	var errs []error
	_, err := s.LoadSets(ctx)
	errs = append(errs, err)
	_, err = s.Journal(ctx, "", 0, 0)
	errs = append(errs, err)
	_, err = s.LastJournalTime()
	errs = append(errs, err)
	_, err = s.LoadCatalog(ctx)
	errs = append(errs, err)
	errs = append(errs, s.Resources(ctx, "arm", "", func(string, []byte) error { return nil }))
	_, _, err = s.Meta("clock")
	errs = append(errs, err)
	for _, err := range errs {
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("read after a successful Open: %v", err)
		}
	}
}

// TestDamageMessageRemedyIsSafe: the suggested mv works on a path with a
// space and a quote, and never overwrites an earlier damaged file.
func TestDamageMessageRemedyIsSafe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "osupgrade data's")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state.db")
	for _, p := range []string{path, path + ".corrupt"} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err := openNoPanic(t, path)
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	if want := "mv " + q(path) + " " + q(path+".corrupt.2"); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open: %v\nwant the remedy %s", err, want)
	}
}

// TestOpenDecodingChecksOtherKinds: a document of a kind another package
// decodes is checked by its decoder on open, and one that fails is refused
// like any damage: ErrCorrupt and the decoder's error, the file, the record,
// the way out; kinds without a decoder are not read.
func TestOpenDecodingChecksOtherKinds(t *testing.T) {
	errBad := errors.New("not a scale set document")
	decoders := Decoders{"arm": func(key string, doc []byte) error {
		if !strings.HasPrefix(string(doc), `{"name":"`+key+`"`) {
			return errBad
		}
		return nil
	}}
	cases := []struct {
		name      string
		kind, key string
		doc       string
		refused   bool
	}{
		{"whole documents", "arm", "web-0", `{"name":"web-0"}`, false},
		{"a document its decoder refuses", "arm", "web-1", `{"name":"web-\u0000"}`, true},
		{"a kind without a decoder", "operations", "op-1", "\x00\x01", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			buildState(t, path)
			withBolt(t, path, func(tx *bolt.Tx) error {
				b, err := tx.Bucket(bucketResources).CreateBucketIfNotExists([]byte(tc.kind))
				if err != nil {
					return err
				}
				return b.Put([]byte(tc.key), []byte(tc.doc))
			})
			s, err := OpenDecoding(path, 200*time.Millisecond, decoders)
			if !tc.refused {
				if err != nil {
					t.Fatalf("OpenDecoding: %v", err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("OpenDecoding accepted a document its decoder refuses")
			}
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, errBad) {
				t.Fatalf("OpenDecoding: %v, want ErrCorrupt wrapping the decoder's error", err)
			}
			for _, want := range []string{"state database " + path + " is damaged", `the arm record "web-1" cannot be used`, "mv " + path + " " + path + ".corrupt"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q:\n%s", want, err)
				}
			}
		})
	}
}

// TestDamagedNamesTheFileAndRecord: what a reader finds wrong after Open
// reads as Open's damage message and wraps both ErrCorrupt and the cause.
func TestDamagedNamesTheFileAndRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	defer s.Close()
	cause := errors.New("0 instances for a capacity of 20")
	err := s.Damaged("simset", "big", cause)
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, cause) {
		t.Fatalf("Damaged: %v, want ErrCorrupt wrapping the cause", err)
	}
	for _, want := range []string{"state database " + path + " is damaged", `the simset record "big" cannot be used: 0 instances`, "mv " + path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%s", want, err)
		}
	}
}

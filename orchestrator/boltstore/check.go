package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/osupgrade/osupgrade/orchestrator"
)

// ErrCorrupt is returned (wrapped in an error naming the file and what to
// do) when the state database is damaged or is not osupgrade's.
var ErrCorrupt = errors.New("state database is damaged")

// corruptError says which file is damaged, how, and what the user can do.
type corruptError struct {
	path, problem string
	empty         bool  // nothing to read: no advice on reading it
	cause         error // what reading it failed with, if an error did
}

func corrupt(path, format string, args ...any) error {
	e := &corruptError{path: path, problem: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			e.cause = err
		}
	}
	return e
}

func (e *corruptError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrCorrupt}
	}
	return []error{ErrCorrupt, e.cause}
}

// Damaged is the damage error for a record of the store (kind, key) that
// was read but cannot be used — it does not decode, or says what cannot be —
// found by a package reading its state after Open: the same message as
// Open's, naming the file, the record and what to do. It wraps ErrCorrupt
// and err.
func (s *Store) Damaged(kind, key string, err error) error {
	return corrupt(s.path, "%v", recordError(kind, key, err))
}

// recordError names the record a problem is in.
func recordError(kind, key string, err error) error {
	return fmt.Errorf("the %s record %q cannot be used: %w", kind, key, err)
}

func (e *corruptError) Error() string {
	aside := asideName(e.path)
	msg := fmt.Sprintf("state database %s is damaged: %s.\n"+
		"osupgrade does not start from a damaged state. To start with an empty state, move the file aside and start again:\n"+
		"    mv %s %s",
		e.path, e.problem, shellQuote(e.path), shellQuote(aside))
	if e.empty {
		return msg
	}
	tool, f := "go run go.etcd.io/bbolt/cmd/bbolt@"+bboltVersion(), shellQuote(aside)
	return msg + fmt.Sprintf("\nosupgrade has no command that exports the journal from a file. bbolt's own tool reads what is left once it is moved: "+
		"check lists the damage; the journal's entries (JSON under 8-byte sequence numbers) are listed and read with keys and get:\n"+
		"    %[1]s check %[2]s\n"+
		"    %[1]s keys --format hex %[2]s journal\n"+
		"    %[1]s get --parse-format hex %[2]s journal 0000000000000001", tool, f)
}

// asideName is the first of PATH.corrupt, PATH.corrupt.2, ... that does not
// exist yet, so that the suggested mv never overwrites an earlier one.
func asideName(path string) string {
	name := path + ".corrupt"
	for i := 2; i < 100; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			break
		}
		name = fmt.Sprintf("%s.corrupt.%d", path, i)
	}
	return name
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// bboltVersion is the version of bbolt this binary was built with, so that
// the suggested tool reads the same format.
func bboltVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "go.etcd.io/bbolt" && d.Version != "" && d.Version != "(devel)" {
				return d.Version
			}
		}
	}
	return "latest"
}

// guarded runs f, turning a panic (bbolt's assertions) or a memory fault
// (with debug.SetPanicOnFault, for this goroutine) into an error.
func guarded(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading it panics: %v", r)
		}
	}()
	return f()
}

// checkFile proves the database at path whole before bbolt opens it for
// writing: bbolt's structure (pages within the file), its consistency check,
// our buckets, and every record we decode decoding. It returns the checked
// file's identity. It holds a shared lock meanwhile, so it never reads a
// file another process is writing.
func checkFile(path string, timeout time.Duration, decoders Decoders) (fs.FileInfo, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("open %s: not a regular file", path)
	}
	if info.Size() == 0 {
		return nil, &corruptError{path: path, problem: "it is empty (0 bytes), not a database", empty: true}
	}
	var (
		file    *os.File
		fileErr error
	)
	var db *bolt.DB
	err = guarded(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: true, OpenFile: func(name string, flag int, perm fs.FileMode) (*os.File, error) {
			file, fileErr = os.OpenFile(name, flag, perm)
			return file, fileErr
		}})
		return err
	})
	switch {
	case err == nil:
	case errors.Is(err, bolt.ErrTimeout):
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	case fileErr != nil || errors.As(err, new(syscall.Errno)):
		return nil, fmt.Errorf("open %s: %w", path, err)
	default:
		if file != nil {
			file.Close() // a panic in bbolt left it open and locked; else a no-op
		}
		return nil, corrupt(path, "bbolt cannot open it: %v", err)
	}
	defer db.Close()
	if err := checkOpened(path, db, decoders); err != nil {
		return nil, err
	}
	return info, nil
}

// checkOpened checks the database bbolt opened read-only at path.
func checkOpened(path string, db *bolt.DB, decoders Decoders) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if err := checkPages(data); err != nil {
		return corrupt(path, "%v", err)
	}
	var problems []string
	n := 0
	err = guarded(func() error {
		return db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				if n++; n <= 3 {
					problems = append(problems, err.Error())
				}
			}
			return nil
		})
	})
	if err != nil {
		return corrupt(path, "its consistency check fails: %v", err)
	}
	if n > 0 {
		more := ""
		if n > len(problems) {
			more = fmt.Sprintf(" (and %d more)", n-len(problems))
		}
		return corrupt(path, "its consistency check finds %d problems: %s%s", n, strings.Join(problems, "; "), more)
	}
	err = guarded(func() error { return db.View(func(tx *bolt.Tx) error { return checkContents(tx, decoders) }) })
	if err != nil {
		return corrupt(path, "%v", err)
	}
	return nil
}

// checkContents checks our buckets are there and every record whose type
// this package knows decodes, and every resource document whose kind
// decoders has (the resources are other packages' documents).
func checkContents(tx *bolt.Tx, decoders Decoders) error {
	var missing []string
	for _, b := range [][]byte{bucketSets, bucketJournal, bucketResources, bucketMeta} {
		if tx.Bucket(b) == nil {
			missing = append(missing, string(b))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("it lacks the buckets %s: it is not osupgrade's state", strings.Join(missing, ", "))
	}
	err := tx.Bucket(bucketSets).ForEach(func(k, v []byte) error {
		rec, err := decodeSet(k, v)
		if err == nil && rec.Model.Name != string(k) {
			err = fmt.Errorf("the scale set record under %q names %q", k, rec.Model.Name)
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketJournal).ForEach(func(k, v []byte) error { _, err := decodeJournal(k, v); return err }); err != nil {
		return err
	}
	if err := tx.Bucket(bucketMeta).ForEach(func(k, v []byte) error { return valueNotBucket("meta", k, v) }); err != nil {
		return err
	}
	return tx.Bucket(bucketResources).ForEach(func(kind, v []byte) error {
		b := tx.Bucket(bucketResources).Bucket(kind)
		if v != nil || b == nil {
			return fmt.Errorf("resources entry %q is not a bucket", kind)
		}
		return b.ForEach(func(k, v []byte) error {
			if err := valueNotBucket("resources/"+string(kind), k, v); err != nil {
				return err
			}
			var err error
			if string(kind) == kindCatalog {
				_, err = decodeCatalog(k, v)
			} else if decode := decoders[string(kind)]; decode != nil {
				err = decode(string(k), v)
			}
			if err != nil {
				return recordError(string(kind), string(k), err)
			}
			return nil
		})
	})
}

func valueNotBucket(bucket string, k, v []byte) error {
	if v == nil {
		return fmt.Errorf("%s entry %q is a bucket where a value belongs", bucket, k)
	}
	return nil
}

func decodeSet(k, v []byte) (*orchestrator.SetRecord, error) {
	if err := valueNotBucket("sets", k, v); err != nil {
		return nil, err
	}
	rec := &orchestrator.SetRecord{}
	if err := json.Unmarshal(v, rec); err != nil {
		return nil, fmt.Errorf("the scale set record %q does not decode: %w", k, err)
	}
	return rec, nil
}

func decodeJournal(k, v []byte) (JournalRecord, error) {
	if len(k) != 8 {
		return JournalRecord{}, fmt.Errorf("a journal key is %d bytes, not a sequence number", len(k))
	}
	seq := binary.BigEndian.Uint64(k)
	if err := valueNotBucket("journal", k, v); err != nil {
		return JournalRecord{}, err
	}
	r := JournalRecord{Seq: seq}
	if err := json.Unmarshal(v, &r.JournalEntry); err != nil {
		return JournalRecord{}, fmt.Errorf("journal entry %d does not decode: %w", seq, err)
	}
	return r, nil
}

func decodeCatalog(k, v []byte) (orchestrator.ImageVersion, error) {
	var iv orchestrator.ImageVersion
	if err := json.Unmarshal(v, &iv); err != nil {
		return iv, fmt.Errorf("catalog entry %q does not decode: %w", k, err)
	}
	// What the catalog refuses to publish it cannot load either.
	if iv.Ref == "" || iv.Version == "" {
		return iv, fmt.Errorf("catalog entry %q lacks the image reference or version", k)
	}
	return iv, nil
}

package boltstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Compaction on open: a file at least compactMinBytes large whose pages in
// use fill less than half of it is rewritten densely. bbolt reuses free
// pages but never gives them back, so deleted sets and their journals
// otherwise keep the file at its largest.
const (
	compactMinBytes = 1 << 20
	compactTxBytes  = 64 << 20 // bbolt.Compact commits after this much copied
)

// errReplaced says the file at the path changed between its check and its
// opening for writing (moved aside, or compacted by another process): Open
// starts over.
var errReplaced = errors.New("the file was replaced while being opened")

// Open opens (creating if needed) the database at path. A second process
// opening the same file gets ErrLocked after timeout. A file that is damaged
// or not osupgrade's gives an error wrapping ErrCorrupt that says what to do;
// nothing is written to it. A file mostly free is compacted first.
func Open(path string, timeout time.Duration) (*Store, error) {
	return OpenDecoding(path, timeout, nil)
}

// Decoders decode other packages' documents (PutResource and the like), by
// kind: each decodes one document the way its package reads it, and says
// why it cannot be used.
type Decoders map[string]func(key string, doc []byte) error

// OpenDecoding is Open that also decodes every stored document of the kinds
// in decoders before anything is written: a document that does not decode
// is damage like a broken page, and is refused the same way (ErrCorrupt,
// the file, the record, what to do), rather than surfacing later as a bare
// decoding error from whoever reads it, or not until a request does.
func OpenDecoding(path string, timeout time.Duration, decoders Decoders) (*Store, error) {
	if timeout <= 0 {
		timeout = time.Second
	}
	for range 3 {
		s, err := openOnce(path, timeout, decoders)
		if !errors.Is(err, errReplaced) {
			return s, err
		}
	}
	return nil, fmt.Errorf("open %s: %w", path, errReplaced)
}

func openOnce(path string, timeout time.Duration, decoders Decoders) (*Store, error) {
	if err := createIfMissing(path, timeout); err != nil {
		return nil, err
	}
	checked, err := checkFile(path, timeout, decoders)
	if err != nil {
		return nil, err
	}
	db, err := openChecked(path, timeout, checked)
	if err != nil {
		return nil, err
	}
	if db, err = compactIfMostlyFree(db, path, timeout); err != nil {
		return nil, err
	}
	return &Store{db: db, path: path}, nil
}

// createIfMissing makes a new database with our buckets at path when there
// is no file there. It is built beside and linked into place whole, so that
// a crash never leaves an empty or bucketless file at path: those are damage.
func createIfMissing(path string, timeout time.Duration) error {
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there is a file, or checkFile reports why it cannot be read
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".new-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketSets, bucketJournal, bucketResources, bucketMeta} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	// A link never replaces: of two processes starting at once, the second
	// opens the first one's file.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		if err := os.Rename(tmp, path); err != nil { // a file system without links
			return fmt.Errorf("create %s: %w", path, err)
		}
	}
	return syncPath(dir)
}

// openChecked opens path for writing and makes sure it is the file checkFile
// checked (want): errReplaced otherwise. It never creates a file.
func openChecked(path string, timeout time.Duration, want fs.FileInfo) (*bolt.DB, error) {
	var file *os.File
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, OpenFile: func(name string, flag int, perm fs.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag&^os.O_CREATE, perm)
		file = f
		return f, err
	}})
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	case errors.Is(err, fs.ErrNotExist):
		return nil, errReplaced
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// The lock is on the file we opened: the one now at path must be it.
	opened, err1 := file.Stat()
	current, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(opened, want) || !os.SameFile(current, want) {
		db.Close()
		return nil, errReplaced
	}
	return db, nil
}

// compactIfMostlyFree rewrites the database densely when most of its file
// is free, and returns the database to use. The copy is written beside the
// file, synced, and renamed over it: a crash leaves the old file or the new
// one whole, and at worst a stale copy, removed next time.
func compactIfMostlyFree(db *bolt.DB, path string, timeout time.Duration) (*bolt.DB, error) {
	size, used, err := usage(db, path)
	if err != nil {
		db.Close()
		return nil, err
	}
	if size < compactMinBytes || used*2 >= size {
		return db, nil
	}
	if info, err := os.Lstat(path); err != nil || info.Mode()&fs.ModeSymlink != 0 {
		return db, nil // the rename would replace the link, not its target
	}
	tmp := path + ".compact"
	fail := func(err error) (*bolt.DB, error) {
		db.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("compact %s (%d of its %d bytes free; the file is unchanged, the copy was to be %s): %w", path, size-used, size, tmp, err)
	}
	// We hold the lock on path: no other process is compacting, and a copy
	// left here is a crashed compaction's.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return fail(err)
	}
	err = bolt.Compact(dst, db, compactTxBytes)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncPath(tmp)
	}
	if err != nil {
		return fail(err)
	}
	compacted, err := os.Stat(tmp)
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	err = syncPath(filepath.Dir(path))
	db.Close()
	if err != nil {
		return nil, fmt.Errorf("compact %s: %w", path, err)
	}
	return openChecked(path, timeout, compacted)
}

// usage is the file's size and the bytes of its pages in use.
func usage(db *bolt.DB, path string) (size, used int64, err error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	st := db.Stats()
	err = db.View(func(tx *bolt.Tx) error {
		used = tx.Size() - int64(st.FreePageN+st.PendingPageN)*int64(db.Info().PageSize)
		return nil
	})
	return info.Size(), used, err
}

// syncPath flushes a file, or a directory to make a rename or link in it
// durable (a read-only descriptor suffices for fsync).
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

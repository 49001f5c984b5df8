package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
)

// bbolt trusts its pages: it reads them through unchecked pointer
// arithmetic over the memory map, so an element offset or a page id that a
// damaged file carries into the void is a SIGSEGV or SIGBUS, which no
// recover catches (bbolt's own Check reads them the same way). Before any
// of bbolt's readers touch a page, checkPages walks the file's bytes from
// the current meta page and proves that every reachable page, element, key,
// value and inline bucket lies inside the file. The layout below is bbolt's
// on-disk format (version 2, unchanged since boltdb), in the machine's byte
// order as bbolt writes it.
const (
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	pageElementSize  = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	bucketHeaderSize = 16 // root pgid u64, sequence u64
	metaSize         = 64 // magic, version, pageSize, flags u32; root bucket; freelist, pgid, txid, checksum u64
	metaSummed       = 56 // the checksum covers the meta up to itself

	metaMagic   = 0xED0CDAED
	metaVersion = 2

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagFreelist = 0x10
	flagBucket   = 0x01 // on a leaf element: the value is a nested bucket

	noFreelist       = ^uint64(0)
	freelistOverflow = 0xFFFF // page count this high: the real count is the first id slot
)

var order = binary.NativeEndian

// fileMeta is what checkPages needs of a meta page.
type fileMeta struct {
	pageSize            uint64
	root, freelist, hwm uint64
	txid                uint64
}

// readMeta decodes the meta in the page starting at b; ok is false when its
// magic, version or checksum is wrong.
func readMeta(b []byte) (m fileMeta, ok bool) {
	if len(b) < pageHeaderSize+metaSize {
		return m, false
	}
	b = b[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	h.Write(b[:metaSummed])
	if order.Uint32(b[0:]) != metaMagic || order.Uint32(b[4:]) != metaVersion || order.Uint64(b[56:]) != h.Sum64() {
		return m, false
	}
	return fileMeta{
		pageSize: uint64(order.Uint32(b[8:])),
		root:     order.Uint64(b[16:]),
		freelist: order.Uint64(b[32:]),
		hwm:      order.Uint64(b[40:]),
		txid:     order.Uint64(b[48:]),
	}, true
}

// currentMeta picks the meta page bbolt will use: the valid one with the
// higher transaction id. Like bbolt, it finds the second meta page by trying
// page sizes from 1 KiB up when the first one is unreadable.
func currentMeta(data []byte) (fileMeta, error) {
	var metas []fileMeta
	if m, ok := readMeta(data); ok {
		metas = append(metas, m)
		if m.pageSize < uint64(len(data)) {
			if m1, ok := readMeta(data[m.pageSize:]); ok && m1.pageSize == m.pageSize {
				metas = append(metas, m1)
			}
		}
	} else {
		for size := uint64(1024); size < uint64(len(data)) && size <= 1024<<14; size <<= 1 {
			if m1, ok := readMeta(data[size:]); ok && m1.pageSize == size {
				metas = append(metas, m1)
				break
			}
		}
	}
	if len(metas) == 0 {
		return fileMeta{}, errors.New("neither of its two meta pages is valid: it is not a bbolt database, or both headers are damaged")
	}
	m := metas[0]
	if len(metas) == 2 && metas[1].txid > m.txid {
		m = metas[1]
	}
	if m.pageSize < pageHeaderSize+metaSize || m.pageSize&(m.pageSize-1) != 0 {
		return m, fmt.Errorf("its meta page gives a page size of %d bytes", m.pageSize)
	}
	return m, nil
}

// checkPages proves the structure bbolt will read from data lies within it.
func checkPages(data []byte) error {
	m, err := currentMeta(data)
	if err != nil {
		return err
	}
	if pages := uint64(len(data)) / m.pageSize; m.hwm < 3 || m.hwm > pages {
		return fmt.Errorf("it is cut short: its meta page counts %d pages of %d bytes, the file holds %d bytes", m.hwm, m.pageSize, len(data))
	}
	w := pageWalk{data: data, pageSize: m.pageSize, hwm: m.hwm, seen: map[uint64]bool{0: true, 1: true}}
	if m.freelist != noFreelist {
		if err := w.freelist(m.freelist); err != nil {
			return err
		}
	}
	return w.tree(m.root)
}

type pageWalk struct {
	data     []byte
	pageSize uint64
	hwm      uint64 // pages below this id are in use or free
	seen     map[uint64]bool
}

// page returns the bytes of page id and its overflow pages, after checking
// they lie below the high-water mark and nothing else claimed them (a page
// reached twice would also be a loop).
func (w *pageWalk) page(id uint64) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("a reference to page %d points outside its %d pages", id, w.hwm)
	}
	if w.seen[id] {
		return nil, fmt.Errorf("page %d is referenced twice", id)
	}
	off := id * w.pageSize
	hdr := w.data[off : off+pageHeaderSize]
	if got := order.Uint64(hdr); got != id {
		return nil, fmt.Errorf("page %d carries the id %d", id, got)
	}
	overflow := uint64(order.Uint32(hdr[12:]))
	if overflow >= w.hwm-id {
		return nil, fmt.Errorf("page %d claims %d overflow pages, past the end of the database", id, overflow)
	}
	for p := id; p <= id+overflow; p++ {
		if w.seen[p] {
			return nil, fmt.Errorf("page %d is referenced twice", p)
		}
		w.seen[p] = true
	}
	return w.data[off : off+(overflow+1)*w.pageSize], nil
}

// tree checks the branch or leaf page id and everything below it.
func (w *pageWalk) tree(id uint64) error {
	p, err := w.page(id)
	if err != nil {
		return err
	}
	switch flags := order.Uint16(p[8:]); flags {
	case flagBranch:
		return w.branch(id, p)
	case flagLeaf:
		return w.leaf(fmt.Sprintf("page %d", id), p)
	default:
		return fmt.Errorf("page %d has type %#x where a branch or leaf page belongs", id, flags)
	}
}

// elements is the element count of page p, checked to fit in it.
func elements(name string, p []byte) (int, error) {
	n := int(order.Uint16(p[10:]))
	if pageHeaderSize+n*pageElementSize > len(p) {
		return 0, fmt.Errorf("%s claims %d elements, more than it can hold", name, n)
	}
	return n, nil
}

// field returns the size bytes at pos after the element at elem, checked to
// lie within p.
func field(name string, p []byte, elem int, pos uint32, size uint64) ([]byte, error) {
	start := uint64(elem) + uint64(pos)
	if end := start + size; end > uint64(len(p)) {
		return nil, fmt.Errorf("%s has an element reaching byte %d of its %d", name, end, len(p))
	}
	return p[start : start+size], nil
}

func (w *pageWalk) branch(id uint64, p []byte) error {
	name := fmt.Sprintf("branch page %d", id)
	n, err := elements(name, p)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s is empty", name)
	}
	for i := range n {
		e := pageHeaderSize + i*pageElementSize
		if _, err := field(name, p, e, order.Uint32(p[e:]), uint64(order.Uint32(p[e+4:]))); err != nil {
			return err
		}
		if err := w.tree(order.Uint64(p[e+8:])); err != nil {
			return err
		}
	}
	return nil
}

// leaf checks a leaf page (or a bucket's inline page, p then being the
// value's bytes) and the buckets nested in it.
func (w *pageWalk) leaf(name string, p []byte) error {
	n, err := elements(name, p)
	if err != nil {
		return err
	}
	for i := range n {
		e := pageHeaderSize + i*pageElementSize
		flags, pos, ksize, vsize := order.Uint32(p[e:]), order.Uint32(p[e+4:]), order.Uint32(p[e+8:]), order.Uint32(p[e+12:])
		kv, err := field(name, p, e, pos, uint64(ksize)+uint64(vsize))
		if err != nil {
			return err
		}
		if flags&flagBucket != 0 {
			if err := w.bucket(name, kv[ksize:]); err != nil {
				return err
			}
		}
	}
	return nil
}

// bucket checks a nested bucket's header and its tree or inline page.
func (w *pageWalk) bucket(parent string, v []byte) error {
	if len(v) < bucketHeaderSize {
		return fmt.Errorf("%s holds a bucket header of %d bytes", parent, len(v))
	}
	if root := order.Uint64(v); root != 0 {
		return w.tree(root)
	}
	inline := v[bucketHeaderSize:]
	name := "an inline bucket in " + parent
	if len(inline) < pageHeaderSize || order.Uint16(inline[8:]) != flagLeaf {
		return fmt.Errorf("%s has no leaf page", name)
	}
	return w.leaf(name, inline)
}

func (w *pageWalk) freelist(id uint64) error {
	p, err := w.page(id)
	if err != nil {
		return err
	}
	if flags := order.Uint16(p[8:]); flags != flagFreelist {
		return fmt.Errorf("the freelist's page %d has type %#x", id, flags)
	}
	ids := p[pageHeaderSize:]
	count := uint64(order.Uint16(p[10:]))
	if count == freelistOverflow {
		if len(ids) < 8 {
			return fmt.Errorf("freelist page %d is cut short", id)
		}
		count, ids = order.Uint64(ids), ids[8:]
	}
	if count > uint64(len(ids))/8 {
		return fmt.Errorf("freelist page %d claims %d free pages, more than it can hold", id, count)
	}
	for i := range count {
		if free := order.Uint64(ids[i*8:]); free < 2 || free >= w.hwm {
			return fmt.Errorf("freelist page %d lists page %d, outside the database's %d pages", id, free, w.hwm)
		}
	}
	return nil
}

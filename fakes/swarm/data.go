package swarm

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/osupgrade/osupgrade/fakes/docker"
)

// diskPath is where data disk d is mounted: /data, /data1, /data2...
func diskPath(d int) string {
	if d == 0 {
		return "/" + docker.DataDir
	}
	return "/" + docker.DataDir + strconv.Itoa(d)
}

// initialData is the content instance id's first data disk starts with
// (the Docker fleet's).
func (f *Fleet) initialData(set string, id int) []byte {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", f.seed, set, id)
	return fmt.Appendf(nil, "initial data of %s/%d: %016x\n", set, id, h.Sum64())
}

// WriteData writes a file on an instance's first data disk (/data/name),
// through its task's container on its node.
func (f *Fleet) WriteData(ctx context.Context, set string, id int, name string, body []byte) error {
	if name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("swarm: data file name %q: want a plain file name", name)
	}
	eng, cid, _, err := f.taskContainer(ctx, set, id)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: path.Join(docker.DataDir, name), Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	if _, err := tw.Write(body); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return eng.CopyToContainer(ctx, cid, "/", &buf, container.CopyToContainerOptions{})
}

// DataDigests is a checksum of every data disk of every instance of a set,
// in instance order (I-4), read through the nodes' engines.
func (f *Fleet) DataDigests(ctx context.Context, set string) ([]uint64, error) {
	s, err := f.set(set)
	if err != nil {
		return nil, err
	}
	m := f.model(s)
	out := make([]uint64, m.Capacity)
	err = f.parallel(ctx, m.Capacity, func(ctx context.Context, i int) error {
		eng, cid, _, err := f.taskContainer(ctx, set, i)
		if err != nil {
			return err
		}
		h := fnv.New64a()
		for d := 0; d < m.DataDisks; d++ {
			rc, _, err := eng.CopyFromContainer(ctx, cid, diskPath(d))
			if err != nil {
				return fmt.Errorf("swarm: read data disk %d of %s/%d: %w", d, set, i, err)
			}
			err = digestTar(rc, h)
			rc.Close()
			if err != nil {
				return fmt.Errorf("swarm: read data disk %d of %s/%d: %w", d, set, i, err)
			}
		}
		out[i] = h.Sum64()
		return nil
	})
	return out, err
}

// digestTar hashes the regular files of a tar stream by name and content,
// in name order (the Docker fleet's digest).
func digestTar(r io.Reader, h io.Writer) error {
	type file struct {
		name string
		sum  uint64
	}
	var files []file
	tr := tar.NewReader(r)
	for {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if hd.Typeflag != tar.TypeReg {
			continue
		}
		fh := fnv.New64a()
		if _, err := io.Copy(fh, tr); err != nil {
			return err
		}
		files = append(files, file{name: hd.Name, sum: fh.Sum64()})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	for _, fl := range files {
		fmt.Fprintf(h, "%s\x00%016x\x00", fl.name, fl.sum)
	}
	return nil
}

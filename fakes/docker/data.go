package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
)

// DataDigests is a checksum of every data disk of every instance of a set,
// in instance order (I-4: equal before and after a rollout when every byte
// survived). Read through the engine's archive API, so stopped and paused
// instances are read too.
func (f *Fleet) DataDigests(ctx context.Context, set string) ([]uint64, error) {
	s, err := f.set(set)
	if err != nil {
		return nil, err
	}
	m := f.model(s)
	out := make([]uint64, m.Capacity)
	err = f.parallel(ctx, m.Capacity, func(ctx context.Context, i int) error {
		c, ok, err := f.instanceContainer(ctx, set, i)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("docker: %s/%d has no container", set, i)
		}
		h := fnv.New64a()
		for d := 0; d < m.DataDisks; d++ {
			if err := digestDir(ctx, f, c.ID, diskPath(d), h); err != nil {
				return fmt.Errorf("docker: read data disk %d of %s/%d: %w", d, set, i, err)
			}
		}
		out[i] = h.Sum64()
		return nil
	})
	return out, err
}

// digestDir hashes the regular files under dir by name and content, in name
// order; modes and times are not data.
func digestDir(ctx context.Context, f *Fleet, containerID, dir string, h io.Writer) error {
	rc, _, err := f.cli.CopyFromContainer(ctx, containerID, dir)
	if err != nil {
		return err
	}
	defer rc.Close()
	type file struct {
		name string
		sum  uint64
	}
	var files []file
	tr := tar.NewReader(rc)
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

// WriteData writes a file on an instance's first data disk (/data/name).
func (f *Fleet) WriteData(ctx context.Context, set string, id int, name string, body []byte) error {
	if name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("docker: data file name %q: want a plain file name", name)
	}
	c, ok, err := f.instanceContainer(ctx, set, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("docker: %s/%d has no container", set, id)
	}
	return f.copyFiles(ctx, c.ID, map[string][]byte{path.Join(DataDir, name): body})
}

// ReadData reads a file from an instance's first data disk.
func (f *Fleet) ReadData(ctx context.Context, set string, id int, name string) ([]byte, error) {
	c, ok, err := f.instanceContainer(ctx, set, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("docker: %s/%d has no container", set, id)
	}
	b, err := f.readFile(ctx, c.ID, path.Join("/", DataDir, name))
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("docker: %s/%d: /%s/%s: %w", set, id, DataDir, name, err)
	}
	return b, err
}

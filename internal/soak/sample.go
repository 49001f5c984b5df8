package soak

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Series are the samples of the server process.
type Series struct {
	// RSS is VmRSS less the resident pages of state.db's mapping: bbolt
	// maps the database, so the pages of a database that grows with the
	// journals (by design: they keep every decision and every reimage)
	// are resident too, and say nothing of a leak. The database's growth
	// is reported (StateDB, StateDBRSS), not judged.
	RSS        []Sample `json:"rssBytes"`
	Goroutines []Sample `json:"goroutines"`
	FDs        []Sample `json:"fds"`
	// Not judged; they tell where resident memory goes: VmRSS as the
	// kernel counts it, anonymous memory (the heap) or file pages (the
	// binary, state.db's mapping), the Go heap in use, state.db's size.
	VmRSS      []Sample `json:"vmRssBytes"`
	RSSAnon    []Sample `json:"rssAnonBytes"`
	RSSFile    []Sample `json:"rssFileBytes"`
	StateDBRSS []Sample `json:"stateDbRssBytes"`
	HeapInuse  []Sample `json:"heapInuseBytes"`
	StateDB    []Sample `json:"stateDbBytes"`
}

// sample reads the server's resident memory (/proc/PID/status VmRSS), open
// file descriptors (/proc/PID/fd) and goroutines (go_goroutines of its
// /metrics, from the Go collector it registers) every period until ctx
// ends. A reading that fails is left out of its series.
func sample(ctx context.Context, period time.Duration, pid int, c *client, stateDB string, begin time.Time) Series {
	var s Series
	t := time.NewTicker(period)
	defer t.Stop()
	// add(series, at)(value, err) keeps the value when err is nil.
	add := func(to *[]Sample, at float64) func(float64, error) {
		return func(v float64, err error) {
			if err == nil {
				*to = append(*to, Sample{at, v})
			}
		}
	}
	for {
		at := time.Since(begin).Seconds()
		if st, err := procStatus(pid); err == nil {
			vm, verr := st.kB("VmRSS")
			db, derr := mappedRSS(pid, stateDB)
			add(&s.VmRSS, at)(vm, verr)
			add(&s.StateDBRSS, at)(db, derr)
			add(&s.RSS, at)(vm-db, errors.Join(verr, derr))
			add(&s.RSSAnon, at)(st.kB("RssAnon"))
			add(&s.RSSFile, at)(st.kB("RssFile"))
		}
		add(&s.FDs, at)(openFDs(pid))
		if mfs, err := metrics(ctx, c); err == nil {
			add(&s.Goroutines, at)(gauge(mfs, "go_goroutines"))
			add(&s.HeapInuse, at)(gauge(mfs, "go_memstats_heap_inuse_bytes"))
		}
		if fi, err := os.Stat(stateDB); err == nil {
			add(&s.StateDB, at)(float64(fi.Size()), nil)
		}
		select {
		case <-ctx.Done():
			return s
		case <-t.C:
		}
	}
}

type procStatusLines map[string]string

func procStatus(pid int) (procStatusLines, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	st := procStatusLines{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			st[k] = strings.TrimSpace(v)
		}
	}
	return st, nil
}

// kB reads a "12345 kB" field in bytes.
func (st procStatusLines) kB(field string) (float64, error) {
	f := strings.Fields(st[field])
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("/proc status has no %s in kB", field)
	}
	kb, err := strconv.ParseFloat(f[0], 64)
	return kb * 1024, err
}

// mappedRSS is the resident bytes of pid's mappings of file (0 when it
// maps none), from /proc/PID/smaps.
func mappedRSS(pid int, file string) (float64, error) {
	if p, err := filepath.EvalSymlinks(file); err == nil {
		file = p
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return 0, err
	}
	var kb float64
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			// A mapping's header: address range, perms, offset, device, inode[, path].
			in = len(f) >= 6 && strings.TrimSuffix(strings.Join(f[5:], " "), " (deleted)") == file
		case in && len(f) == 3 && f[0] == "Rss:" && f[2] == "kB":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/smaps: %q: %w", pid, line, err)
			}
			kb += v
		}
	}
	return kb * 1024, sc.Err()
}

func openFDs(pid int) (float64, error) {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return float64(len(es)), err
}

func metrics(ctx context.Context, c *client) (map[string]*dto.MetricFamily, error) {
	r, err := c.call(ctx, "GET metrics", http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, fmt.Errorf("/metrics: status %d", r.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		return nil, fmt.Errorf("/metrics: %w", err)
	}
	return mfs, nil
}

// gauge is the value of an unlabelled gauge.
func gauge(mfs map[string]*dto.MetricFamily, name string) (float64, error) {
	mf := mfs[name]
	if mf == nil || len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetGauge() == nil {
		return 0, fmt.Errorf("/metrics has no gauge %s", name)
	}
	return mf.GetMetric()[0].GetGauge().GetValue(), nil
}

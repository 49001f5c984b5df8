package soak

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// sample reads the server's resident memory (/proc/PID/status VmRSS), open
// file descriptors (/proc/PID/fd) and goroutines (go_goroutines of its
// /metrics, from the Go collector it registers) every period until ctx
// ends. A reading that fails is left out of its series.
func sample(ctx context.Context, period time.Duration, pid int, c *client, begin time.Time) sampleSeries {
	var s sampleSeries
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		at := time.Since(begin).Seconds()
		if v, err := rssBytes(pid); err == nil {
			s.RSS = append(s.RSS, Sample{at, v})
		}
		if v, err := openFDs(pid); err == nil {
			s.FDs = append(s.FDs, Sample{at, v})
		}
		if v, err := goroutines(ctx, c); err == nil {
			s.Goroutines = append(s.Goroutines, Sample{at, v})
		}
		select {
		case <-ctx.Done():
			return s
		case <-t.C:
		}
	}
}

func rssBytes(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS in kB", pid)
}

func openFDs(pid int) (float64, error) {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return float64(len(es)), err
}

func goroutines(ctx context.Context, c *client) (float64, error) {
	r, err := c.call(ctx, "GET metrics", http.MethodGet, "/metrics", nil)
	if err != nil {
		return 0, err
	}
	if r.Status != http.StatusOK {
		return 0, fmt.Errorf("/metrics: status %d", r.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		return 0, fmt.Errorf("/metrics: %w", err)
	}
	mf := mfs["go_goroutines"]
	if mf == nil || len(mf.GetMetric()) != 1 {
		return 0, errNoGoroutines
	}
	return mf.GetMetric()[0].GetGauge().GetValue(), nil
}

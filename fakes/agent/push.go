package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Report says where and how the agent reports its state to the fleet's
// collector (push health), as Azure's VM agent reports to its host: on
// every change and, when nothing changes, every Heartbeat. An agent whose
// config has none reports nothing and is asked instead (GET /status).
type Report struct {
	// URL is the collector's endpoint (POST, a StatusReport as JSON).
	URL string `json:"url"`
	// Token authenticates this instance's reports: the collector accepts a
	// report for a set and instance only with that instance's token.
	Token string `json:"token"`
	// Boot names this start of the container; every report carries it, so
	// that the collector can tell a report of this boot from a late one of
	// the container it replaced.
	Boot string `json:"boot,omitempty"`
	// Heartbeat is the wall time between reports when nothing changes.
	Heartbeat time.Duration `json:"heartbeat"`
}

// StatusReport is one report: the status as GET /status would answer it,
// the boot it belongs to and its place in the boot's sequence.
type StatusReport struct {
	Boot   string `json:"boot,omitempty"`
	Seq    uint64 `json:"seq"`
	Status Status `json:"status"`
}

// minHeartbeat bounds a config's heartbeat from below: a report is an HTTP
// request, and hundreds of agents on one machine share its CPU.
const minHeartbeat = 10 * time.Millisecond

// pusher sends the agent's reports: one goroutine, woken by a change or
// the heartbeat, never more than one request in flight.
type pusher struct {
	cfg     Report
	client  *http.Client
	changed chan struct{}
	seq     uint64
}

func newPusher(r Report) *pusher {
	hb := max(r.Heartbeat, minHeartbeat)
	r.Heartbeat = hb
	return &pusher{
		cfg: r,
		// One kept-alive connection to the collector; a report that takes
		// longer than a heartbeat is given up (the next one is fresher).
		client:  &http.Client{Timeout: max(hb, time.Second), Transport: &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: 10 * hb}},
		changed: make(chan struct{}, 1),
	}
}

// notify wakes the pusher: the status changed. It never blocks.
func (p *pusher) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// run reports snapshot() at once, on every notify and every heartbeat
// until ctx ends. A report that fails is not retried: the next change or
// heartbeat sends the then current status.
func (p *pusher) run(ctx context.Context, snapshot func() Status) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.changed:
		case <-t.C:
		}
		_ = p.push(ctx, snapshot())
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(p.cfg.Heartbeat)
	}
}

// push sends one report.
func (p *pusher) push(ctx context.Context, s Status) error {
	p.seq++
	b, err := json.Marshal(StatusReport{Boot: p.cfg.Boot, Seq: p.seq, Status: s})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.URL, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.cfg.Token)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("agent: report refused: %d %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

package docker

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/osupgrade/osupgrade/fakes/agent"
)

// Push health: every agent reports its state (boot, extensions, the
// Application Health extension's state) to the collector its scale set's
// blob endpoint also serves, on every change and as a heartbeat, as
// Azure's VM agent reports to its host; Observe reads the collector
// instead of asking each agent. What the collector holds is only as good
// as its last heartbeat: an agent not heard within staleAfter (a container
// paused, killed, partitioned or hung) is not known to be booted or
// healthy any more, and Observe says Unknown, which counts as unhealthy.
//
// Timing, in scenario time and wall time: an agent reports every 5 s of
// scenario time (heartbeatScenario, the Application Health extension's
// default probe interval: one report per verdict it could give), but no
// more often than the collector's budget of reportBudget reports a wall
// second across the set allows (at time scale 60: every 83 ms up to 33
// instances, every 0.5 s at 200). It is Unknown after staleHeartbeats
// heartbeats plus staleSlack of wall time missed, and no sooner than
// agentTimeout (1 s wall, the status call's timeout before push health):
// at time scale 20 (make run, the features, bench) and 10 instances 1.2 s
// wall (24 s of scenario time), at 200 instances 2.2 s (44 s); at time
// scale 60, 1 s (60 s of scenario time) up to 50 instances. The sim sees
// a partition at once: on Docker a scenario needs the bound's scenario
// time between a fault that cuts an agent off and the decision that must
// see it (chaos-partition has a batch, 35 s or more, at time scale 20).

const (
	// ReportPath is where the collector takes reports, on the set's
	// blob endpoint.
	ReportPath = "/osupgrade/agent-report"
	// LabelReports marks an OS image whose agent reports by push: an
	// image built by an older osupgrade lacks it, and its agents are
	// asked over HTTP (GET /status) as before.
	LabelReports = "osupgrade.agent-reports"
	// ReportsPush is LabelReports' value: the agent takes a Report in its
	// config (fakes/agent.Report).
	ReportsPush = "push/1"

	heartbeatScenario = 5 * time.Second
	reportBudget      = 400 // reports a wall second across a set, at most
	staleHeartbeats   = 4
	staleSlack        = 200 * time.Millisecond
)

// heartbeat is the wall time between an agent's reports when nothing
// changes, for a set of n instances at time scale scale.
func heartbeat(n int, scale float64) time.Duration {
	hb := heartbeatScenario
	if scale > 0 {
		hb = time.Duration(float64(heartbeatScenario) / scale)
	}
	return max(hb, time.Duration(n)*time.Second/reportBudget)
}

// staleAfter is how long an agent that reports every hb may go unheard
// before its state is Unknown: staleHeartbeats heartbeats and staleSlack,
// but no less than agentTimeout, the patience a status call had before
// push health. Tighter (0.7 s at 50 instances and time scale 60) made
// agents on a loaded machine (a load of 100 on 2 cores) miss it more often
// than polling missed its timeout: 11 of 50 instances per observation
// against 4 (TestObserveCPU, N=50).
func staleAfter(hb time.Duration) time.Duration {
	return max(staleHeartbeats*hb+staleSlack, agentTimeout)
}

// collector holds the last report of every instance of the fleet. Safe for
// concurrent use.
type collector struct {
	key []byte
	now func() time.Time // wall clock

	mu   sync.Mutex
	last map[instanceKey]*heard
}

type instanceKey struct {
	set string
	id  int
}

// heard is what the collector knows of one instance.
type heard struct {
	boot   string // the boot reports are accepted from; "": any
	status agent.Status
	seq    uint64
	at     time.Time // wall time of the last report; zero: none of this boot
}

// newCollector makes the collector of a run: its tokens are derived from
// the run id, so that a fleet object made again for the run accepts the
// tokens its containers hold (like the storage key, they guard against one
// container reporting for another, not against someone who can read the
// engine's labels).
func newCollector(runID string, now func() time.Time) *collector {
	sum := sha256.Sum256([]byte("osupgrade-collector/" + runID))
	return &collector{key: sum[:], now: now, last: map[instanceKey]*heard{}}
}

// token is the instance's report token.
func (c *collector) token(set string, id int) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(set + "\x00" + strconv.Itoa(id)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newBoot names a start of an instance's container.
func newBoot() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// expect starts a boot of an instance: what was heard of the containers
// before is forgotten, and only reports of boot are taken.
func (c *collector) expect(set string, id int, boot string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last[instanceKey{set, id}] = &heard{boot: boot}
}

// forgetSet drops what was heard of a set's instances.
func (c *collector) forgetSet(set string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.last {
		if k.set == set || set == "" {
			delete(c.last, k)
		}
	}
}

// latest is the instance's last report of its current boot: ok is false
// when none came, at is when (wall time) the last one did. expected is
// false when the collector knows nothing of the instance: no boot of it
// started since the fleet object was made, and no report came.
func (c *collector) latest(set string, id int) (st agent.Status, at time.Time, ok, expected bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.last[instanceKey{set, id}]
	if h == nil || h.at.IsZero() {
		return st, at, false, h != nil
	}
	st = h.status
	st.Extensions = append([]agent.ExtensionStatus(nil), st.Extensions...)
	return st, h.at, true, true
}

// ServeHTTP takes one report: POST ReportPath, the instance's token as a
// bearer token, an agent.StatusReport naming the instance. A report of
// another boot than the one expected is refused (409: a container that was
// replaced), as is one older than the last taken (its seq).
func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "reports are POSTed", http.StatusMethodNotAllowed)
		return
	}
	var rep agent.StatusReport
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&rep); err != nil {
		http.Error(w, "report: "+err.Error(), http.StatusBadRequest)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !hmac.Equal([]byte(tok), []byte(c.token(rep.Status.Set, rep.Status.Instance))) {
		http.Error(w, "the token is not instance "+strconv.Itoa(rep.Status.Instance)+" of "+rep.Status.Set+"'s", http.StatusUnauthorized)
		return
	}
	k := instanceKey{rep.Status.Set, rep.Status.Instance}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.last[k]
	switch {
	case h == nil:
		// Not expected (a fleet object made again for the run): the
		// running container's boot, whichever it is.
		h = &heard{boot: rep.Boot}
		c.last[k] = h
	case h.boot == "":
		h.boot = rep.Boot
	case h.boot != rep.Boot:
		http.Error(w, "boot "+rep.Boot+" is not the instance's current one", http.StatusConflict)
		return
	}
	if !h.at.IsZero() && rep.Seq <= h.seq {
		w.WriteHeader(http.StatusNoContent) // a late one: the newer stands
		return
	}
	h.status, h.seq, h.at = rep.Status, rep.Seq, now
	w.WriteHeader(http.StatusNoContent)
}

// endpoint is what a set's endpoint on its network's gateway serves: the
// collector at ReportPath, the blob storage elsewhere.
func (f *Fleet) endpoint() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(ReportPath, f.reports)
	mux.Handle("/", f.store)
	return mux
}

// pushes says whether the agent of container labels reports by push and is
// to be read from the collector: its image's agent can (LabelReports) and
// the fleet does not poll.
func (f *Fleet) pushes(labels map[string]string) bool {
	return !f.poll && !f.olderAgents && labels[LabelReports] == ReportsPush
}

// report is the Report in the config of instance id's boot: nil when the
// fleet polls its agents.
func (f *Fleet) report(s *scaleSet, id int, boot string) *agent.Report {
	if f.poll || f.olderAgents || s.base == "" {
		return nil
	}
	return &agent.Report{
		URL:       s.base + ReportPath,
		Token:     f.reports.token(s.model.Name, id),
		Boot:      boot,
		Heartbeat: heartbeat(s.model.Capacity, f.scale),
	}
}

// AgentHealthEnv chooses how the fleet learns the agents' state when
// Options.PollAgents is false: "push" (or unset) or "poll".
const AgentHealthEnv = "OSUPGRADE_AGENT_HEALTH"

// pollAgents is whether the fleet asks its agents over HTTP.
func pollAgents(opts Options) (bool, error) {
	switch v := os.Getenv(AgentHealthEnv); v {
	case "", "push":
		return opts.PollAgents, nil
	case "poll":
		return true, nil
	default:
		return false, fmt.Errorf("docker: %s=%q: want push or poll", AgentHealthEnv, v)
	}
}

// awaitReports waits, after a reattach, until every instance of the sets
// has reported to this fleet object's collector, or for one staleness
// bound: the running agents report to the endpoint served again at the
// same address within a heartbeat or two, and the first Observe then reads
// their reports instead of asking each agent (the fallback for an agent
// not heard).
func (f *Fleet) awaitReports(ctx context.Context) {
	f.mu.Lock()
	type want struct {
		set string
		n   int
	}
	var sets []want
	var bound time.Duration
	for name, s := range f.sets {
		sets = append(sets, want{name, s.model.Capacity})
		bound = max(bound, staleAfter(heartbeat(s.model.Capacity, f.scale)))
	}
	f.mu.Unlock()
	if f.poll || f.olderAgents || len(sets) == 0 {
		return
	}
	deadline := time.Now().Add(bound)
	for {
		missing := 0
		for _, s := range sets {
			for id := range s.n {
				if _, _, ok, _ := f.reports.latest(s.set, id); !ok {
					missing++
				}
			}
		}
		if missing == 0 || !time.Now().Before(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

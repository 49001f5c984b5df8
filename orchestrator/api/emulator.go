package api

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/backend"
	"github.com/osupgrade/osupgrade/orchestrator/boltstore"
)

// Emulator-only endpoints: what Azure does behind the scenes (publishing a
// platform image, time passing, VMs misbehaving) and what it never shows
// (the decision journal).

type publishRequest struct {
	Image       string     `json:"image"` // publisher:offer:sku
	Version     string     `json:"version"`
	PublishedAt *time.Time `json:"publishedAt,omitempty"`
}

// publishImage makes a new platform image version available in every
// region (R-TRIG-1); rollouts to it then follow R-TRIG-2 and R-AVAIL-2.
func (h *handler) publishImage(w http.ResponseWriter, r *http.Request) {
	var in publishRequest
	if err := decodeBody(r.Body, &in); err != nil {
		writeError(w, err)
		return
	}
	ref, err := orchestrator.ParseImageReference(in.Image + ":" + in.Version)
	switch {
	case in.Image == "":
		writeError(w, badRequest("InvalidParameter", "image", "image (publisher:offer:sku) is required"))
		return
	case in.Version == "" || in.Version == "latest":
		writeError(w, badRequest("InvalidParameter", "version", "a concrete version is required, not %q", in.Version))
		return
	case err != nil || ref.IsGallery():
		writeError(w, badRequest("InvalidParameter", "image", "%q is not publisher:offer:sku (gallery versions are published with PUT .../galleries/{g}/images/{i}/versions/{v})", in.Image))
		return
	}
	v := orchestrator.ImageVersion{Ref: ref.Ref(), Version: in.Version, PublishedAt: nowUTC(h.s)}
	if in.PublishedAt != nil {
		v.PublishedAt = in.PublishedAt.UTC()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.s.o.Publish(v); err != nil {
		writeError(w, badRequest("InvalidParameter", "version", "%v", err))
		return
	}
	h.s.stepNow(r.Context())
	writeJSON(w, http.StatusCreated, v)
}

type clockBody struct {
	Now     time.Time `json:"now"`
	Mode    string    `json:"mode"`
	Scale   float64   `json:"scale,omitempty"`
	Advance string    `json:"advance,omitempty"`
	Set     string    `json:"set,omitempty"`
}

func (h *handler) clockState() clockBody {
	c := clockBody{Now: nowUTC(h.s), Mode: "virtual"}
	if h.s.virtual == nil {
		c.Mode, c.Scale = "real", h.s.opts.TimeScale
	}
	return c
}

func (h *handler) getClock(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.clockState())
}

// setClock moves a virtual clock: {"advance": "10m"} or {"set": RFC 3339}.
// Every planner wake-up and fleet event on the way happens at its time.
func (h *handler) setClock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Advance *string `json:"advance"`
		Set     *string `json:"set"`
	}
	if err := decodeBody(r.Body, &in); err != nil {
		writeError(w, err)
		return
	}
	if h.s.virtual == nil {
		writeError(w, ErrClockNotVirtual)
		return
	}
	now := h.s.clock.Now()
	var target time.Time
	switch {
	case in.Advance != nil && in.Set == nil:
		d, err := time.ParseDuration(*in.Advance)
		if err != nil || d < 0 || d > 10*365*24*time.Hour {
			writeError(w, badRequest("InvalidParameter", "advance", "%q is not a duration from 0 to 10 years (e.g. 90s, 10m, 3h)", *in.Advance))
			return
		}
		target = now.Add(d)
	case in.Set != nil && in.Advance == nil:
		t, err := time.Parse(time.RFC3339Nano, *in.Set)
		if err != nil {
			writeError(w, badRequest("InvalidParameter", "set", "%q is not an RFC 3339 time", *in.Set))
			return
		}
		if t.Before(now) {
			writeError(w, badRequest("InvalidParameter", "set", "%s is before the clock's %s; the clock never goes back", t.Format(time.RFC3339), now.Format(time.RFC3339)))
			return
		}
		target = t
	default:
		writeError(w, badRequest("InvalidParameter", "advance", "give exactly one of advance and set"))
		return
	}
	if _, err := h.s.AdvanceClock(r.Context(), target); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h.clockState())
}

type faultRequest struct {
	ScaleSet  string `json:"scaleSet"`
	Instances []int  `json:"instances"`
	Fault     string `json:"fault"`
	On        *bool  `json:"on"`
	Delay     string `json:"delay,omitempty"`
	Period    string `json:"period,omitempty"`
	Percent   int    `json:"percent,omitempty"`
	Rate      int    `json:"rate,omitempty"`
	// bad-image: Version misbehaves as Kind on every instance that boots it.
	Version string `json:"version,omitempty"`
	Kind    string `json:"kind,omitempty"`
}

// faultNames is the vocabulary of POST /osupgrade/faults.
var faultNames = []fault.Kind{fault.AppUnhealthy, fault.Down, fault.SlowBoot, fault.ExtensionFailure, fault.Lie, fault.Flap, fault.Pause,
	fault.Restart, fault.Partition, fault.Loss, fault.Latency, fault.SlowLink}

func (h *handler) injectFault(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var in faultRequest
	if err := decodeBody(r.Body, &in); err != nil {
		writeError(w, err)
		return
	}
	if in.Fault == "bad-image" {
		kind, err := fault.ParseBadKind(in.Kind)
		if err != nil || in.Version == "" {
			writeError(w, badRequest("InvalidParameter", "kind", "bad-image needs a version and a kind (never-healthy, crash or extension-failure): %v", err))
			return
		}
		bv, ok := h.s.fleet.inner.(backend.BadVersions)
		if !ok {
			writeError(w, &apiError{Status: http.StatusNotImplemented, Code: "FaultNotSupported", Target: "fault", Message: "this fleet cannot mark image versions bad"})
			return
		}
		bv.SetBadVersion(in.Version, kind)
		h.s.stepNow(ctx)
		writeJSON(w, http.StatusOK, in)
		return
	}
	if !slices.Contains(faultNames, fault.Kind(in.Fault)) {
		writeError(w, badRequest("InvalidParameter", "fault", "unknown fault %q (known: %v, bad-image)", in.Fault, faultNames))
		return
	}
	if in.ScaleSet == "" || len(in.Instances) == 0 {
		writeError(w, badRequest("InvalidParameter", "instances", "scaleSet and at least one instance are required"))
		return
	}
	sw := fault.Switch{Kind: fault.Kind(in.Fault), On: in.On == nil || *in.On, Percent: in.Percent, Rate: in.Rate}
	for _, d := range []struct {
		name string
		s    string
		to   *time.Duration
	}{{"delay", in.Delay, &sw.Delay}, {"period", in.Period, &sw.Period}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v < 0 {
			writeError(w, badRequest("InvalidParameter", d.name, "%q is not a non-negative duration", d.s))
			return
		}
		*d.to = v
	}
	model, ok := h.s.o.ScaleSet(in.ScaleSet)
	if !ok {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "ResourceNotFound", Target: "scaleSet", Message: fmt.Sprintf("scale set %q not found", in.ScaleSet)})
		return
	}
	for i, id := range in.Instances {
		if id < 0 || id >= model.Capacity {
			writeError(w, badRequest("InvalidParameter", fmt.Sprintf("instances[%d]", i), "instance %d does not exist (0 to %d)", id, model.Capacity-1))
			return
		}
	}
	if err := h.s.fleet.Inject(ctx, in.ScaleSet, in.Instances, sw); err != nil {
		writeError(w, &apiError{Status: http.StatusNotImplemented, Code: "FaultNotSupported", Target: "fault", Message: err.Error()})
		return
	}
	h.s.stepNow(ctx)
	writeJSON(w, http.StatusOK, in)
}

func queryUint(r *http.Request, name string) (uint64, *apiError) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, badRequest("InvalidParameter", name, "%q is not a non-negative integer", s)
	}
	return n, nil
}

// Journal pages: a client that gives no limit gets Options.JournalPageSize
// entries (default defaultJournalPageSize) and a nextLink, not the whole
// journal (megabytes after a few dozen rollouts); a larger limit is cut to
// journalMaxPage.
const (
	defaultJournalPageSize = 1000
	journalMaxPage         = 10000
)

// journalPage answers one page of a journal, ?set=NAME&after=SEQ&limit=N,
// with a nextLink (after = the page's last sequence number) when more
// entries follow. read returns up to limit entries after a sequence number.
func journalPage[T any](w http.ResponseWriter, r *http.Request, pageSize int, read func(set string, after uint64, limit int) ([]T, error), seq func(T) uint64) {
	after, aerr := queryUint(r, "after")
	limit := uint64(pageSize)
	if aerr == nil && r.URL.Query().Get("limit") != "" {
		limit, aerr = queryUint(r, "limit")
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if limit == 0 {
		limit = uint64(pageSize)
	}
	limit = min(limit, journalMaxPage)
	q := r.URL.Query()
	es := []T{}
	if after < math.MaxUint64 { // nothing follows the last sequence number
		got, err := read(q.Get("set"), after, int(limit)+1)
		if err != nil {
			writeError(w, err)
			return
		}
		es = append(es, got...)
	}
	body := map[string]any{}
	if len(es) > int(limit) {
		es = es[:limit]
		q.Set("after", strconv.FormatUint(seq(es[len(es)-1]), 10))
		q.Set("limit", strconv.FormatUint(limit, 10))
		body["nextLink"] = baseURL(r) + r.URL.Path + "?" + q.Encode()
	}
	body["entries"] = es
	writeJSON(w, http.StatusOK, body)
}

// journal returns the runner's decisions, each written before it was
// carried out, a page at a time.
func (h *handler) journal(w http.ResponseWriter, r *http.Request) {
	journalPage(w, r, h.s.opts.JournalPageSize, func(set string, after uint64, limit int) ([]boltstore.JournalRecord, error) {
		return h.s.store.Journal(r.Context(), set, after, limit)
	}, func(e boltstore.JournalRecord) uint64 { return e.Seq })
}

// fleetJournal returns what the fleet did: every creation, reimage and
// deletion, in order, a page at a time.
func (h *handler) fleetJournal(w http.ResponseWriter, r *http.Request) {
	journalPage(w, r, h.s.opts.JournalPageSize, func(set string, after uint64, limit int) ([]FleetLogEntry, error) {
		return h.s.fleet.journal(r.Context(), set, after, limit)
	}, func(e FleetLogEntry) uint64 { return e.Seq })
}

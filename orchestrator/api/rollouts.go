package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

const kindOperations = "operations"

// Azure-AsyncOperation statuses.
const (
	statusInProgress = "InProgress"
	statusSucceeded  = "Succeeded"
	statusFailed     = "Failed"
	statusCanceled   = "Canceled"
)

// operation is a long-running operation the SDK's pollers follow, under an
// id of its own (random, never derived from the set). While its set lives,
// its status is computed from the orchestrator's state each time it is
// read, so it survives a restart; when the set is deleted the status is
// fixed (Status, End, Error), so that neither the deletion nor a new set
// of the same name changes it.
type operation struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"` // create | update | delete | osUpgrade | cancel | manualUpgrade | galleryVersion
	Set      string    `json:"set,omitempty"`
	Location string    `json:"location"`
	Start    time.Time `json:"start"`
	// SetUID is the uniqueId of the set the operation is on: a set of the
	// same name created later is another set.
	SetUID string `json:"setUid,omitempty"`
	// Attempt: osUpgrade, the number of attempts before it (its attempt is
	// the next one); cancel, the attempt it cancels (0: a pending trigger).
	Attempt int `json:"attempt"`
	// Status is fixed for operations that complete at once, and for every
	// operation of a deleted set; End and Error go with it.
	Status string       `json:"status,omitempty"`
	End    *time.Time   `json:"end,omitempty"`
	Error  *errorDetail `json:"error,omitempty"`
}

func (h *handler) newOperation(ctx context.Context, op operation) (operation, error) {
	op.ID = newID()
	op.Start = nowUTC(h.s)
	b, err := json.Marshal(op)
	if err != nil {
		return op, err
	}
	return op, h.s.store.PutResource(ctx, kindOperations, op.ID, b)
}

// setAsyncHeaders points the client at the operation: an absolute
// Azure-AsyncOperation URL (and Location for deletes).
func (h *handler) setAsyncHeaders(w http.ResponseWriter, r *http.Request, op operation, location bool) {
	q := url.Values{"api-version": {r.URL.Query().Get("api-version")}}
	u := fmt.Sprintf("%s/subscriptions/%s/providers/Microsoft.Compute/locations/%s/operations/%s?%s", baseURL(r), url.PathEscape(r.PathValue("sub")), url.PathEscape(op.Location), op.ID, q.Encode())
	w.Header().Set("Azure-AsyncOperation", u)
	if location {
		w.Header().Set("Location", u)
	}
	if op.Status == "" {
		w.Header().Set("Retry-After", "1")
	}
}

type operationStatus struct {
	Name      string       `json:"name"`
	Status    string       `json:"status"`
	StartTime time.Time    `json:"startTime"`
	EndTime   *time.Time   `json:"endTime,omitempty"`
	Error     *errorDetail `json:"error,omitempty"`
}

func (h *handler) operation(w http.ResponseWriter, r *http.Request) {
	// Under the handler's lock: a set's deletion fixes its operations'
	// statuses and removes the set in one step as readers see it.
	h.mu.RLock()
	defer h.mu.RUnlock()
	doc, ok, err := h.s.store.Resource(r.Context(), kindOperations, r.PathValue("op"))
	if err != nil {
		writeError(w, err)
		return
	}
	if !ok {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("operation %s not found", r.PathValue("op"))})
		return
	}
	op, err := unmarshalDoc[operation](doc)
	if err != nil {
		writeError(w, err)
		return
	}
	st := h.operationStatus(op)
	if st.Status == statusInProgress {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, http.StatusOK, st)
}

// operationStatus is what an operation reads now; the caller holds h.mu.
func (h *handler) operationStatus(op *operation) operationStatus {
	st := operationStatus{Name: op.ID, Status: op.Status, StartTime: op.Start, Error: op.Error}
	if st.Status != "" {
		end := op.Start
		if op.End != nil {
			end = *op.End
		}
		st.EndTime = &end
		return st
	}
	st.Status = statusInProgress
	finish := func(status string, at time.Time, e *errorDetail) {
		st.Status, st.Error = status, e
		st.EndTime = &at
	}
	if m := h.metas[op.Set]; op.SetUID != "" && (m == nil || m.UniqueID != op.SetUID) {
		// The set went away without fixing this status (a crash in its
		// deletion); a set of the same name is not this one.
		finish(statusFailed, op.Start, &errorDetail{Code: "ResourceNotFound", Message: fmt.Sprintf("scale set %s no longer exists", op.Set)})
		return st
	}
	err := h.s.o.View(op.Set, func(rec *orchestrator.SetRecord) {
		switch op.Kind {
		case "osUpgrade":
			if len(rec.Attempts) <= op.Attempt {
				if !rec.ManualPending {
					finish(statusCanceled, op.Start, &errorDetail{Code: "OperationCanceled", Message: "the OS upgrade was cancelled before it started"})
				}
				return
			}
			rollout := rec.Attempts[op.Attempt].Rollout
			switch rollout.Status() {
			case plan.StatusRollingForward:
			case plan.StatusCompleted:
				finish(statusSucceeded, rollout.EndTime(), nil)
			case plan.StatusCancelled:
				finish(statusCanceled, rollout.EndTime(), &errorDetail{Code: "OperationCanceled", Message: "the rolling upgrade was cancelled (R-TRIG-4)"})
			default:
				finish(statusFailed, rollout.EndTime(), &errorDetail{Code: rollout.ErrorCode(), Message: rollout.ErrorMessage()})
			}
		case "cancel":
			if op.Attempt == 0 || op.Attempt > len(rec.Attempts) || rec.Attempts[op.Attempt-1].Rollout.Status().Terminal() {
				at := op.Start
				if op.Attempt > 0 && op.Attempt <= len(rec.Attempts) {
					at = rec.Attempts[op.Attempt-1].Rollout.EndTime()
				}
				finish(statusSucceeded, at, nil)
			}
		case "manualUpgrade":
			if len(rec.ManualUpgrade) == 0 {
				finish(statusSucceeded, nowUTC(h.s), nil)
			}
		}
	})
	if err != nil {
		finish(statusFailed, op.Start, &errorDetail{Code: "ResourceNotFound", Message: fmt.Sprintf("scale set %s no longer exists", op.Set)})
	}
	return st
}

// fixOperations fixes the status of the open operations of set m, which is
// being deleted (the caller holds h.mu): those already finished before the
// deletion (so that a crash in it loses nothing), the others after it, as
// canceled. It returns the ones to fix after the deletion.
func (h *handler) fixOperations(ctx context.Context, m *setMeta) ([]*operation, error) {
	var open []*operation
	err := h.s.store.Resources(ctx, kindOperations, "", func(_ string, doc []byte) error {
		op, err := unmarshalDoc[operation](doc)
		if err != nil {
			return err
		}
		if op.Set == m.Name && op.Status == "" && (op.SetUID == "" || op.SetUID == m.UniqueID) {
			open = append(open, op)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var later []*operation
	for _, op := range open {
		st := h.operationStatus(op)
		if st.Status == statusInProgress {
			later = append(later, op)
			continue
		}
		if err := h.fixOperation(ctx, op, st); err != nil {
			return nil, err
		}
	}
	return later, nil
}

// fixOperation stores an operation with its final status.
func (h *handler) fixOperation(ctx context.Context, op *operation, st operationStatus) error {
	op.Status, op.End, op.Error = st.Status, st.EndTime, st.Error
	b, err := json.Marshal(op)
	if err != nil {
		return err
	}
	return h.s.store.PutResource(ctx, kindOperations, op.ID, b)
}

// startOSUpgrade is the manual trigger (R-TRIG-3): 202 and an operation
// that completes when the rollout does.
func (h *handler) startOSUpgrade(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	m, model, ok := h.lookup(w, r)
	if !ok {
		return
	}
	before := 0
	_ = h.s.o.View(m.Name, func(rec *orchestrator.SetRecord) { before = len(rec.Attempts) })
	if err := h.s.o.StartOSUpgrade(ctx, m.Name); err != nil {
		writeError(w, err)
		return
	}
	op, err := h.newOperation(ctx, operation{Kind: "osUpgrade", Set: m.Name, SetUID: m.UniqueID, Location: model.Region, Attempt: before})
	if err != nil {
		writeError(w, err)
		return
	}
	h.s.stepNow(ctx)
	h.setAsyncHeaders(w, r, op, false)
	w.WriteHeader(http.StatusAccepted)
}

// cancelRollout is R-TRIG-4: no new batch starts; the operation completes
// when the batch in progress has finished and the status is Cancelled.
func (h *handler) cancelRollout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	m, model, ok := h.lookup(w, r)
	if !ok {
		return
	}
	attempt := 0
	_ = h.s.o.View(m.Name, func(rec *orchestrator.SetRecord) {
		if a := rec.Active(); a != nil {
			attempt = a.ID
		}
	})
	if err := h.s.o.Cancel(ctx, m.Name); err != nil {
		writeError(w, err)
		return
	}
	op, err := h.newOperation(ctx, operation{Kind: "cancel", Set: m.Name, SetUID: m.UniqueID, Location: model.Region, Attempt: attempt})
	if err != nil {
		writeError(w, err)
		return
	}
	h.s.stepNow(ctx)
	h.setAsyncHeaders(w, r, op, false)
	w.WriteHeader(http.StatusAccepted)
}

func (h *handler) manualUpgrade(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	m, model, ok := h.lookup(w, r)
	if !ok {
		return
	}
	var body struct {
		InstanceIDs []string `json:"instanceIds"`
	}
	if err := decodeBody(r.Body, &body); err != nil {
		writeError(w, err)
		return
	}
	if len(body.InstanceIDs) == 0 {
		writeError(w, badRequest("InvalidParameter", "instanceIds", "at least one instance id is required"))
		return
	}
	ids, aerr := instanceIDs(body.InstanceIDs, m.Name, model.Capacity)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if err := h.s.o.ManualUpgrade(ctx, m.Name, ids); err != nil {
		writeError(w, err)
		return
	}
	op, err := h.newOperation(ctx, operation{Kind: "manualUpgrade", Set: m.Name, SetUID: m.UniqueID, Location: model.Region})
	if err != nil {
		writeError(w, err)
		return
	}
	h.s.stepNow(ctx)
	h.setAsyncHeaders(w, r, op, false)
	w.WriteHeader(http.StatusAccepted)
}

// instanceIDs reads a request's instanceIds: ["*"] is every instance, as
// in ARM (what `az vmss update-instances --instance-ids '*'` sends);
// otherwise each is an instance id of the set. "*" among other ids is
// refused: ARM gives it no meaning there.
func instanceIDs(in []string, set string, capacity int) ([]int, *apiError) {
	if len(in) == 1 && in[0] == "*" {
		ids := make([]int, capacity)
		for i := range ids {
			ids[i] = i
		}
		return ids, nil
	}
	ids := make([]int, 0, len(in))
	for i, s := range in {
		if s == "*" {
			return nil, badRequest("InvalidParameter", fmt.Sprintf("instanceIds[%d]", i), "\"*\" (every instance) must be the only instance id")
		}
		id, err := strconv.Atoi(s)
		if err != nil || id < 0 || id >= capacity || strconv.Itoa(id) != s {
			return nil, badRequest("InvalidParameter", fmt.Sprintf("instanceIds[%d]", i), "%q is not an instance of %s (0 to %d)", s, set, capacity-1)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// rollingUpgradeStatus is Azure's RollingUpgradeStatusInfo (R-HIST-3).
type rollingUpgradeStatus struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Location   string `json:"location"`
	Properties struct {
		Policy        *armRollingPol        `json:"policy"`
		RunningStatus rollingRunningStatus  `json:"runningStatus"`
		Progress      orchestrator.Progress `json:"progress"`
		Error         *errorDetail          `json:"error,omitempty"`
	} `json:"properties"`
}

type rollingRunningStatus struct {
	Code           string     `json:"code"`
	StartTime      time.Time  `json:"startTime"`
	LastAction     string     `json:"lastAction"`
	LastActionTime time.Time  `json:"lastActionTime"`
	EndTime        *time.Time `json:"endTime,omitempty"`
}

func (h *handler) latestRollout(w http.ResponseWriter, r *http.Request) {
	m, model, ok := h.lookup(w, r)
	if !ok {
		return
	}
	hist, found, cancelled, err := h.s.o.LatestRolloutStatus(m.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	if !found {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("scale set %s has had no rolling upgrade", m.Name)})
		return
	}
	var out rollingUpgradeStatus
	out.Name, out.Type, out.Location = "latest", "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades", model.Region
	p := &out.Properties
	p.Policy = rollingToARM(model.Rolling)
	rs := hist.Properties.RunningStatus
	p.RunningStatus = rollingRunningStatus{Code: rs.Code, StartTime: rs.StartTime, LastAction: "Start", LastActionTime: rs.StartTime, EndTime: rs.EndTime}
	if cancelled {
		p.RunningStatus.LastAction = "Cancel"
	}
	p.Progress = hist.Properties.Progress
	if e := hist.Properties.Error; e != nil {
		p.Error = &errorDetail{Code: e.Code, Message: e.Message}
	}
	writeJSON(w, http.StatusOK, out)
}

// history is osUpgradeHistory (R-HIST-1), paged with an absolute nextLink;
// the skip token is the attempt to continue below, so a rollout starting
// between pages does not shift them.
func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	m, _, ok := h.lookup(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	below := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 1 {
			writeError(w, badRequest("InvalidParameter", "$skiptoken", "%q is not a skip token this server issued", tok))
			return
		}
		below = n
	}
	type entry struct {
		id int
		h  orchestrator.UpgradeHistory
	}
	var all []entry
	newest := 0
	err := h.s.o.View(m.Name, func(rec *orchestrator.SetRecord) {
		if n := len(rec.Attempts); n > 0 {
			newest = rec.Attempts[n-1].ID
		}
		now := h.s.clock.Now()
		for i := len(rec.Attempts) - 1; i >= 0 && len(all) < orchestrator.HistoryEntries; i-- {
			a := rec.Attempts[i]
			if now.Sub(a.Rollout.Created()) > orchestrator.HistoryWindow {
				break
			}
			all = append(all, entry{a.ID, orchestrator.HistoryOf(a, rec.Model.Region)})
		}
	})
	if err != nil {
		writeError(w, err)
		return
	}
	if below > newest {
		// Tokens are attempt ids this set has had.
		writeError(w, badRequest("InvalidParameter", "$skiptoken", "%q is not a skip token this server issued (an attempt from 1 to %d)", q.Get("$skiptoken"), newest))
		return
	}
	page := []orchestrator.UpgradeHistory{}
	more := false
	last := 0
	for _, e := range all {
		if below > 0 && e.id >= below {
			continue
		}
		if len(page) == h.s.opts.HistoryPageSize {
			more = true
			break
		}
		page = append(page, e.h)
		last = e.id
	}
	body := map[string]any{"value": page}
	if more {
		q.Set("$skiptoken", strconv.Itoa(last))
		body["nextLink"] = baseURL(r) + r.URL.Path + "?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, body)
}

package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

const kindARM = "arm"

// setMeta is the ARM side of a scale set: where it lives and the document
// as accepted (write-only fields removed). Once in handler.metas a setMeta
// and its Doc are immutable (a change replaces them), so that a reader may
// keep one after releasing the handler's lock. Pending is a change written
// before the orchestrator takes it: a restart keeps it only if the
// orchestrator's model shows it was applied.
type setMeta struct {
	Name           string         `json:"-"`
	Subscription   string         `json:"subscription"`
	ResourceGroup  string         `json:"resourceGroup"`
	UniqueID       string         `json:"uniqueId"`
	TimeCreated    time.Time      `json:"timeCreated"`
	ModelUpdatedAt time.Time      `json:"modelUpdatedAt"`
	Doc            *armVMSS       `json:"doc,omitempty"`
	Pending        *pendingChange `json:"pending,omitempty"`
}

type pendingChange struct {
	Doc   *armVMSS              `json:"doc"`
	Model orchestrator.ScaleSet `json:"model"`
	Old   orchestrator.ScaleSet `json:"old"`
	At    time.Time             `json:"at"`
}

func (m *setMeta) in(sub, rg string) bool {
	return strings.EqualFold(m.Subscription, sub) && strings.EqualFold(m.ResourceGroup, rg)
}

func (m *setMeta) resourceID() string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s", m.Subscription, m.ResourceGroup, m.Name)
}

// render is the resource as GET returns it.
func (h *handler) render(m *setMeta, model orchestrator.ScaleSet) *armVMSS {
	doc := cloneDoc(m.Doc)
	doc.ID, doc.Name, doc.Type, doc.Location = m.resourceID(), m.Name, "Microsoft.Compute/virtualMachineScaleSets", model.Region
	if doc.SKU == nil {
		doc.SKU = &armSKU{}
	}
	doc.SKU.Capacity = ptr(int64(model.Capacity))
	p := doc.Properties
	p.ProvisioningState = "Succeeded"
	p.UniqueID = m.UniqueID
	created := m.TimeCreated
	p.TimeCreated = &created
	withDefaults(doc, &model)
	return doc
}

// modelFor converts and validates a document; nothing is changed.
func (h *handler) modelFor(doc *armVMSS, name, apiVersion string, old *orchestrator.ScaleSet) (orchestrator.ScaleSet, error) {
	if doc.Name != "" && doc.Name != name {
		return orchestrator.ScaleSet{}, badRequest("InvalidParameter", "name", "the body names %q but the URL %q", doc.Name, name)
	}
	model, aerr := toModel(doc, name, apiVersion, old)
	if aerr != nil {
		return model, aerr
	}
	var err error
	if old == nil {
		err = orchestrator.Validate(&model)
	} else {
		err = orchestrator.ValidateUpdate(old, &model)
		if err == nil && model.Capacity != old.Capacity {
			err = &orchestrator.ValidationError{Code: "PropertyChangeNotAllowed", Target: "sku.capacity", Message: fmt.Sprintf("scaling from %d to %d instances is not supported by the emulator", old.Capacity, model.Capacity)}
		}
	}
	return model, err
}

func (h *handler) putScaleSet(w http.ResponseWriter, r *http.Request) {
	var doc armVMSS
	if err := decodeBody(r.Body, &doc); err != nil {
		writeError(w, err)
		return
	}
	h.apply(w, r, &doc)
}

func (h *handler) patchScaleSet(w http.ResponseWriter, r *http.Request) {
	sub, rg, name := r.PathValue("sub"), r.PathValue("rg"), r.PathValue("name")
	var doc *armVMSS
	h.readLocked(func() {
		// cloneDoc panics on a document that does not encode.
		if m := h.metas[name]; m != nil && m.in(sub, rg) {
			doc = cloneDoc(m.Doc)
		}
	})
	if doc == nil {
		writeError(w, notFoundSet(rg, name))
		return
	}
	// ARM PATCH: objects merge, arrays and scalars replace.
	if err := decodeBody(r.Body, doc); err != nil {
		writeError(w, err)
		return
	}
	h.apply(w, r, doc)
}

// apply creates or updates a scale set from a full document: validated
// first, then journaled as pending, then handed to the orchestrator, then
// confirmed. A failure at any step leaves the old state.
func (h *handler) apply(w http.ResponseWriter, r *http.Request, doc *armVMSS) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m, model, status, op, err := h.applyLocked(r.Context(), r.PathValue("sub"), r.PathValue("rg"), r.PathValue("name"), r.URL.Query().Get("api-version"), r.Method == http.MethodPut, doc)
	if err != nil {
		writeError(w, err)
		return
	}
	h.setAsyncHeaders(w, r, op, false)
	writeJSON(w, status, h.render(m, model))
}

// applyLocked is apply's work (the caller holds h.mu for writing): put
// tells a PUT, whose document ARM completes with what it keeps
// (keepOnPut), from a PATCH already merged onto the stored one. It returns
// the set, its model, 201 or 200, and the operation.
func (h *handler) applyLocked(ctx context.Context, sub, rg, name, apiVersion string, put bool, doc *armVMSS) (*setMeta, orchestrator.ScaleSet, int, operation, error) {
	fail := func(err error) (*setMeta, orchestrator.ScaleSet, int, operation, error) {
		return nil, orchestrator.ScaleSet{}, 0, operation{}, err
	}
	m := h.metas[name]
	if m != nil && !m.in(sub, rg) {
		return fail(&apiError{Status: http.StatusConflict, Code: "Conflict", Message: fmt.Sprintf("a scale set named %s exists in resource group %s; the emulator keeps scale set names unique", name, m.ResourceGroup)})
	}
	var old *orchestrator.ScaleSet
	if m != nil {
		cur, ok := h.s.o.ScaleSet(name)
		if !ok {
			return fail(notFoundSet(rg, name))
		}
		old = &cur
		if put {
			keepOnPut(doc, cloneDoc(m.Doc))
		}
	}
	model, err := h.modelFor(doc, name, apiVersion, old)
	if err != nil {
		return fail(err)
	}
	stored := cloneDoc(doc)
	sanitize(stored)
	stored.ID, stored.Name, stored.Type = "", "", ""
	stored.Properties.ProvisioningState, stored.Properties.UniqueID, stored.Properties.TimeCreated = "", "", nil
	now := nowUTC(h.s)
	status := http.StatusOK
	if m == nil {
		version, err := h.initialVersion(model)
		if err != nil {
			return fail(err)
		}
		nm := &setMeta{Name: name, Subscription: sub, ResourceGroup: rg, UniqueID: newID(), TimeCreated: now, ModelUpdatedAt: now, Pending: &pendingChange{Doc: stored, Model: model, Old: model, At: now}}
		if err := h.saveMeta(ctx, nm); err != nil {
			return fail(err)
		}
		if err := h.s.o.CreateScaleSet(ctx, model, version); err != nil {
			_ = h.s.store.DeleteResource(ctx, kindARM, name)
			return fail(err)
		}
		nm.Doc, nm.Pending = stored, nil
		if err := h.saveMeta(ctx, nm); err != nil {
			return fail(err)
		}
		h.metas[name] = nm
		m = nm
		status = http.StatusCreated
	} else {
		// A published setMeta is never written: readers hold it after the
		// lock is released (lookup, renderVM). The change goes into a copy
		// that replaces it.
		nm := *m
		nm.Pending = &pendingChange{Doc: stored, Model: model, Old: *old, At: now}
		if err := h.saveMeta(ctx, &nm); err != nil {
			return fail(err)
		}
		if err := h.s.o.UpdateScaleSet(ctx, model); err != nil {
			_ = h.saveMeta(ctx, m)
			return fail(err)
		}
		nm.Doc, nm.Pending = stored, nil
		if vmProfileChanged(*old, model) {
			nm.ModelUpdatedAt = now
		}
		h.metas[name] = &nm
		m = &nm
		if err := h.saveMeta(ctx, m); err != nil {
			return fail(err)
		}
	}
	h.s.stepNow(ctx)
	kind := "update"
	if status == http.StatusCreated {
		kind = "create"
	}
	op, err := h.newOperation(ctx, operation{Kind: kind, Set: name, SetUID: m.UniqueID, Location: model.Region, Status: statusSucceeded})
	if err != nil {
		return fail(err)
	}
	return m, model, status, op, nil
}

// initialVersion is what a new set's instances run: the pinned version or
// the newest one available in the region (R-TRIG-1).
func (h *handler) initialVersion(model orchestrator.ScaleSet) (string, error) {
	img := model.Image
	var v orchestrator.ImageVersion
	var ok bool
	h.s.o.CatalogView(func(c *orchestrator.Catalog) {
		if img.Version == "" || img.Version == "latest" {
			v, ok = c.Latest(img.Ref(), model.Region, h.s.clock.Now())
		} else {
			v, ok = c.Find(img.Ref(), img.Version)
		}
	})
	if ok {
		return v.Version, nil
	}
	if img.IsGallery() {
		return "", &apiError{Status: http.StatusBadRequest, Code: "GalleryImageNotFound", Target: pImage + ".id", Message: fmt.Sprintf("gallery image %s has no version %s available in %s (replicated there and not excluded from latest)", img.Ref(), orLatest(img.Version), model.Region)}
	}
	return "", &apiError{Status: http.StatusBadRequest, Code: "PlatformImageNotFound", Target: pImage, Message: fmt.Sprintf("the platform image %s:%s is not available in %s; publish it with POST /osupgrade/images", img.Ref(), orLatest(img.Version), model.Region)}
}

func orLatest(v string) string {
	if v == "" {
		return "latest"
	}
	return v
}

func (h *handler) lookup(w http.ResponseWriter, r *http.Request) (*setMeta, orchestrator.ScaleSet, bool) {
	sub, rg, name := r.PathValue("sub"), r.PathValue("rg"), r.PathValue("name")
	var m *setMeta
	h.readLocked(func() { m = h.metas[name] })
	if m == nil || !m.in(sub, rg) {
		writeError(w, notFoundSet(rg, name))
		return nil, orchestrator.ScaleSet{}, false
	}
	model, ok := h.s.o.ScaleSet(name)
	if !ok {
		writeError(w, notFoundSet(rg, name))
		return nil, model, false
	}
	return m, model, true
}

func (h *handler) getScaleSet(w http.ResponseWriter, r *http.Request) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	m, model, ok := h.lookupLocked(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, h.render(m, model))
}

func (h *handler) lookupLocked(w http.ResponseWriter, r *http.Request) (*setMeta, orchestrator.ScaleSet, bool) {
	sub, rg, name := r.PathValue("sub"), r.PathValue("rg"), r.PathValue("name")
	m := h.metas[name]
	if m == nil || !m.in(sub, rg) {
		writeError(w, notFoundSet(rg, name))
		return nil, orchestrator.ScaleSet{}, false
	}
	model, ok := h.s.o.ScaleSet(name)
	if !ok {
		writeError(w, notFoundSet(rg, name))
		return nil, model, false
	}
	return m, model, true
}

func (h *handler) deleteScaleSet(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sub, rg, name := r.PathValue("sub"), r.PathValue("rg"), r.PathValue("name")
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.metas[name]
	if m == nil || !m.in(sub, rg) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	op, err := h.deleteSetLocked(ctx, m)
	if err != nil {
		writeError(w, err)
		return
	}
	h.setAsyncHeaders(w, r, op, true)
	w.WriteHeader(http.StatusAccepted)
}

// deleteSetLocked deletes scale set m (the caller holds h.mu for writing):
// its open operations end Canceled, and the deletion is an operation of
// its own, returned.
func (h *handler) deleteSetLocked(ctx context.Context, m *setMeta) (operation, error) {
	name := m.Name
	model, _ := h.s.o.ScaleSet(name)
	open, err := h.fixOperations(ctx, m)
	if err != nil {
		return operation{}, err
	}
	if err := h.s.o.DeleteScaleSet(ctx, name); err != nil {
		return operation{}, err
	}
	delete(h.metas, name)
	for _, op := range open {
		end := nowUTC(h.s)
		st := operationStatus{Status: statusCanceled, EndTime: &end, Error: &errorDetail{Code: "OperationCanceled", Message: fmt.Sprintf("scale set %s was deleted before the operation finished", name)}}
		if err := h.fixOperation(ctx, op, st); err != nil {
			return operation{}, err
		}
	}
	if err := h.s.store.DeleteResource(ctx, kindARM, name); err != nil {
		return operation{}, err
	}
	return h.newOperation(ctx, operation{Kind: "delete", Set: name, SetUID: m.UniqueID, Location: model.Region, Status: statusSucceeded})
}

func (h *handler) listScaleSets(w http.ResponseWriter, r *http.Request) {
	sub, rg := r.PathValue("sub"), r.PathValue("rg")
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := []*armVMSS{}
	for _, name := range h.s.o.ScaleSets() {
		m := h.metas[name]
		if m == nil || !strings.EqualFold(m.Subscription, sub) || (rg != "" && !strings.EqualFold(m.ResourceGroup, rg)) {
			continue
		}
		if model, ok := h.s.o.ScaleSet(name); ok {
			out = append(out, h.render(m, model))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

// ---- virtual machines ----

type armVM struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Location   string     `json:"location"`
	InstanceID string     `json:"instanceId"`
	Zones      []string   `json:"zones,omitempty"`
	Properties armVMProps `json:"properties"`
}

type armVMProps struct {
	LatestModelApplied bool               `json:"latestModelApplied"`
	ProvisioningState  string             `json:"provisioningState"`
	VMID               string             `json:"vmId"`
	StorageProfile     armVMStorage       `json:"storageProfile"`
	OSProfile          map[string]string  `json:"osProfile"`
	InstanceView       *armVMInstanceView `json:"instanceView,omitempty"`
}

type armVMStorage struct {
	ImageReference armImageRef `json:"imageReference"`
}

type armStatus struct {
	Code          string     `json:"code"`
	Level         string     `json:"level"`
	DisplayStatus string     `json:"displayStatus"`
	Time          *time.Time `json:"time,omitempty"`
}

type armVMInstanceView struct {
	PlatformUpdateDomain int                `json:"platformUpdateDomain"`
	PlatformFaultDomain  int                `json:"platformFaultDomain"`
	ComputerName         string             `json:"computerName"`
	OSName               string             `json:"osName"`
	Statuses             []armStatus        `json:"statuses"`
	VMHealth             *armVMHealth       `json:"vmHealth,omitempty"`
	Extensions           []armExtensionView `json:"extensions,omitempty"`
}

type armVMHealth struct {
	Status armStatus `json:"status"`
}

type armExtensionView struct {
	Name     string      `json:"name"`
	Type     string      `json:"type"`
	Statuses []armStatus `json:"statuses"`
}

// fleetView is a consistent copy of what the fleet reports for a set.
type fleetView struct {
	insts  []plan.Instance
	manual []int
}

func (h *handler) observe(ctx context.Context, name string, from, to int) (fleetView, error) {
	var v fleetView
	var oerr error
	err := h.s.o.View(name, func(rec *orchestrator.SetRecord) {
		// Under the orchestrator's lock: the fleet's slice is not shared
		// with a concurrent step.
		obs, err := h.s.fleet.Observe(ctx, name)
		if err != nil {
			oerr = err
			return
		}
		to = min(to, len(obs))
		from = min(from, to)
		v.insts = slices.Clone(obs[from:to])
		v.manual = slices.Clone(rec.ManualUpgrade)
	})
	if err != nil {
		return v, err
	}
	return v, oerr
}

func (h *handler) renderVM(m *setMeta, model orchestrator.ScaleSet, in plan.Instance, manual []int, expand bool) armVM {
	id := strconv.Itoa(in.ID)
	vm := armVM{
		ID: m.resourceID() + "/virtualMachines/" + id, Name: m.Name + "_" + id, Type: "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
		Location: model.Region, InstanceID: id,
	}
	if in.Zone != "" {
		vm.Zones = []string{in.Zone}
	}
	p := &vm.Properties
	applied := !h.s.fleet.lastReimage(m.Name, in.ID).Before(m.ModelUpdatedAt) && !slices.Contains(manual, in.ID)
	p.LatestModelApplied = applied
	p.ProvisioningState = in.Provisioning.String()
	p.VMID = fmt.Sprintf("%s-%08x", m.UniqueID[:23], in.ID)
	img := model.Image
	ir := armImageRef{ExactVersion: ptr(in.Version)}
	if img.IsGallery() {
		ir.ID = ptr(galleryImageID(m, img))
	} else {
		ir.Publisher, ir.Offer, ir.SKU, ir.Version = ptr(img.Publisher), ptr(img.Offer), ptr(img.SKU), ptr(orLatest(img.Version))
	}
	p.StorageProfile.ImageReference = ir
	computer := computerName(m, in.ID)
	p.OSProfile = map[string]string{"computerName": computer}
	if expand {
		p.InstanceView = instanceView(model, in, computer)
	}
	return vm
}

func galleryImageID(m *setMeta, img orchestrator.ImageReference) string {
	if d := m.Doc; d != nil && d.Properties != nil && d.Properties.VirtualMachineProfile != nil && d.Properties.VirtualMachineProfile.StorageProfile != nil {
		if ir := d.Properties.VirtualMachineProfile.StorageProfile.ImageReference; ir != nil && ir.ID != nil {
			return *ir.ID
		}
	}
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/galleries/%s/images/%s", m.Subscription, m.ResourceGroup, img.Gallery, img.GalleryImage)
}

func computerName(m *setMeta, id int) string {
	prefix := m.Name
	if d := m.Doc; d.Properties != nil && d.Properties.VirtualMachineProfile != nil && d.Properties.VirtualMachineProfile.OSProfile != nil && d.Properties.VirtualMachineProfile.OSProfile.ComputerNamePrefix != nil {
		prefix = *d.Properties.VirtualMachineProfile.OSProfile.ComputerNamePrefix
	}
	return fmt.Sprintf("%s%06s", prefix, strings.ToUpper(strconv.FormatInt(int64(id), 36)))
}

var healthCodes = map[plan.Health][2]string{
	plan.HealthHealthy:      {"HealthState/healthy", "The VM is healthy"},
	plan.HealthUnhealthy:    {"HealthState/unhealthy", "The VM is unhealthy"},
	plan.HealthInitializing: {"HealthState/initializing", "The VM health is initializing"},
	plan.HealthUnknown:      {"HealthState/unknown", "The VM health is unknown"},
}

func instanceView(model orchestrator.ScaleSet, in plan.Instance, computer string) *armVMInstanceView {
	iv := &armVMInstanceView{PlatformUpdateDomain: in.UpdateDomain, PlatformFaultDomain: in.UpdateDomain % 5, ComputerName: computer, OSName: model.OS}
	prov := strings.ToLower(in.Provisioning.String())
	level := "Info"
	if in.Provisioning == plan.ProvisioningFailed {
		level = "Error"
	}
	iv.Statuses = append(iv.Statuses, armStatus{Code: "ProvisioningState/" + prov, Level: level, DisplayStatus: "Provisioning " + prov})
	if in.Running {
		iv.Statuses = append(iv.Statuses, armStatus{Code: "PowerState/running", Level: "Info", DisplayStatus: "VM running"})
	} else {
		iv.Statuses = append(iv.Statuses, armStatus{Code: "PowerState/stopped", Level: "Info", DisplayStatus: "VM stopped"})
	}
	if model.Health != plan.HealthNone {
		c := healthCodes[in.Health]
		lvl := "Info"
		if in.Health != plan.HealthHealthy {
			lvl = "Warning"
		}
		iv.VMHealth = &armVMHealth{Status: armStatus{Code: c[0], Level: lvl, DisplayStatus: c[1]}}
	}
	for _, e := range model.Extensions {
		st := armStatus{Code: "ProvisioningState/succeeded", Level: "Info", DisplayStatus: "Provisioning succeeded"}
		switch in.Provisioning {
		case plan.ProvisioningFailed:
			st = armStatus{Code: "ProvisioningState/failed", Level: "Error", DisplayStatus: "Provisioning failed"}
		case plan.ProvisioningUpdating:
			st = armStatus{Code: "ProvisioningState/transitioning", Level: "Info", DisplayStatus: "Transitioning"}
		}
		iv.Extensions = append(iv.Extensions, armExtensionView{Name: e.Name, Type: e.Publisher + "." + e.Type, Statuses: []armStatus{st}})
	}
	return iv
}

func (h *handler) listVMs(w http.ResponseWriter, r *http.Request) {
	m, model, ok := h.lookup(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	start := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > model.Capacity {
			writeError(w, badRequest("InvalidParameter", "$skiptoken", "%q is not a skip token this server issued (an instance index from 0 to %d)", tok, model.Capacity))
			return
		}
		start = n
	}
	expand := strings.EqualFold(q.Get("$expand"), "instanceView")
	// start <= Capacity: the page's end cannot overflow.
	end := start + min(h.s.opts.VMPageSize, model.Capacity-start)
	v, err := h.observe(r.Context(), m.Name, start, end)
	if err != nil {
		writeError(w, err)
		return
	}
	out := make([]armVM, 0, len(v.insts))
	for _, in := range v.insts {
		out = append(out, h.renderVM(m, model, in, v.manual, expand))
	}
	body := map[string]any{"value": out}
	if end < model.Capacity {
		q.Set("$skiptoken", strconv.Itoa(end))
		body["nextLink"] = baseURL(r) + r.URL.Path + "?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, body)
}

func (h *handler) vm(w http.ResponseWriter, r *http.Request) (*setMeta, orchestrator.ScaleSet, plan.Instance, []int, bool) {
	m, model, ok := h.lookup(w, r)
	if !ok {
		return nil, model, plan.Instance{}, nil, false
	}
	idStr := r.PathValue("id")
	id, err := strconv.Atoi(idStr)
	if err != nil || id < 0 || id >= model.Capacity || strconv.Itoa(id) != idStr {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "NotFound", Target: "instanceId", Message: fmt.Sprintf("scale set %s has no virtual machine with instance id %q", m.Name, idStr)})
		return nil, model, plan.Instance{}, nil, false
	}
	v, err := h.observe(r.Context(), m.Name, id, id+1)
	if err != nil || len(v.insts) != 1 {
		if err == nil {
			err = fmt.Errorf("the fleet does not report instance %d", id)
		}
		writeError(w, err)
		return nil, model, plan.Instance{}, nil, false
	}
	return m, model, v.insts[0], v.manual, true
}

func (h *handler) getVM(w http.ResponseWriter, r *http.Request) {
	m, model, in, manual, ok := h.vm(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, h.renderVM(m, model, in, manual, strings.EqualFold(r.URL.Query().Get("$expand"), "instanceView")))
}

func (h *handler) getVMInstanceView(w http.ResponseWriter, r *http.Request) {
	m, model, in, _, ok := h.vm(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, instanceView(model, in, computerName(m, in.ID)))
}

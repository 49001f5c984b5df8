package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/osupgrade/osupgrade/orchestrator"
)

const kindGroups = "resourceGroups"

// resourceGroup is a resource group created with PUT. A scale set or a
// gallery version may also be put into a group that was never created (the
// emulator has always allowed it, and its clients rely on it): such a group
// exists, implied, while it holds something, in the location of the first
// thing it holds.
type resourceGroup struct {
	Subscription string            `json:"subscription"`
	Name         string            `json:"name"`
	Location     string            `json:"location"`
	Tags         map[string]string `json:"tags,omitempty"`
}

func groupKey(sub, rg string) string { return strings.ToLower(sub) + "/" + strings.ToLower(rg) }

func (g *resourceGroup) render() map[string]any {
	out := map[string]any{
		"id":   fmt.Sprintf("/subscriptions/%s/resourceGroups/%s", g.Subscription, g.Name),
		"name": g.Name, "type": "Microsoft.Resources/resourceGroups", "location": g.Location,
		"properties": map[string]string{"provisioningState": "Succeeded"},
	}
	if len(g.Tags) > 0 {
		out["tags"] = g.Tags
	}
	return out
}

func (h *handler) loadGroups(ctx context.Context) error {
	return h.s.store.Resources(ctx, kindGroups, "", func(k string, doc []byte) error {
		g, err := unmarshalDoc[resourceGroup](doc)
		if err != nil {
			return fmt.Errorf("resource group %s: %w", k, err)
		}
		h.groups[k] = g
		return nil
	})
}

// groupLocked is the group sub/rg, created or implied, or nil; the caller
// holds h.mu.
func (h *handler) groupLocked(sub, rg string) *resourceGroup {
	if g := h.groups[groupKey(sub, rg)]; g != nil {
		return g
	}
	for _, g := range h.impliedGroupsLocked(sub) {
		if strings.EqualFold(g.Name, rg) {
			return g
		}
	}
	return nil
}

// impliedGroupsLocked are the groups of sub that hold something but were
// never created; the caller holds h.mu.
func (h *handler) impliedGroupsLocked(sub string) []*resourceGroup {
	var out []*resourceGroup
	add := func(rsub, rg, loc string) {
		if !strings.EqualFold(rsub, sub) || h.groups[groupKey(sub, rg)] != nil {
			return
		}
		if slices.ContainsFunc(out, func(g *resourceGroup) bool { return strings.EqualFold(g.Name, rg) }) {
			return
		}
		out = append(out, &resourceGroup{Subscription: rsub, Name: rg, Location: loc})
	}
	names := make([]string, 0, len(h.metas))
	for n := range h.metas {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		m := h.metas[n]
		loc := ""
		if m.Doc != nil {
			loc = normalizeRegion(m.Doc.Location)
		}
		add(m.Subscription, m.ResourceGroup, loc)
	}
	keys := make([]string, 0, len(h.galleries))
	for k := range h.galleries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		g := h.galleries[k]
		add(g.Subscription, g.ResourceGroup, g.Location)
	}
	return out
}

func notFoundGroup(rg string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "ResourceGroupNotFound", Message: fmt.Sprintf("Resource group '%s' could not be found.", rg)}
}

type armGroupIn struct {
	Location  string            `json:"location"`
	Tags      map[string]string `json:"tags"`
	ManagedBy *string           `json:"managedBy"`
}

func (h *handler) putGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sub, rg := r.PathValue("sub"), r.PathValue("rg")
	var in armGroupIn
	if err := decodeBody(r.Body, &in); err != nil {
		writeError(w, err)
		return
	}
	if in.Location == "" {
		writeError(w, badRequest("LocationRequired", "location", "The location property is required for this definition."))
		return
	}
	loc := normalizeRegion(in.Location)
	if !orchestrator.KnownRegion(loc) {
		writeError(w, badRequest("LocationNotAvailableForResourceGroup", "location", "The provided location %s is not available for resource group. List of available regions is '%s'.", quoteName(in.Location), strings.Join(orchestrator.Regions(), ",")))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	status := http.StatusCreated
	g := &resourceGroup{Subscription: sub, Name: rg, Location: loc, Tags: in.Tags}
	if old := h.groupLocked(sub, rg); old != nil {
		if old.Location != "" && old.Location != loc {
			writeError(w, &apiError{Status: http.StatusConflict, Code: "InvalidResourceGroupLocation", Target: "location",
				Message: fmt.Sprintf("Invalid resource group location '%s'. The Resource group already exists in location '%s'.", loc, old.Location)})
			return
		}
		// ARM keeps the name's first spelling.
		g.Subscription, g.Name, status = old.Subscription, old.Name, http.StatusOK
	}
	b, err := json.Marshal(g)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := h.s.store.PutResource(ctx, kindGroups, groupKey(sub, rg), b); err != nil {
		writeError(w, err)
		return
	}
	h.groups[groupKey(sub, rg)] = g
	writeJSON(w, status, g.render())
}

// getGroup answers GET, and HEAD as ARM's existence check: 204 or 404.
func (h *handler) getGroup(w http.ResponseWriter, r *http.Request) {
	var g *resourceGroup
	h.readLocked(func() { g = h.groupLocked(r.PathValue("sub"), r.PathValue("rg")) })
	switch {
	case r.Method == http.MethodHead && g == nil:
		w.WriteHeader(http.StatusNotFound)
	case r.Method == http.MethodHead:
		w.WriteHeader(http.StatusNoContent)
	case g == nil:
		writeError(w, notFoundGroup(r.PathValue("rg")))
	default:
		writeJSON(w, http.StatusOK, g.render())
	}
}

func (h *handler) listGroups(w http.ResponseWriter, r *http.Request) {
	sub := r.PathValue("sub")
	var gs []*resourceGroup
	h.readLocked(func() {
		for _, g := range h.groups {
			if strings.EqualFold(g.Subscription, sub) {
				gs = append(gs, g)
			}
		}
		gs = append(gs, h.impliedGroupsLocked(sub)...)
	})
	slices.SortFunc(gs, func(a, b *resourceGroup) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	out := []map[string]any{}
	for _, g := range gs {
		out = append(out, g.render())
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

// deleteGroup deletes a group and the scale sets, network resources and
// deployments in it, as a long-running
// operation (202, Location and Azure-AsyncOperation). The sets are deleted
// before the answer, so the operation has succeeded when first polled.
// Gallery versions in the group stay: the catalog keeps every version it
// published.
func (h *handler) deleteGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sub, rg := r.PathValue("sub"), r.PathValue("rg")
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groupLocked(sub, rg)
	if g == nil {
		writeError(w, notFoundGroup(rg))
		return
	}
	var sets []string
	for n, m := range h.metas {
		if m.in(sub, rg) {
			sets = append(sets, n)
		}
	}
	slices.Sort(sets)
	for _, n := range sets {
		if _, err := h.deleteSetLocked(ctx, h.metas[n]); err != nil {
			writeError(w, fmt.Errorf("delete resource group %s: scale set %s: %w", rg, n, err))
			return
		}
	}
	if err := h.deleteGroupResourcesLocked(ctx, sub, rg); err != nil {
		writeError(w, err)
		return
	}
	if err := h.s.store.DeleteResource(ctx, kindGroups, groupKey(sub, rg)); err != nil {
		writeError(w, err)
		return
	}
	delete(h.groups, groupKey(sub, rg))
	op, err := h.newOperation(ctx, operation{Kind: "deleteGroup", Location: g.Location, Status: statusSucceeded})
	if err != nil {
		writeError(w, err)
		return
	}
	// ARM's resource group operations are polled under the subscription,
	// with the Microsoft.Resources api-version the client used.
	u := fmt.Sprintf("%s/subscriptions/%s/operationresults/%s?%s", baseURL(r), url.PathEscape(sub), op.ID, url.Values{"api-version": {r.URL.Query().Get("api-version")}}.Encode())
	w.Header().Set("Location", u)
	w.Header().Set("Azure-AsyncOperation", u)
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusAccepted)
}

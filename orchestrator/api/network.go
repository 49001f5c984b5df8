package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/osupgrade/osupgrade/orchestrator"
)

// Microsoft.Network resources are plain stored documents: what `az vmss
// create` reads (virtual networks) and deploys (a virtual network, a
// public IP, a load balancer) before the scale set. Nothing in the
// emulator acts on them; a scale set's health probe is modelled from its
// own networkProfile as before.

const kindNetwork = "network"

// networkTypes are the Microsoft.Network resource types stored, by their
// lower case.
var networkTypes = spellings("virtualNetworks", "publicIPAddresses", "loadBalancers", "networkSecurityGroups")

func networkKey(sub, rg, typ, name string) string {
	return strings.ToLower(sub + "/" + rg + "/" + typ + "/" + name)
}

func networkID(sub, rg, typ, name string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/%s/%s", sub, rg, typ, name)
}

// networkType is the path's resource type in its canonical spelling, or ""
// after ARM's 400.
func networkType(w http.ResponseWriter, r *http.Request) string {
	t, ok := networkTypes[strings.ToLower(r.PathValue("type"))]
	if !ok {
		writeError(w, badRequest("InvalidResourceType", "type", "The resource type %s could not be found in the namespace 'Microsoft.Network'; this emulator stores %s.", quoteName(r.PathValue("type")), strings.Join(sortedValues(networkTypes), ", ")))
		return ""
	}
	return t
}

func sortedValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// putNetworkLocked stores a network resource from its document (the caller
// holds h.mu for writing) and returns it as GET will, and whether it is new.
func (h *handler) putNetworkLocked(ctx context.Context, sub, rg, typ, name string, doc map[string]any) (map[string]any, bool, error) {
	if h.groupLocked(sub, rg) == nil {
		return nil, false, notFoundGroup(rg)
	}
	loc, _ := doc["location"].(string)
	if loc == "" {
		return nil, false, badRequest("LocationRequired", "location", "The location property is required for this definition.")
	}
	if !orchestrator.KnownRegion(normalizeRegion(loc)) {
		return nil, false, badRequest("LocationNotAvailableForResourceType", "location", "The provided location %s is not available for resource type 'Microsoft.Network/%s'.", quoteName(loc), typ)
	}
	out := map[string]any{}
	for _, k := range []string{"tags", "sku", "zones", "etag"} {
		if v, ok := doc[k]; ok && v != nil {
			out[k] = v
		}
	}
	props, _ := doc["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	props["provisioningState"] = "Succeeded"
	out["id"], out["name"], out["type"], out["location"], out["properties"] = networkID(sub, rg, typ, name), name, "Microsoft.Network/"+typ, normalizeRegion(loc), props
	key := networkKey(sub, rg, typ, name)
	_, existed, err := h.s.store.Resource(ctx, kindNetwork, key)
	if err != nil {
		return nil, false, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, false, err
	}
	return out, !existed, h.s.store.PutResource(ctx, kindNetwork, key, b)
}

func (h *handler) putNetwork(w http.ResponseWriter, r *http.Request) {
	typ := networkType(w, r)
	if typ == "" {
		return
	}
	var doc map[string]any
	if err := decodeBody(r.Body, &doc); err != nil {
		writeError(w, err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out, created, err := h.putNetworkLocked(r.Context(), r.PathValue("sub"), r.PathValue("rg"), typ, r.PathValue("nname"), doc)
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, out)
}

func (h *handler) getNetwork(w http.ResponseWriter, r *http.Request) {
	typ := networkType(w, r)
	if typ == "" {
		return
	}
	doc, ok, err := h.s.store.Resource(r.Context(), kindNetwork, networkKey(r.PathValue("sub"), r.PathValue("rg"), typ, r.PathValue("nname")))
	switch {
	case err != nil:
		writeError(w, err)
	case !ok:
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "ResourceNotFound", Message: fmt.Sprintf("The Resource 'Microsoft.Network/%s/%s' under resource group '%s' was not found.", typ, r.PathValue("nname"), r.PathValue("rg"))})
	default:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(doc)
	}
}

func (h *handler) listNetwork(w http.ResponseWriter, r *http.Request) {
	typ := networkType(w, r)
	if typ == "" {
		return
	}
	out := []json.RawMessage{}
	err := h.s.store.Resources(r.Context(), kindNetwork, networkKey(r.PathValue("sub"), r.PathValue("rg"), typ, ""), func(_ string, doc []byte) error {
		out = append(out, slices.Clone(doc))
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

func (h *handler) deleteNetwork(w http.ResponseWriter, r *http.Request) {
	typ := networkType(w, r)
	if typ == "" {
		return
	}
	key := networkKey(r.PathValue("sub"), r.PathValue("rg"), typ, r.PathValue("nname"))
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok, err := h.s.store.Resource(r.Context(), kindNetwork, key)
	if err == nil && ok {
		err = h.s.store.DeleteResource(r.Context(), kindNetwork, key)
	}
	switch {
	case err != nil:
		writeError(w, err)
	case !ok:
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

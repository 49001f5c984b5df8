package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/osupgrade/osupgrade/orchestrator"
)

// The emulator has one tenant. Every ARM path accepts any subscription id
// (a GUID), as if the caller owned them all; GET /subscriptions lists
// DefaultSubscription and every subscription that holds something.
const (
	DefaultSubscription = "00000000-0000-0000-0000-000000000000"
	DefaultTenant       = "00000000-0000-0000-0000-0000000000aa"
)

type armSubscription struct {
	ID                   string         `json:"id"`
	SubscriptionID       string         `json:"subscriptionId"`
	TenantID             string         `json:"tenantId"`
	DisplayName          string         `json:"displayName"`
	State                string         `json:"state"`
	SubscriptionPolicies map[string]any `json:"subscriptionPolicies"`
	AuthorizationSource  string         `json:"authorizationSource"`
}

func renderSubscription(id string) armSubscription {
	name := "osupgrade emulator"
	if id != DefaultSubscription {
		name += " " + id
	}
	return armSubscription{
		ID: "/subscriptions/" + id, SubscriptionID: id, TenantID: DefaultTenant, DisplayName: name, State: "Enabled",
		SubscriptionPolicies: map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "Internal_2014-09-01", "spendingLimit": "Off"},
		AuthorizationSource:  "RoleBased",
	}
}

// subscriptionIDs are the subscriptions that hold something, and the
// default one, sorted.
func (h *handler) subscriptionIDs() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ids := []string{DefaultSubscription}
	add := func(s string) {
		s = strings.ToLower(s)
		if !slices.Contains(ids, s) {
			ids = append(ids, s)
		}
	}
	for _, m := range h.metas {
		add(m.Subscription)
	}
	for _, g := range h.galleries {
		add(g.Subscription)
	}
	for _, g := range h.groups {
		add(g.Subscription)
	}
	slices.Sort(ids)
	return ids
}

func (h *handler) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	out := []armSubscription{}
	for _, id := range h.subscriptionIDs() {
		out = append(out, renderSubscription(id))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

func (h *handler) getSubscription(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, renderSubscription(strings.ToLower(r.PathValue("sub"))))
}

func (h *handler) listTenants(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"value": []map[string]any{{
		"id": "/tenants/" + DefaultTenant, "tenantId": DefaultTenant, "tenantCategory": "Home",
		"displayName": "osupgrade emulator", "domains": []string{"osupgrade.local"},
	}}})
}

// ---- locations ----

// regionNames are the display names and geographies of the supported
// regions (orchestrator.Regions), as ARM's locations list gives them.
var regionNames = map[string][2]string{
	"eastus": {"East US", "US"}, "westus": {"West US", "US"}, "eastus2": {"East US 2", "US"},
	"centralus": {"Central US", "US"}, "northcentralus": {"North Central US", "US"},
	"southcentralus": {"South Central US", "US"}, "westus2": {"West US 2", "US"},
	"westcentralus": {"West Central US", "US"}, "westus3": {"West US 3", "US"},
	"brazilsouth": {"Brazil South", "South America"}, "canadacentral": {"Canada Central", "Canada"},
	"canadaeast": {"Canada East", "Canada"}, "northeurope": {"North Europe", "Europe"},
	"westeurope": {"West Europe", "Europe"}, "uksouth": {"UK South", "UK"}, "ukwest": {"UK West", "UK"},
	"francecentral": {"France Central", "France"}, "francesouth": {"France South", "France"},
	"germanywestcentral": {"Germany West Central", "Germany"}, "germanynorth": {"Germany North", "Germany"},
	"eastasia": {"East Asia", "Asia Pacific"}, "southeastasia": {"Southeast Asia", "Asia Pacific"},
	"japaneast": {"Japan East", "Japan"}, "japanwest": {"Japan West", "Japan"},
	"koreacentral": {"Korea Central", "Korea"}, "koreasouth": {"Korea South", "Korea"},
	"australiaeast": {"Australia East", "Australia"}, "australiasoutheast": {"Australia Southeast", "Australia"},
	"centralindia": {"Central India", "India"}, "southindia": {"South India", "India"},
}

// regionDisplayName is ARM's display name of a supported region.
func regionDisplayName(region string) string {
	if n, ok := regionNames[region]; ok {
		return n[0]
	}
	return region
}

// pairedRegions are region's pairs (R-AVAIL-2), in the platform's order.
func pairedRegions(region string) []string {
	var out []string
	for _, o := range orchestrator.Regions() {
		if o != region && orchestrator.Paired(region, o) {
			out = append(out, o)
		}
	}
	return out
}

func (h *handler) listLocations(w http.ResponseWriter, r *http.Request) {
	sub := r.PathValue("sub")
	out := []map[string]any{}
	for _, reg := range orchestrator.Regions() {
		var pairs []map[string]string
		for _, p := range pairedRegions(reg) {
			pairs = append(pairs, map[string]string{"name": p, "id": fmt.Sprintf("/subscriptions/%s/locations/%s", sub, p)})
		}
		out = append(out, map[string]any{
			"id": fmt.Sprintf("/subscriptions/%s/locations/%s", sub, reg), "name": reg, "type": "Region",
			"displayName": regionDisplayName(reg), "regionalDisplayName": "(" + regionNames[reg][1] + ") " + regionDisplayName(reg),
			"metadata": map[string]any{"regionType": "Physical", "regionCategory": "Recommended", "geographyGroup": regionNames[reg][1], "pairedRegion": pairs},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

// ---- resource providers ----

// providerTypes are the resource types each namespace registers, with the
// api-versions the server implements for them (apiVersions).
var providerTypes = map[string][]struct{ typ, family string }{
	"Microsoft.Compute": {
		{"virtualMachineScaleSets", "Microsoft.Compute"},
		{"virtualMachineScaleSets/virtualMachines", "Microsoft.Compute"},
		{"locations", "Microsoft.Compute"},
		{"locations/operations", "Microsoft.Compute"},
		{"locations/publishers", "Microsoft.Compute"},
		{"galleries", "Microsoft.Compute/galleries"},
		{"galleries/images", "Microsoft.Compute/galleries"},
		{"galleries/images/versions", "Microsoft.Compute/galleries"},
	},
	"Microsoft.Resources": {
		{"subscriptions", "Microsoft.Resources"},
		{"tenants", "Microsoft.Resources"},
		{"resourceGroups", "Microsoft.Resources"},
		{"locations", "Microsoft.Resources"},
		{"providers", "Microsoft.Resources"},
	},
}

// providerNamespaces is the order providers are listed in.
var providerNamespaces = []string{"Microsoft.Compute", "Microsoft.Resources"}

func renderProvider(sub, ns string) map[string]any {
	regions := []string{}
	for _, reg := range orchestrator.Regions() {
		regions = append(regions, regionDisplayName(reg))
	}
	types := []map[string]any{}
	for _, t := range providerTypes[ns] {
		vs := slices.Clone(apiVersions[t.family])
		slices.Reverse(vs) // ARM lists the newest first
		types = append(types, map[string]any{"resourceType": t.typ, "locations": regions, "apiVersions": vs})
	}
	return map[string]any{
		"id": fmt.Sprintf("/subscriptions/%s/providers/%s", sub, ns), "namespace": ns,
		"registrationState": "Registered", "registrationPolicy": "RegistrationRequired", "resourceTypes": types,
	}
}

// providerNamespace is the namespace a path names, in its canonical
// spelling, or "" when the server has no such provider.
func providerNamespace(w http.ResponseWriter, r *http.Request) string {
	ns := r.PathValue("ns")
	for _, n := range providerNamespaces {
		if strings.EqualFold(n, ns) {
			return n
		}
	}
	writeError(w, &apiError{Status: http.StatusNotFound, Code: "InvalidResourceNamespace", Target: "resourceProviderNamespace",
		Message: fmt.Sprintf("The resource namespace %s is invalid; this emulator has %s.", quoteName(ns), strings.Join(providerNamespaces, " and "))})
	return ""
}

func (h *handler) listProviders(w http.ResponseWriter, r *http.Request) {
	out := []map[string]any{}
	for _, ns := range providerNamespaces {
		out = append(out, renderProvider(r.PathValue("sub"), ns))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

func (h *handler) getProvider(w http.ResponseWriter, r *http.Request) {
	if ns := providerNamespace(w, r); ns != "" {
		writeJSON(w, http.StatusOK, renderProvider(r.PathValue("sub"), ns))
	}
}

// registerProvider answers as ARM does for a provider already registered:
// every provider here always is.
func (h *handler) registerProvider(w http.ResponseWriter, r *http.Request) {
	h.getProvider(w, r)
}

// resourceRoutes are the routes of the ARM surface around the scale sets:
// subscriptions, tenants, locations, providers, resource groups, and the
// image hierarchy and gallery definitions above the versions.
func (h *handler) resourceRoutes() map[string]http.HandlerFunc {
	const sub = "/subscriptions/{sub}"
	const group = sub + "/resourceGroups/{rg}"
	const offers = imageLocationPath + "/publishers/{pub}/artifacttypes/vmimage/offers"
	return map[string]http.HandlerFunc{
		"GET /subscriptions":                                   h.listSubscriptions,
		"GET " + sub:                                           h.getSubscription,
		"GET /tenants":                                         h.listTenants,
		"GET " + sub + "/locations":                            h.listLocations,
		"GET " + sub + "/providers":                            h.listProviders,
		"GET " + sub + "/providers/{ns}":                       h.getProvider,
		"POST " + sub + "/providers/{ns}/register":             h.registerProvider,
		"GET " + sub + "/resourceGroups":                       h.listGroups,
		"PUT " + group:                                         h.putGroup,
		"GET " + group:                                         h.getGroup,
		"DELETE " + group:                                      h.deleteGroup,
		"GET " + sub + "/operationresults/{op}":                h.operation,
		"GET " + imageLocationPath + "/publishers":             h.listPublishers,
		"GET " + offers:                                        h.listOffers,
		"GET " + offers + "/{offer}/skus":                      h.listSKUs,
		"GET " + group + "/providers/Microsoft.Network/{type}": h.listNetwork,
		"PUT " + group + "/providers/Microsoft.Network/{type}/{nname}":        h.putNetwork,
		"GET " + group + "/providers/Microsoft.Network/{type}/{nname}":        h.getNetwork,
		"DELETE " + group + "/providers/Microsoft.Network/{type}/{nname}":     h.deleteNetwork,
		"PUT " + group + "/providers/Microsoft.Resources/deployments/{dname}": h.putDeployment,
		"GET " + group + "/providers/Microsoft.Resources/deployments/{dname}": h.getDeployment,
		"GET " + computeBase + "/galleries":                                   h.listGalleries,
		"GET " + computeBase + "/galleries/{gallery}":                         h.getGallery,
		"GET " + computeBase + "/galleries/{gallery}/images":                  h.listGalleryImages,
		"GET " + computeBase + "/galleries/{gallery}/images/{image}":          h.getGalleryImage,
	}
}

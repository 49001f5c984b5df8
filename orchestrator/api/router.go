package api

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// ARM matches the literal segments of a path case-insensitively
// (`resourcegroups`, `microsoft.compute`, `virtualmachinescalesets` all
// work in Azure) and keeps names as given. The routes here are written in
// ARM's documented spelling; canonicalPath rewrites a request's literal
// segments to that spelling before the mux sees it. Which segments are
// literal follows ARM's grammar: after /subscriptions/{id} a path alternates
// key/value (resourceGroups/{rg}, providers/{namespace},
// virtualMachineScaleSets/{name}, ...), so a scale set named "Latest" or
// "versions" stays as it is.

// armKeys are the key segments the server routes, by their lower case.
var armKeys = spellings(
	"subscriptions", "tenants", "resourceGroups", "providers", "locations", "register",
	"virtualMachineScaleSets", "virtualMachines", "instanceView", "osRollingUpgrade", "rollingUpgrades",
	"osUpgradeHistory", "manualupgrade", "operations", "publishers", "artifacttypes", "offers", "skus",
	"versions", "galleries", "images", "deployments", "operationStatuses", "operationresults",
	"virtualNetworks", "subnets", "loadBalancers", "publicIPAddresses", "networkSecurityGroups",
	"networkInterfaces", "applicationGatewayAvailableSslOptions", "resources",
)

// armNamespaces are the provider namespaces, by their lower case.
var armNamespaces = spellings("Microsoft.Compute", "Microsoft.Resources", "Microsoft.Network")

// armValues are the literal values that follow some keys.
var armValues = map[string]map[string]string{
	"rollingUpgrades": spellings("cancel", "latest"),
	"artifacttypes":   spellings("vmimage"),
}

func spellings(words ...string) map[string]string {
	m := make(map[string]string, len(words))
	for _, w := range words {
		m[strings.ToLower(w)] = w
	}
	return m
}

// canonicalPath is p (an escaped path) with ARM's literal segments in the
// routes' spelling; other paths are returned as they are.
func canonicalPath(p string) string {
	segs := strings.Split(p, "/")
	if len(segs) < 2 || segs[0] != "" {
		return p
	}
	first := strings.ToLower(segs[1])
	if first != "subscriptions" && first != "tenants" {
		return p
	}
	segs = segs[1:]
	for i := 0; i < len(segs); i += 2 {
		key, ok := armKeys[strings.ToLower(segs[i])]
		if !ok {
			continue
		}
		segs[i] = key
		if i+1 >= len(segs) {
			break
		}
		if key == "providers" {
			if ns, ok := armNamespaces[strings.ToLower(segs[i+1])]; ok {
				segs[i+1] = ns
			}
			continue
		}
		if vals, ok := armValues[key]; ok {
			if v, ok := vals[strings.ToLower(segs[i+1])]; ok {
				segs[i+1] = v
			}
		}
	}
	return "/" + strings.Join(segs, "/")
}

// canonicalize rewrites r's path in place (see canonicalPath).
func canonicalize(r *http.Request) {
	esc := r.URL.EscapedPath()
	c := canonicalPath(esc)
	if c == esc {
		return
	}
	p, err := url.PathUnescape(c)
	if err != nil {
		return // the mux answers an unreadable path as it would have
	}
	r.URL.Path, r.URL.RawPath = p, c
	if p == c {
		r.URL.RawPath = ""
	}
}

// jsonBodyPath reports paths whose request bodies are ARM JSON: the ARM
// surface and the emulator's own endpoints (the token endpoint takes a form).
func jsonBodyPath(p string) bool {
	return strings.HasPrefix(p, "/subscriptions/") || strings.HasPrefix(p, "/osupgrade/")
}

// checkContentType refuses a body sent as something other than JSON, as
// ARM does (415): a request without a Content-Type is read as JSON, the
// way ARM treats clients that omit it.
func checkContentType(r *http.Request) *apiError {
	if r.ContentLength == 0 || r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodDelete {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" || !jsonBodyPath(r.URL.Path) {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return &apiError{Status: http.StatusUnsupportedMediaType, Code: "UnsupportedMediaType", Target: "Content-Type",
		Message: fmt.Sprintf("The content media type %q is not supported. Only 'application/json' is supported.", ct)}
}

// routedMethods are the methods a route may have.
var routedMethods = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodPost, http.MethodDelete}

// allowedMethods lists the methods that have a route for r's path: none
// means no such resource (404), some means the method is wrong (405).
func (h *handler) allowedMethods(r *http.Request) []string {
	var out []string
	for _, m := range routedMethods {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := h.mux.Handler(probe); pattern != "" && pattern != "/" && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// methodNotAllowed is ARM's answer to a method a resource does not have.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed []string) {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowed",
		Message: fmt.Sprintf("The requested resource does not support http method '%s'; it supports %s.", r.Method, strings.Join(allowed, ", "))})
}

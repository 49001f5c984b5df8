// Package api is the ARM-compatible HTTP face of the orchestrator: the
// Microsoft.Compute paths that automatic OS upgrades touch (scale sets,
// their VMs, rolling upgrades, history, platform and gallery image
// versions), emulator-only endpoints under /osupgrade/, and /metrics.
//
// It translates between ARM JSON and the orchestrator's model and decides
// nothing about rollouts: the orchestrator and its planner do.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/osupgrade/osupgrade/orchestrator"
)

const computeBase = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute"

type handler struct {
	s   *Server
	mux *http.ServeMux
	// tokenMux routes the token service's paths (token.go).
	tokenMux *http.ServeMux

	// mu serializes changes to scale sets and gallery versions (document
	// and model change together) and guards the maps.
	mu        sync.RWMutex
	metas     map[string]*setMeta
	galleries map[string]*galleryVersion // "gallery/image/version"
	groups    map[string]*resourceGroup  // groupKey: created with PUT
}

// readLocked runs f holding the handler's read lock and releases it
// however f ends: the recovery middleware answers a panic in f with a 500,
// and a lock left held would stop every later change (and, once a writer
// waits, every read).
func (h *handler) readLocked(f func()) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	f()
}

func newHandler(s *Server) *handler {
	h := &handler{s: s, mux: http.NewServeMux(), metas: map[string]*setMeta{}, galleries: map[string]*galleryVersion{}, groups: map[string]*resourceGroup{}}
	vmss := computeBase + "/virtualMachineScaleSets/{name}"
	routes := map[string]http.HandlerFunc{
		"PUT " + vmss:    h.putScaleSet,
		"PATCH " + vmss:  h.patchScaleSet,
		"GET " + vmss:    h.getScaleSet,
		"DELETE " + vmss: h.deleteScaleSet,
		"GET " + computeBase + "/virtualMachineScaleSets":                                      h.listScaleSets,
		"GET /subscriptions/{sub}/providers/Microsoft.Compute/virtualMachineScaleSets":         h.listScaleSets,
		"GET " + vmss + "/virtualMachines":                                                     h.listVMs,
		"GET " + vmss + "/virtualMachines/{id}":                                                h.getVM,
		"GET " + vmss + "/virtualMachines/{id}/instanceView":                                   h.getVMInstanceView,
		"POST " + vmss + "/osRollingUpgrade":                                                   h.startOSUpgrade,
		"POST " + vmss + "/rollingUpgrades/cancel":                                             h.cancelRollout,
		"GET " + vmss + "/rollingUpgrades/latest":                                              h.latestRollout,
		"GET " + vmss + "/osUpgradeHistory":                                                    h.history,
		"POST " + vmss + "/manualupgrade":                                                      h.manualUpgrade,
		"GET /subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/operations/{op}": h.operation,
		"GET " + imageVersionsPath:                                                             h.listImageVersions,
		"GET " + imageVersionsPath + "/{version}":                                              h.getImageVersion,
		"PUT " + galleryVersionPath:                                                            h.putGalleryVersion,
		"GET " + galleryVersionPath:                                                            h.getGalleryVersion,
		"GET " + computeBase + "/galleries/{gallery}/images/{image}/versions":                  h.listGalleryVersions,
		"POST /osupgrade/images":                                                               h.publishImage,
		"GET /osupgrade/clock":                                                                 h.getClock,
		"POST /osupgrade/clock":                                                                h.setClock,
		"POST /osupgrade/faults":                                                               h.injectFault,
		"GET /osupgrade/journal":                                                               h.journal,
		"GET /osupgrade/fleet/journal":                                                         h.fleetJournal,
		"/":                                                                                    h.notFound,
	}
	for p, f := range h.resourceRoutes() {
		routes[p] = f
	}
	for p, f := range routes {
		h.mux.HandleFunc(p, checkPathNames(p, f))
	}
	h.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry(), promhttp.HandlerOpts{}))
	h.tokenMux = s.identity.routes()
	return h
}

// statusWriter remembers the status code and counts the body's bytes, for
// the request metric and the access log.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	w = sw
	// ARM's ids: the client's (x-ms-client-request-id is what Azure SDKs
	// send) or fresh ones, returned and logged.
	requestID := r.Header.Get("x-ms-request-id")
	if requestID == "" {
		requestID = r.Header.Get("x-ms-client-request-id")
	}
	requestID = clientID(requestID)
	correlationID := clientID(r.Header.Get("x-ms-correlation-request-id"))
	w.Header().Set("x-ms-request-id", requestID)
	w.Header().Set("x-ms-correlation-request-id", correlationID)
	// Deferred first so that it runs last, with the status a recovered
	// panic answered.
	defer h.accessLog(sw, r, h.s.wallNow(), requestID, correlationID)
	defer func() {
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		h.s.metrics.ObserveRequest(route, r.Method, code)
	}()
	// Deferred after the metric so that it runs first: a recovered panic is
	// counted as the 500 it answers.
	defer h.recoverPanic(sw, r, requestID)
	// The token service and the cloud metadata answer without a token.
	if th := h.s.identity.publicHandler(h.tokenMux, r); th != nil {
		th.ServeHTTP(w, r)
		return
	}
	if err := h.s.identity.authenticate(r); err != nil {
		writeError(w, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody+1)
	canonicalize(r)
	if err := checkContentType(r); err != nil {
		writeError(w, err)
		return
	}
	if p := r.URL.Path; p == "/subscriptions" || p == "/tenants" || strings.HasPrefix(p, "/subscriptions/") || strings.HasPrefix(p, "/tenants/") {
		if err := checkAPIVersion(r); err != nil {
			writeError(w, err)
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// pathNameRules are ARM's naming rules for the names a path carries:
// anything else would reach resource ids, the state database's keys and
// metric labels. A scale set is 1-64 letters, digits, '_', '.', '-',
// starting with a letter or digit and ending with a letter, digit or '_'; a
// resource group 1-90 letters, digits, '_', '-', '.', '(', ')', not ending
// in '.'; a gallery 1-80 letters, digits, '_', '.', and an image definition
// 1-80 letters, digits, '_', '.', '-', both starting and ending with a
// letter or digit.
var pathNameRules = []struct {
	wildcard, after string // the path value, in patterns containing after+"{"+wildcard+"}"
	re              *regexp.Regexp
	code, target    string
	rule            string
}{
	{"sub", "/subscriptions/", regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`), "InvalidSubscriptionId", "subscriptionId",
		"The provided subscription identifier %s is malformed or invalid: it must be a GUID."},
	{"rg", "/resourceGroups/", regexp.MustCompile(`^[\p{L}\p{N}_.()-]{0,89}[\p{L}\p{N}_()-]$`), "InvalidResourceGroup", "resourceGroupName",
		"The resource group name %s is invalid: it must be 1 to 90 characters of letters, digits, '_', '-', '.', '(' and ')', and not end in '.'."},
	{"name", "/virtualMachineScaleSets/", regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?$`), "InvalidResourceName", "name",
		"The resource name %s is invalid for Microsoft.Compute/virtualMachineScaleSets: it must be 1 to 64 characters of letters, digits, '_', '.' and '-', start with a letter or digit, and end with a letter, digit or '_'."},
	{"nname", "/", regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$`), "InvalidResourceName", "name",
		"The resource name %s is invalid for Microsoft.Network: it must be 1 to 80 characters of letters, digits, '_', '.' and '-', start with a letter or digit, and end with a letter, digit or '_'."},
	{"dname", "/deployments/", regexp.MustCompile(`^[-\w._()]{1,64}$`), "InvalidDeploymentName", "deploymentName",
		"The deployment name %s is invalid: it must be 1 to 64 characters of letters, digits, '_', '-', '.', '(' and ')'."},
	{"gallery", "/galleries/", regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9_.]{0,78}[A-Za-z0-9])?$`), "InvalidResourceName", "galleryName",
		"The resource name %s is invalid for Microsoft.Compute/galleries: it must be 1 to 80 characters of letters, digits, '_' and '.', starting and ending with a letter or digit."},
	{"image", "/images/", regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9])?$`), "InvalidResourceName", "galleryImageName",
		"The resource name %s is invalid for Microsoft.Compute/galleries/images: it must be 1 to 80 characters of letters, digits, '_', '.' and '-', starting and ending with a letter or digit."},
}

// checkPathNames wraps the handler of route pattern with the naming rules
// of the path values it has: a bad name is ARM's 400, before anything reads
// or stores it.
func checkPathNames(pattern string, next http.HandlerFunc) http.HandlerFunc {
	var rules []int
	for i, rule := range pathNameRules {
		if strings.Contains(pattern, rule.after+"{"+rule.wildcard+"}") {
			rules = append(rules, i)
		}
	}
	if len(rules) == 0 {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		for _, i := range rules {
			rule := pathNameRules[i]
			if v := r.PathValue(rule.wildcard); !rule.re.MatchString(v) {
				writeError(w, badRequest(rule.code, rule.target, rule.rule, quoteName(v)))
				return
			}
		}
		next(w, r)
	}
}

// quoteName quotes a name for an error message, cut to 80 bytes: the
// message names what was refused without echoing kilobytes of it.
func quoteName(s string) string {
	if len(s) <= 80 {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(strings.ToValidUTF8(s[:80], "")), len(s))
}

// accessLog writes one record for a request that ended: info, or error
// for a 5xx.
func (h *handler) accessLog(w *statusWriter, r *http.Request, start time.Time, requestID, correlationID string) {
	code, level := w.code, slog.LevelInfo
	if code == 0 {
		code = http.StatusOK
	}
	if code >= 500 {
		level = slog.LevelError
	}
	h.s.log().LogAttrs(r.Context(), level, "request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", code),
		slog.Duration("duration", h.s.wallNow().Sub(start)), slog.Int64("bytes", w.bytes),
		slog.String("x-ms-request-id", requestID), slog.String("x-ms-correlation-request-id", correlationID))
}

// recoverPanic turns a handler's panic into ARM's 500 and one log line with
// the stack, instead of a reset stream: a bug in one request must not look
// like a network failure to the client.
func (h *handler) recoverPanic(w *statusWriter, r *http.Request, requestID string) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler { //nolint:errorlint // net/http's sentinel, compared as net/http does
		panic(v)
	}
	h.s.log().Error("panic", "method", r.Method, "path", r.URL.Path, "x-ms-request-id", requestID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	if w.code != 0 {
		// The status line is out: nothing to answer with but a cut response.
		return
	}
	writeError(w, &apiError{Status: http.StatusInternalServerError, Code: "InternalServerError", Message: fmt.Sprintf("The server encountered an internal error; request id %s.", requestID)})
}

// clientID is a request or correlation id the client sent, echoed when it
// is a plausible id (at most 128 printable ASCII characters) and replaced
// by a fresh one otherwise, so that a header value never carries control
// characters or unbounded text back.
func clientID(s string) string {
	if s == "" || len(s) > 128 {
		return newID()
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return newID()
		}
	}
	return s
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	if allowed := h.allowedMethods(r); len(allowed) > 0 {
		methodNotAllowed(w, r, allowed)
		return
	}
	writeError(w, &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("no resource or operation at %s %s in this emulator", r.Method, r.URL.Path)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target,omitempty"`
}

// writeError maps an error to ARM's error shape and status.
func writeError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	w.Header().Set("x-ms-error-code", ae.Code)
	writeJSON(w, ae.Status, errorBody{Error: errorDetail{Code: ae.Code, Message: ae.Message, Target: ae.Target}})
}

func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ve *orchestrator.ValidationError
	if errors.As(err, &ve) {
		msg := ve.Message
		if ve.Rule != "" {
			msg += " (" + ve.Rule + ")"
		}
		return &apiError{Status: http.StatusBadRequest, Code: ve.Code, Target: ve.Target, Message: ve.Target + ": " + msg}
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "RequestBodyTooLarge", Message: err.Error()}
	case errors.Is(err, orchestrator.ErrNotFound):
		return &apiError{Status: http.StatusNotFound, Code: "ResourceNotFound", Message: err.Error()}
	case errors.Is(err, orchestrator.ErrExists):
		return &apiError{Status: http.StatusConflict, Code: "Conflict", Message: err.Error()}
	case errors.Is(err, orchestrator.ErrRolloutInProgress), errors.Is(err, orchestrator.ErrNoRollout), errors.Is(err, orchestrator.ErrNoImageVersion):
		return &apiError{Status: http.StatusConflict, Code: "OperationNotAllowed", Message: err.Error()}
	case errors.Is(err, ErrClockNotVirtual):
		return &apiError{Status: http.StatusConflict, Code: "ClockNotVirtual", Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return &apiError{Status: 499, Code: "RequestCanceled", Message: err.Error()}
	}
	return &apiError{Status: http.StatusInternalServerError, Code: "InternalServerError", Message: err.Error()}
}

func notFoundSet(rg, name string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "ResourceNotFound", Message: fmt.Sprintf("The Resource 'Microsoft.Compute/virtualMachineScaleSets/%s' under resource group '%s' was not found.", name, rg)}
}

// baseURL is the scheme and host the client reached us at.
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// load rebuilds the handler's view from the state database, finishing or
// dropping changes a crash interrupted.
func (h *handler) load(ctx context.Context) error {
	if err := h.loadCatalog(ctx); err != nil {
		return err
	}
	if err := h.loadGroups(ctx); err != nil {
		return err
	}
	var fix []*setMeta
	err := h.s.store.Resources(ctx, kindARM, "", func(name string, doc []byte) error {
		m, err := unmarshalDoc[setMeta](doc)
		if err != nil {
			return fmt.Errorf("scale set document %s: %w", name, err)
		}
		m.Name = name
		model, ok := h.s.o.ScaleSet(name)
		switch {
		case !ok:
			// Created or deleted halfway: the orchestrator never had it, or
			// no longer does.
			m.Doc = nil
			fix = append(fix, m)
			return nil
		case m.Pending != nil:
			if sameModel(model, m.Pending.Model) {
				m.Doc = m.Pending.Doc
				if vmProfileChanged(m.Pending.Old, model) {
					m.ModelUpdatedAt = m.Pending.At
				}
			}
			m.Pending = nil
			fix = append(fix, m)
		}
		if m.Doc != nil {
			h.metas[name] = m
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range fix {
		if m.Doc == nil {
			if err := h.s.store.DeleteResource(ctx, kindARM, m.Name); err != nil {
				return err
			}
			continue
		}
		if err := h.saveMeta(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func sameModel(a, b orchestrator.ScaleSet) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// vmProfileChanged reports a change of what instances are built from: a VM
// whose OS disk predates it no longer runs the latest model.
func vmProfileChanged(old, new orchestrator.ScaleSet) bool {
	type profile struct {
		Image      orchestrator.ImageReference
		Extensions []orchestrator.Extension
		CustomData string
		DataDisks  int
		AppHealth  orchestrator.AppHealth
	}
	x, _ := json.Marshal(profile{old.Image, old.Extensions, old.CustomData, old.DataDisks, old.AppHealth})
	y, _ := json.Marshal(profile{new.Image, new.Extensions, new.CustomData, new.DataDisks, new.AppHealth})
	return string(x) != string(y)
}

func (h *handler) saveMeta(ctx context.Context, m *setMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return h.s.store.PutResource(ctx, kindARM, m.Name, b)
}

func nowUTC(s *Server) time.Time { return s.clock.Now().UTC() }

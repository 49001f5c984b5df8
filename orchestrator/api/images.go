package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/orchestrator"
)

const (
	imageVersionsPath  = "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/publishers/{pub}/artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions"
	galleryVersionPath = computeBase + "/galleries/{gallery}/images/{image}/versions/{version}"
	kindGalleries      = "galleries" // gallery image versions
)

// builtinDates are when the built-in catalog's three versions of every
// supported SKU were published.
var builtinDates = []time.Time{
	time.Date(2025, 9, 10, 0, 0, 0, 0, time.UTC),
	time.Date(2025, 10, 8, 0, 0, 0, 0, time.UTC),
	time.Date(2025, 11, 12, 0, 0, 0, 0, time.UTC),
}

// BuiltinVersions is the catalog a new server starts with: three dated
// versions of every SKU in orchestrator.SupportedPlatformSKUs (R-REQ-6), so
// that a scale set can be created and upgraded with no setup.
func BuiltinVersions() []orchestrator.ImageVersion {
	var out []orchestrator.ImageVersion
	for _, ref := range orchestrator.SupportedPlatformSKUs {
		parts := strings.Split(ref, ":")
		sku := parts[2]
		for i, d := range builtinDates {
			var v string
			switch {
			case parts[0] == "Canonical":
				v = sku[:5] + "." + d.Format("20060102") + "0" // 18.04.202509100
			case parts[0] == "OpenLogic":
				v = sku + "." + d.Format("20060102")
			default:
				build := map[string]string{"2012": "9600", "2016": "14393", "2019": "17763"}[sku[:4]]
				v = fmt.Sprintf("%s.%d.%s", build, 7000+100*i, d.Format("060102"))
			}
			out = append(out, orchestrator.ImageVersion{Ref: ref, Version: v, PublishedAt: d})
		}
	}
	return out
}

// loadCatalog adds the built-in versions the stored catalog lacks (the
// orchestrator loaded the rest) and the gallery versions' documents.
func (h *handler) loadCatalog(ctx context.Context) error {
	for _, v := range BuiltinVersions() {
		found := false
		h.s.o.CatalogView(func(c *orchestrator.Catalog) { _, found = c.Find(v.Ref, v.Version) })
		if found {
			continue
		}
		if err := h.s.o.Publish(v); err != nil {
			return err
		}
	}
	return h.s.store.Resources(ctx, kindGalleries, "", func(k string, doc []byte) error {
		g, err := unmarshalDoc[galleryVersion](doc)
		if err != nil {
			return fmt.Errorf("gallery version %s: %w", k, err)
		}
		h.galleries[k] = g
		return nil
	})
}

// ---- platform image versions (R-HIST-2) ----

type armImageResource struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Location   string         `json:"location"`
	Properties map[string]any `json:"properties,omitempty"`
}

func imageResourceID(sub, loc, pub, offer, sku, v string) string {
	return fmt.Sprintf("/Subscriptions/%s/Providers/Microsoft.Compute/Locations/%s/Publishers/%s/ArtifactTypes/VMImage/Offers/%s/Skus/%s/Versions/%s", sub, loc, pub, offer, sku, v)
}

// platformRef finds the catalog's spelling of publisher:offer:sku (ARM
// names are case-insensitive).
func (h *handler) platformRef(pub, offer, sku string) (string, []orchestrator.ImageVersion) {
	want := pub + ":" + offer + ":" + sku
	var ref string
	var vs []orchestrator.ImageVersion
	h.s.o.CatalogView(func(c *orchestrator.Catalog) {
		for _, r := range c.Refs() {
			if strings.EqualFold(r, want) {
				ref, vs = r, c.Versions(r)
			}
		}
	})
	return ref, vs
}

func (h *handler) listImageVersions(w http.ResponseWriter, r *http.Request) {
	sub, loc := r.PathValue("sub"), normalizeRegion(r.PathValue("loc"))
	pub, offer, sku := r.PathValue("pub"), r.PathValue("offer"), r.PathValue("sku")
	if !orchestrator.KnownRegion(loc) {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "NoRegisteredProviderFound", Target: "location", Message: fmt.Sprintf("location %q is not supported", r.PathValue("loc"))})
		return
	}
	ref, vs := h.platformRef(pub, offer, sku)
	if ref == "" {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("Artifact: VMImage was not found: %s:%s:%s has no versions in %s", pub, offer, sku, loc)})
		return
	}
	q := r.URL.Query()
	if strings.EqualFold(strings.TrimSpace(q.Get("$orderby")), "name desc") {
		slices.Reverse(vs)
	}
	top := len(vs)
	if t := q.Get("$top"); t != "" {
		var n int
		if _, err := fmt.Sscanf(t, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != t {
			writeError(w, badRequest("InvalidParameter", "$top", "%q is not a non-negative integer", t))
			return
		}
		top = min(top, n)
	}
	out := []armImageResource{}
	parts := strings.Split(ref, ":")
	// $expand=properties (az vm image list --all asks for it) adds each
	// version's properties, as GET of the version gives them.
	expand := strings.EqualFold(q.Get("$expand"), "properties")
	for _, v := range vs[:top] {
		e := armImageResource{ID: imageResourceID(sub, loc, parts[0], parts[1], parts[2], v.Version), Name: v.Version, Location: loc}
		if expand {
			e.Properties = imageVersionProperties(parts[0])
		}
		out = append(out, e)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) getImageVersion(w http.ResponseWriter, r *http.Request) {
	sub, loc := r.PathValue("sub"), normalizeRegion(r.PathValue("loc"))
	ref, vs := h.platformRef(r.PathValue("pub"), r.PathValue("offer"), r.PathValue("sku"))
	version := r.PathValue("version")
	for _, v := range vs {
		if v.Version != version {
			continue
		}
		parts := strings.Split(ref, ":")
		writeJSON(w, http.StatusOK, armImageResource{ID: imageResourceID(sub, loc, parts[0], parts[1], parts[2], v.Version), Name: v.Version, Location: loc,
			Properties: imageVersionProperties(parts[0])})
		return
	}
	writeError(w, &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("Artifact: VMImage was not found: %s:%s:%s:%s", r.PathValue("pub"), r.PathValue("offer"), r.PathValue("sku"), version)})
}

// imageVersionProperties are a platform version's properties: the
// emulator's images are x64, generation 1, active.
func imageVersionProperties(publisher string) map[string]any {
	osName := "Linux"
	if strings.HasPrefix(publisher, "MicrosoftWindows") {
		osName = "Windows"
	}
	return map[string]any{"osDiskImage": map[string]string{"operatingSystem": osName}, "hyperVGeneration": "V1", "architecture": "x64",
		"imageDeprecationStatus": map[string]string{"imageState": "Active"}}
}

// ---- gallery image versions (R-TRIG-1) ----

// galleryVersion is a compute-gallery image version as PUT, with its
// replication state. Replication completes at once: a region in
// targetRegions is replicated, any other region never is.
type galleryVersion struct {
	Subscription      string    `json:"subscription"`
	ResourceGroup     string    `json:"resourceGroup"`
	Gallery           string    `json:"gallery"`
	Image             string    `json:"image"`
	Version           string    `json:"version"`
	Location          string    `json:"location"`
	TargetRegions     []string  `json:"targetRegions"`
	ExcludeFromLatest bool      `json:"excludeFromLatest"`
	PublishedAt       time.Time `json:"publishedAt"`
}

func (g *galleryVersion) key() string { return g.Gallery + "/" + g.Image + "/" + g.Version }

func (g *galleryVersion) imageVersion() orchestrator.ImageVersion {
	return orchestrator.ImageVersion{Ref: "gallery:" + g.Gallery + "/" + g.Image, Version: g.Version, PublishedAt: g.PublishedAt, Regions: slices.Clone(g.TargetRegions), ExcludeFromLatest: g.ExcludeFromLatest}
}

type armGalleryVersionIn struct {
	Location   string `json:"location"`
	Properties *struct {
		PublishingProfile *struct {
			TargetRegions []struct {
				Name                 string `json:"name"`
				RegionalReplicaCount *int   `json:"regionalReplicaCount,omitempty"`
			} `json:"targetRegions"`
			ExcludeFromLatest *bool `json:"excludeFromLatest,omitempty"`
		} `json:"publishingProfile"`
		StorageProfile json.RawMessage `json:"storageProfile,omitempty"`
	} `json:"properties"`
}

var galleryVersionNameRE = regexp.MustCompile(`^\d{1,9}\.\d{1,9}\.\d{1,9}$`)

func (h *handler) putGalleryVersion(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var in armGalleryVersionIn
	if err := decodeBody(r.Body, &in); err != nil {
		writeError(w, err)
		return
	}
	g := &galleryVersion{Subscription: r.PathValue("sub"), ResourceGroup: r.PathValue("rg"), Gallery: r.PathValue("gallery"), Image: r.PathValue("image"), Version: r.PathValue("version"), Location: normalizeRegion(in.Location)}
	if !galleryVersionNameRE.MatchString(g.Version) {
		writeError(w, badRequest("InvalidParameter", "galleryImageVersionName", "%q is not a gallery image version name (MAJOR.MINOR.PATCH)", g.Version))
		return
	}
	if !orchestrator.KnownRegion(g.Location) {
		writeError(w, badRequest("InvalidParameter", "location", "region %q is not supported", in.Location))
		return
	}
	if in.Properties != nil && in.Properties.PublishingProfile != nil {
		pp := in.Properties.PublishingProfile
		for i, t := range pp.TargetRegions {
			reg := normalizeRegion(t.Name)
			if !orchestrator.KnownRegion(reg) {
				writeError(w, badRequest("InvalidParameter", fmt.Sprintf("properties.publishingProfile.targetRegions[%d].name", i), "region %q is not supported", t.Name))
				return
			}
			if t.RegionalReplicaCount != nil && (*t.RegionalReplicaCount < 1 || *t.RegionalReplicaCount > 100) {
				writeError(w, badRequest("InvalidParameter", fmt.Sprintf("properties.publishingProfile.targetRegions[%d].regionalReplicaCount", i), "is %d, want 1 to 100", *t.RegionalReplicaCount))
				return
			}
			if !slices.Contains(g.TargetRegions, reg) {
				g.TargetRegions = append(g.TargetRegions, reg)
			}
		}
		g.ExcludeFromLatest = pp.ExcludeFromLatest != nil && *pp.ExcludeFromLatest
	}
	if len(g.TargetRegions) == 0 {
		// Azure replicates to the source region when none are listed.
		g.TargetRegions = []string{g.Location}
	} else if !slices.Contains(g.TargetRegions, g.Location) {
		writeError(w, badRequest("InvalidParameter", "properties.publishingProfile.targetRegions", "the version's own region %s must be one of its target regions", g.Location))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	status := http.StatusCreated
	g.PublishedAt = nowUTC(h.s)
	if old := h.galleries[g.key()]; old != nil {
		if !strings.EqualFold(old.ResourceGroup, g.ResourceGroup) || !strings.EqualFold(old.Subscription, g.Subscription) {
			writeError(w, &apiError{Status: http.StatusConflict, Code: "Conflict", Message: fmt.Sprintf("gallery %s exists in resource group %s; the emulator keeps gallery names unique", g.Gallery, old.ResourceGroup)})
			return
		}
		g.PublishedAt, status = old.PublishedAt, http.StatusOK
	}
	b, _ := json.Marshal(g)
	if err := h.s.store.PutResource(ctx, kindGalleries, g.key(), b); err != nil {
		writeError(w, err)
		return
	}
	if err := h.s.o.Publish(g.imageVersion()); err != nil {
		writeError(w, err)
		return
	}
	h.galleries[g.key()] = g
	h.s.stepNow(ctx)
	op, err := h.newOperation(ctx, operation{Kind: "galleryVersion", Location: g.Location, Status: statusSucceeded})
	if err != nil {
		writeError(w, err)
		return
	}
	h.setAsyncHeaders(w, r, op, false)
	writeJSON(w, status, renderGalleryVersion(g))
}

func renderGalleryVersion(g *galleryVersion) map[string]any {
	var targets []map[string]any
	var summary []map[string]any
	for _, reg := range g.TargetRegions {
		targets = append(targets, map[string]any{"name": reg, "regionalReplicaCount": 1})
		summary = append(summary, map[string]any{"region": reg, "state": "Completed", "progress": 100})
	}
	return map[string]any{
		"id":       fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/galleries/%s/images/%s/versions/%s", g.Subscription, g.ResourceGroup, g.Gallery, g.Image, g.Version),
		"name":     g.Version,
		"type":     "Microsoft.Compute/galleries/images/versions",
		"location": g.Location,
		"properties": map[string]any{
			"provisioningState": "Succeeded",
			"publishingProfile": map[string]any{"targetRegions": targets, "excludeFromLatest": g.ExcludeFromLatest, "publishedDate": g.PublishedAt},
			"replicationStatus": map[string]any{"aggregatedState": "Completed", "summary": summary},
		},
	}
}

func (h *handler) getGalleryVersion(w http.ResponseWriter, r *http.Request) {
	var g *galleryVersion
	h.readLocked(func() { g = h.galleries[r.PathValue("gallery")+"/"+r.PathValue("image")+"/"+r.PathValue("version")] })
	if g == nil || !strings.EqualFold(g.ResourceGroup, r.PathValue("rg")) {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "ResourceNotFound", Message: fmt.Sprintf("gallery image version %s/%s/%s not found", r.PathValue("gallery"), r.PathValue("image"), r.PathValue("version"))})
		return
	}
	writeJSON(w, http.StatusOK, renderGalleryVersion(g))
}

func (h *handler) listGalleryVersions(w http.ResponseWriter, r *http.Request) {
	prefix := r.PathValue("gallery") + "/" + r.PathValue("image") + "/"
	out := []map[string]any{}
	h.readLocked(func() {
		var keys []string
		for k, g := range h.galleries {
			if strings.HasPrefix(k, prefix) && strings.EqualFold(g.ResourceGroup, r.PathValue("rg")) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = append(out, renderGalleryVersion(h.galleries[k]))
		}
	})
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

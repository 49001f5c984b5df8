package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/osupgrade/osupgrade/orchestrator"
)

// The platform image hierarchy above the versions (publishers, offers,
// skus: what `az vm image list --all` walks) and the gallery image
// definitions, both from the catalog: a publisher, offer or sku exists
// while the catalog holds a version of it.

const imageLocationPath = "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}"

// platformRefs are the catalog's platform images, split into publisher,
// offer and sku.
func (h *handler) platformRefs() [][3]string {
	var out [][3]string
	h.s.o.CatalogView(func(c *orchestrator.Catalog) {
		for _, r := range c.Refs() {
			if strings.HasPrefix(r, "gallery:") {
				continue
			}
			if p := strings.Split(r, ":"); len(p) == 3 {
				out = append(out, [3]string{p[0], p[1], p[2]})
			}
		}
	})
	return out
}

// imageLocation is the path's region, or "" after a 404.
func imageLocation(w http.ResponseWriter, r *http.Request) string {
	loc := normalizeRegion(r.PathValue("loc"))
	if !orchestrator.KnownRegion(loc) {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "NoRegisteredProviderFound", Target: "location",
			Message: fmt.Sprintf("location %s is not supported; the supported locations are '%s'", quoteName(r.PathValue("loc")), strings.Join(orchestrator.Regions(), ","))})
		return ""
	}
	return loc
}

// imageNames lists, sorted case-insensitively and once each, part i of the
// platform images whose earlier parts equal (case-insensitively) prefix.
func (h *handler) imageNames(prefix []string) []string {
	var out []string
	for _, ref := range h.platformRefs() {
		match := true
		for i, p := range prefix {
			match = match && strings.EqualFold(ref[i], p)
		}
		if match && !slices.Contains(out, ref[len(prefix)]) {
			out = append(out, ref[len(prefix)])
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}

// writeImageNames answers a level of the hierarchy: 404 when the level
// above does not exist.
func (h *handler) writeImageNames(w http.ResponseWriter, r *http.Request, prefix []string, what string) {
	sub := r.PathValue("sub")
	loc := imageLocation(w, r)
	if loc == "" {
		return
	}
	names := h.imageNames(prefix)
	if len(prefix) > 0 && len(names) == 0 {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("Artifact: VMImage was not found: no %s under %s in %s", what, strings.Join(prefix, ":"), loc)})
		return
	}
	base := fmt.Sprintf("/Subscriptions/%s/Providers/Microsoft.Compute/Locations/%s", sub, loc)
	levels := []string{"Publishers", "ArtifactTypes/VMImage/Offers", "Skus"}
	for i, p := range prefix {
		base += "/" + levels[i] + "/" + p
	}
	base += "/" + levels[len(prefix)]
	out := []map[string]any{}
	for _, n := range names {
		e := map[string]any{"id": base + "/" + n, "name": n, "location": loc}
		if len(prefix) == 2 {
			// Every SKU in the catalog is one automatic OS upgrades support
			// (R-REQ-6: the catalog's table).
			e["properties"] = map[string]any{"automaticOSUpgradeProperties": map[string]bool{"automaticOSUpgradeSupported": true}}
		}
		out = append(out, e)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) listPublishers(w http.ResponseWriter, r *http.Request) {
	h.writeImageNames(w, r, nil, "publishers")
}

func (h *handler) listOffers(w http.ResponseWriter, r *http.Request) {
	h.writeImageNames(w, r, []string{r.PathValue("pub")}, "offers")
}

func (h *handler) listSKUs(w http.ResponseWriter, r *http.Request) {
	h.writeImageNames(w, r, []string{r.PathValue("pub"), r.PathValue("offer")}, "skus")
}

// ---- gallery image definitions ----

// galleryImagesLocked groups the gallery versions of sub/rg by gallery and
// image; the caller holds h.mu.
func (h *handler) galleryImagesLocked(sub, rg string) map[string]map[string][]*galleryVersion {
	out := map[string]map[string][]*galleryVersion{}
	for _, g := range h.galleries {
		if !strings.EqualFold(g.Subscription, sub) || !strings.EqualFold(g.ResourceGroup, rg) {
			continue
		}
		if out[g.Gallery] == nil {
			out[g.Gallery] = map[string][]*galleryVersion{}
		}
		out[g.Gallery][g.Image] = append(out[g.Gallery][g.Image], g)
	}
	return out
}

func renderGallery(sub, rg, gallery string, images map[string][]*galleryVersion) map[string]any {
	loc := ""
	for _, vs := range images {
		loc = vs[0].Location
		break
	}
	return map[string]any{
		"id":   fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/galleries/%s", sub, rg, gallery),
		"name": gallery, "type": "Microsoft.Compute/galleries", "location": loc,
		"properties": map[string]any{"provisioningState": "Succeeded", "identifier": map[string]string{"uniqueName": sub + "-" + strings.ToUpper(gallery)}},
	}
}

// renderGalleryImage is an image definition as the catalog knows it: its
// versions say where it lives; OS state and type are what the emulator's
// gallery images are (generalized Linux unless a version says otherwise).
func renderGalleryImage(sub, rg, gallery, image string, vs []*galleryVersion) map[string]any {
	return map[string]any{
		"id":   fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/galleries/%s/images/%s", sub, rg, gallery, image),
		"name": image, "type": "Microsoft.Compute/galleries/images", "location": vs[0].Location,
		"properties": map[string]any{
			"provisioningState": "Succeeded", "osType": "Linux", "osState": "Generalized", "hyperVGeneration": "V1",
			"identifier": map[string]string{"publisher": gallery, "offer": image, "sku": image},
		},
	}
}

func notFoundGallery(what string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: "ResourceNotFound", Message: fmt.Sprintf("The Resource 'Microsoft.Compute/galleries/%s' was not found: it has no image versions.", what)}
}

func (h *handler) listGalleries(w http.ResponseWriter, r *http.Request) {
	sub, rg := r.PathValue("sub"), r.PathValue("rg")
	var gs map[string]map[string][]*galleryVersion
	h.readLocked(func() { gs = h.galleryImagesLocked(sub, rg) })
	names := make([]string, 0, len(gs))
	for n := range gs {
		names = append(names, n)
	}
	slices.Sort(names)
	out := []map[string]any{}
	for _, n := range names {
		out = append(out, renderGallery(sub, rg, n, gs[n]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

// galleryOf answers 404 and ok false for a gallery that holds no image.
func (h *handler) galleryOf(w http.ResponseWriter, r *http.Request) (sub, rg, gal string, images map[string][]*galleryVersion, ok bool) {
	sub, rg, gal = r.PathValue("sub"), r.PathValue("rg"), r.PathValue("gallery")
	h.readLocked(func() { images = h.galleryImagesLocked(sub, rg)[gal] })
	if images == nil {
		writeError(w, notFoundGallery(gal))
		return "", "", "", nil, false
	}
	return sub, rg, gal, images, true
}

func (h *handler) getGallery(w http.ResponseWriter, r *http.Request) {
	sub, rg, gal, images, ok := h.galleryOf(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, renderGallery(sub, rg, gal, images))
}

func (h *handler) listGalleryImages(w http.ResponseWriter, r *http.Request) {
	sub, rg, gal, images, ok := h.galleryOf(w, r)
	if !ok {
		return
	}
	names := make([]string, 0, len(images))
	for n := range images {
		names = append(names, n)
	}
	slices.Sort(names)
	out := []map[string]any{}
	for _, n := range names {
		out = append(out, renderGalleryImage(sub, rg, gal, n, images[n]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}

func (h *handler) getGalleryImage(w http.ResponseWriter, r *http.Request) {
	sub, rg, gal, img := r.PathValue("sub"), r.PathValue("rg"), r.PathValue("gallery"), r.PathValue("image")
	var vs []*galleryVersion
	h.readLocked(func() { vs = h.galleryImagesLocked(sub, rg)[gal][img] })
	if vs == nil {
		writeError(w, notFoundGallery(gal+"/images/"+img))
		return
	}
	writeJSON(w, http.StatusOK, renderGalleryImage(sub, rg, gal, img, vs))
}

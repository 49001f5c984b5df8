package orchestrator

import (
	"fmt"
	"slices"
	"time"
)

// ImageVersion is one published version of an image.
type ImageVersion struct {
	Ref         string    `json:"ref"` // publisher:offer:sku or gallery:NAME/IMAGE
	Version     string    `json:"version"`
	PublishedAt time.Time `json:"publishedAt"`
	// Regions a gallery version is replicated to; platform versions reach
	// every region (through the phases of R-AVAIL-2) and leave it empty.
	Regions           []string `json:"regions,omitempty"`
	ExcludeFromLatest bool     `json:"excludeFromLatest,omitempty"`
}

// IsGallery reports a compute-gallery version.
func (v ImageVersion) IsGallery() bool { return len(v.Ref) > 8 && v.Ref[:8] == "gallery:" }

// availableIn is R-TRIG-1: a platform version is published everywhere; a
// gallery version must be replicated to the region and not excluded from
// latest.
func (v ImageVersion) availableIn(region string) bool {
	if !v.IsGallery() {
		return true
	}
	return !v.ExcludeFromLatest && slices.Contains(v.Regions, region)
}

// Catalog holds the published image versions.
type Catalog struct {
	versions map[string][]ImageVersion // by Ref, ascending version
}

// NewCatalog is an empty catalog.
func NewCatalog() *Catalog { return &Catalog{versions: map[string][]ImageVersion{}} }

// Publish adds or replaces a version (a gallery version's replication and
// excludeFromLatest can change).
func (c *Catalog) Publish(v ImageVersion) error {
	if v.Ref == "" || v.Version == "" {
		return fmt.Errorf("publish: image reference and version are required")
	}
	if v.Version == "latest" {
		return fmt.Errorf("publish %s: \"latest\" is not a version", v.Ref)
	}
	vs := c.versions[v.Ref]
	i, found := slices.BinarySearchFunc(vs, v.Version, func(e ImageVersion, t string) int { return compareVersions(e.Version, t) })
	if found {
		vs[i] = v
	} else {
		vs = slices.Insert(vs, i, v)
	}
	c.versions[v.Ref] = vs
	return nil
}

// All lists every version of every image, for persistence.
func (c *Catalog) All() []ImageVersion {
	var out []ImageVersion
	for _, r := range c.Refs() {
		out = append(out, c.versions[r]...)
	}
	return out
}

// Versions lists the versions of ref, oldest first (R-HIST-2).
func (c *Catalog) Versions(ref string) []ImageVersion { return slices.Clone(c.versions[ref]) }

// Refs lists every image with versions.
func (c *Catalog) Refs() []string {
	var out []string
	for r := range c.versions {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Latest is the newest version of ref published by now and available in
// region (R-TRIG-1).
func (c *Catalog) Latest(ref, region string, now time.Time) (ImageVersion, bool) {
	vs := c.versions[ref]
	for i := len(vs) - 1; i >= 0; i-- {
		if !vs[i].PublishedAt.After(now) && vs[i].availableIn(region) {
			return vs[i], true
		}
	}
	return ImageVersion{}, false
}

// NextPublication is the first publication after now, if any.
func (c *Catalog) NextPublication(now time.Time) (time.Time, bool) {
	var t time.Time
	for _, vs := range c.versions {
		for _, v := range vs {
			if v.PublishedAt.After(now) && (t.IsZero() || v.PublishedAt.Before(t)) {
				t = v.PublishedAt
			}
		}
	}
	return t, !t.IsZero()
}

// Find returns one version.
func (c *Catalog) Find(ref, version string) (ImageVersion, bool) {
	for _, v := range c.versions[ref] {
		if v.Version == version {
			return v, true
		}
	}
	return ImageVersion{}, false
}

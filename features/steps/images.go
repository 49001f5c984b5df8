package steps

import (
	"fmt"
	"strings"
	"time"

	"github.com/osupgrade/osupgrade/harness/scenario"
)

// Steps about image versions: publication, gallery replication, bad images,
// and the version list (R-HIST-2).
func (s *state) imageSteps(sc stepper) {
	sc.Step(`^a new image version(?: "([^"]+)")? is published(?: at (\S+))?$`, s.aNewVersionIsPublished)
	sc.Step(`^gallery version "([^"]+)" is replicated only to (.+) at (\S+)$`, s.galleryReplicatedOnly)
	sc.Step(`^gallery version "([^"]+)" is published excluded from latest at (\S+)$`, s.galleryExcluded)
	sc.Step(`^the new version (never becomes healthy|crashes on boot|fails its extensions)$`, s.theNewVersionIsBad)
	sc.Step(`^the image's version list is (.+)$`, s.theVersionListIs)
}

// imageRef is the set's image without its version: publisher:offer:sku or
// gallery:NAME/IMAGE.
func imageRef(set *scenario.ScaleSet) string {
	if strings.HasPrefix(set.Image, "gallery:") {
		ref, _, _ := strings.Cut(strings.TrimPrefix(set.Image, "gallery:"), ":")
		return "gallery:" + ref
	}
	i := strings.LastIndex(set.Image, ":")
	return set.Image[:i]
}

func isGallery(set *scenario.ScaleSet) bool { return strings.HasPrefix(set.Image, "gallery:") }

func (s *state) publish(img scenario.Image, version string, at time.Duration) {
	s.file.Images = append(s.file.Images, img)
	if _, seen := s.published[version]; !seen || at < s.published[version] {
		s.published[version] = at
	}
}

// aNewVersionIsPublished publishes a version of the current set's image, by
// default the next one after the running version, 4 hours in.
func (s *state) aNewVersionIsPublished(version, at string) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	if version == "" {
		version = defaultNew
		if isGallery(set) {
			version = galleryNew
		}
	}
	when := defaultPublish
	if at != "" {
		if when, err = duration(at); err != nil {
			return err
		}
	}
	s.publish(scenario.Image{Image: imageRef(set) + ":" + version, PublishAt: scenario.Duration{Duration: when}}, version, when)
	s.newVersion = version
	return nil
}

func (s *state) galleryReplicatedOnly(version, regions, at string) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	if !isGallery(set) {
		return fmt.Errorf("scale set %s uses platform image %s: only gallery versions are replicated per region", set.Name, set.Image)
	}
	when, err := duration(at)
	if err != nil {
		return err
	}
	s.publish(scenario.Image{Image: imageRef(set) + ":" + version, PublishAt: scenario.Duration{Duration: when}, Regions: names(regions)}, version, when)
	return nil
}

func (s *state) galleryExcluded(version, at string) error {
	set, err := s.set()
	if err != nil {
		return err
	}
	when, err := duration(at)
	if err != nil {
		return err
	}
	s.publish(scenario.Image{Image: imageRef(set) + ":" + version, PublishAt: scenario.Duration{Duration: when}, ExcludeFromLatest: true}, version, when)
	return nil
}

var badKinds = map[string]string{
	"never becomes healthy": "never-healthy",
	"crashes on boot":       "crash",
	"fails its extensions":  "extension-failure",
}

func (s *state) theNewVersionIsBad(how string) error {
	for i := len(s.file.Images) - 1; i >= 0; i-- {
		if strings.HasSuffix(s.file.Images[i].Image, ":"+s.newVersion) && s.newVersion != "" {
			s.file.Images[i].Bad = badKinds[how]
			return nil
		}
	}
	return fmt.Errorf("no new image version was published before this step")
}

// theVersionListIs is R-HIST-2: the versions the catalog lists for the
// image in the set's region, oldest first.
func (s *state) theVersionListIs(list string) error {
	if s.world == nil {
		return fmt.Errorf("nothing ran yet: add `When the scenario runs`")
	}
	set := &s.file.ScaleSets[0]
	var got []string
	for _, v := range s.world.Orch.Catalog().Versions(imageRef(set)) {
		got = append(got, v.Version)
	}
	want := names(list)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Errorf("the version list of %s is [%s], want [%s]", imageRef(set), strings.Join(got, ", "), strings.Join(want, ", "))
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

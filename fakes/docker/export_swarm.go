package docker

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/osupgrade/osupgrade/fakes/agent"
	"github.com/osupgrade/osupgrade/fakes/fault"
	"github.com/osupgrade/osupgrade/orchestrator/plan"
)

// What the Swarm fleet (fakes/swarm) shares with this one: the OS images,
// the push-health collector and its timing, the clean-up by label. Thin
// exported doors onto the same code, so both fleets build identical images
// and judge agents by the same bounds.

// Collector is the push-health collector of a run (collector.go).
type Collector struct{ c *collector }

// NewCollector makes the collector of a run, its tokens derived from the
// run id (a fleet object made again for the run accepts them).
func NewCollector(runID string) *Collector { return &Collector{newCollector(runID, time.Now)} }

// Token is the instance's report token.
func (c *Collector) Token(set string, id int) string { return c.c.token(set, id) }

// Expect starts a boot: only reports of boot are taken from now on.
func (c *Collector) Expect(set string, id int, boot string) { c.c.expect(set, id, boot) }

// ForgetSet drops what was heard of a set ("" : every set).
func (c *Collector) ForgetSet(set string) { c.c.forgetSet(set) }

// Latest is the instance's last report of its current boot and when (wall
// time) it came; expected is false when nothing is known of the instance.
func (c *Collector) Latest(set string, id int) (st agent.Status, at time.Time, ok, expected bool) {
	return c.c.latest(set, id)
}

// Fresh says whether a report taken at at is recent enough, for a set of n
// instances at time scale scale, to stand for the agent's state now.
func (c *Collector) Fresh(at time.Time, n int, scale float64) bool {
	return c.c.now().Sub(at) <= staleAfter(heartbeat(n, scale))
}

// ServeHTTP takes one report (POST ReportPath).
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.c.ServeHTTP(w, r) }

// NewBoot names a start of an instance's container.
func NewBoot() string { return newBoot() }

// Heartbeat is the wall time between an agent's reports in a set of n
// instances at time scale scale.
func Heartbeat(n int, scale float64) time.Duration { return heartbeat(n, scale) }

// StorageKey is the storage account key of a run.
func StorageKey(runID string) string { return storageKey(runID) }

// OSImages builds the build contexts and tags of OS images exactly as the
// Docker fleet does: FROM scratch, the static agent binary, the version.
type OSImages struct{ f *Fleet }

// LoadOSImages finds the agent binary (Options.AgentBinary's rules).
func LoadOSImages(ctx context.Context, agentBinary string, progress io.Writer) (*OSImages, error) {
	bin, err := loadAgent(ctx, agentBinary, progress)
	if err != nil {
		return nil, err
	}
	return &OSImages{&Fleet{agent: bin}}, nil
}

// Tag names the OS image of a version (bad: how it misbehaves).
func (o *OSImages) Tag(img plan.Image, bad fault.BadKind) string { return o.f.imageTag(img, bad) }

// Context is the image's build context (a tar: Dockerfile and files).
func (o *OSImages) Context(img plan.Image, bad fault.BadKind) (io.Reader, error) {
	return o.f.imageContext(img, bad)
}

// Labels are the image's labels.
func (o *OSImages) Labels(img plan.Image, bad fault.BadKind) map[string]string {
	l := map[string]string{LabelOwner: Owner, LabelImageRef: img.Ref, LabelVersion: img.Version, LabelAgent: o.f.agent.hash[:16], LabelReports: ReportsPush}
	if bad != fault.BadKindNone {
		l[LabelBad] = string(bad)
	}
	return l
}

// RemoveLabelled removes, on one engine, the containers, volumes, networks
// and (images) OS images the label filter selects that carry the owner
// label: `osupgrade clean` on each node of a swarm.
func RemoveLabelled(ctx context.Context, cli *client.Client, sel filters.Args, images bool, progress io.Writer) error {
	return removeLabelled(ctx, cli, sel, images, progress)
}

package docker

// SetOlderAgents makes the fleet build and start its OS images as an
// osupgrade before push health did (no LabelReports, no Report in the
// agents' configs), or as this one does again: the version skew tests.
func SetOlderAgents(f *Fleet, older bool) { f.olderAgents = older }

// PolledAgents is how many agents Observe keeps status connections to:
// those it asks over HTTP.
func PolledAgents(f *Fleet) int {
	f.conns.mu.Lock()
	defer f.conns.mu.Unlock()
	return len(f.conns.pools)
}

// SetPolling switches how Observe learns the agents' state, as
// Options.PollAgents does at New; it also decides whether the configs of
// later starts tell agents to report. Call it while nothing observes.
func SetPolling(f *Fleet, poll bool) { f.poll = poll }

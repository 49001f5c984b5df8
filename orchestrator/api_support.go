package orchestrator

// Support for the ARM API (orchestrator/api): read access to state that is
// otherwise only touched under the orchestrator's lock.

// CatalogView calls f with the image catalog under the orchestrator's lock,
// so that HTTP handlers can read it while Publish runs; f must not keep it
// or publish through it.
func (o *Orchestrator) CatalogView(f func(*Catalog)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f(o.catalog)
}

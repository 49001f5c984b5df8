package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Template deployments (Microsoft.Resources/deployments), as far as `az
// vmss create` needs them: an inline template in Incremental mode whose
// resources are Microsoft.Network resources (stored as they are) and
// scale sets (created or updated as a PUT would), deployed in the order
// their dependsOn gives. The deployment ends before the PUT is answered,
// so it is 201/200 with provisioningState Succeeded; a resource that
// fails fails the deployment (400 DeploymentFailed naming it, the
// deployment stored as Failed), the resources before it staying deployed
// as in ARM's incremental mode.

const kindDeployments = "deployments"

type armDeploymentIn struct {
	Properties *struct {
		Template     map[string]any  `json:"template"`
		TemplateLink json.RawMessage `json:"templateLink"`
		Parameters   map[string]any  `json:"parameters"`
		Mode         string          `json:"mode"`
	} `json:"properties"`
}

type templateResource struct {
	Type       string         `json:"type"`
	Name       string         `json:"name"`
	APIVersion string         `json:"apiVersion"`
	Location   any            `json:"location"`
	DependsOn  []string       `json:"dependsOn"`
	Raw        map[string]any `json:"-"`
}

func invalidTemplate(format string, args ...any) *apiError {
	return badRequest("InvalidTemplate", "properties.template", "Deployment template validation failed: "+format, args...)
}

// deploymentPlan reads and orders a template's resources; nothing is
// deployed yet.
func deploymentPlan(sc *templateScope, tmpl map[string]any, given map[string]any) ([]templateResource, error) {
	// Parameters: given values, else defaults.
	defs, _ := tmpl["parameters"].(map[string]any)
	for name, d := range defs {
		var v any
		found := false
		for k, g := range given {
			if strings.EqualFold(k, name) {
				gm, _ := g.(map[string]any)
				v, found = gm["value"], gm != nil
			}
		}
		if !found {
			dm, _ := d.(map[string]any)
			if dv, ok := dm["defaultValue"]; ok {
				ev, err := sc.evalValue(dv)
				if err != nil {
					return nil, invalidTemplate("parameter %s: %v", name, err)
				}
				v, found = ev, true
			}
		}
		if !found {
			return nil, invalidTemplate("the value for the template parameter '%s' is not provided", name)
		}
		sc.params[name] = v
	}
	for name := range given {
		if _, ok := defs[name]; !ok {
			return nil, invalidTemplate("the template parameter '%s' is not defined in the template", name)
		}
	}
	vars, _ := tmpl["variables"].(map[string]any)
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v, err := sc.evalValue(vars[k])
		if err != nil {
			return nil, invalidTemplate("variable %s: %v", k, err)
		}
		sc.vars[k] = v
	}
	rawList, ok := tmpl["resources"].([]any)
	if !ok {
		return nil, invalidTemplate("the template has no resources array")
	}
	var rs []templateResource
	for i, raw := range rawList {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, invalidTemplate("resources[%d] is not an object", i)
		}
		ev, err := sc.evalValue(m)
		if err != nil {
			return nil, invalidTemplate("resources[%d]: %v", i, err)
		}
		em := ev.(map[string]any)
		b, _ := json.Marshal(em)
		var r templateResource
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, invalidTemplate("resources[%d]: %v", i, err)
		}
		r.Raw = em
		ns, typ, _ := strings.Cut(r.Type, "/")
		switch {
		case r.Name == "":
			return nil, invalidTemplate("resources[%d] has no name", i)
		case strings.EqualFold(ns, "Microsoft.Network") && networkTypes[strings.ToLower(typ)] != "":
		case strings.EqualFold(r.Type, "Microsoft.Compute/virtualMachineScaleSets"):
		default:
			return nil, invalidTemplate("resources[%d]: the resource type %s is not supported by this emulator (it deploys Microsoft.Compute/virtualMachineScaleSets and Microsoft.Network/%s)", i, quoteName(r.Type), strings.Join(sortedValues(networkTypes), ", "))
		}
		rs = append(rs, r)
	}
	return orderByDependsOn(rs)
}

// orderByDependsOn is the resources in an order where each comes after
// what it depends on, else in the template's order; a dependency on a
// resource the template does not have, or a cycle, is InvalidTemplate.
func orderByDependsOn(rs []templateResource) ([]templateResource, error) {
	find := func(dep string) int {
		for i, r := range rs {
			full := r.Type + "/" + r.Name
			if strings.EqualFold(dep, full) || strings.EqualFold(dep, r.Name) || strings.HasSuffix(strings.ToLower(dep), "/providers/"+strings.ToLower(full)) {
				return i
			}
		}
		return -1
	}
	deps := make([][]int, len(rs))
	for i, r := range rs {
		for _, d := range r.DependsOn {
			j := find(d)
			if j < 0 {
				return nil, invalidTemplate("resource %s/%s depends on %s, which is not in the template", rs[i].Type, rs[i].Name, quoteName(d))
			}
			deps[i] = append(deps[i], j)
		}
	}
	var out []templateResource
	done := make([]bool, len(rs))
	for len(out) < len(rs) {
		progress := false
		for i := range rs {
			if done[i] || slices.ContainsFunc(deps[i], func(j int) bool { return !done[j] }) {
				continue
			}
			done[i], progress = true, true
			out = append(out, rs[i])
		}
		if !progress {
			return nil, invalidTemplate("the template's dependsOn has a cycle")
		}
	}
	return out, nil
}

type deploymentDoc struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Properties map[string]any `json:"properties"`
}

func (h *handler) putDeployment(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sub, rg, name := r.PathValue("sub"), r.PathValue("rg"), r.PathValue("dname")
	var in armDeploymentIn
	if err := decodeBody(r.Body, &in); err != nil {
		writeError(w, err)
		return
	}
	p := in.Properties
	switch {
	case p == nil:
		writeError(w, badRequest("InvalidRequestContent", "properties", "properties is required"))
		return
	case len(p.TemplateLink) > 0 && string(p.TemplateLink) != "null":
		writeError(w, badRequest("InvalidTemplate", "properties.templateLink", "templateLink is not supported by this emulator: send the template inline"))
		return
	case p.Template == nil:
		writeError(w, badRequest("InvalidRequestContent", "properties.template", "properties.template is required"))
		return
	case p.Mode != "" && !strings.EqualFold(p.Mode, "Incremental"):
		writeError(w, badRequest("InvalidDeploymentMode", "properties.mode", "mode %s is not supported by this emulator: only Incremental", quoteName(p.Mode)))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groupLocked(sub, rg)
	if g == nil {
		writeError(w, notFoundGroup(rg))
		return
	}
	sc := &templateScope{sub: sub, rg: rg, location: g.Location, params: map[string]any{}, vars: map[string]any{}}
	plan, err := deploymentPlan(sc, p.Template, p.Parameters)
	if err != nil {
		writeError(w, err)
		return
	}
	key := strings.ToLower(sub + "/" + rg + "/" + name)
	_, existed, err := h.s.store.Resource(ctx, kindDeployments, key)
	if err != nil {
		writeError(w, err)
		return
	}
	start := nowUTC(h.s)
	doc := deploymentDoc{
		ID:   fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Resources/deployments/%s", sub, rg, name),
		Name: name, Type: "Microsoft.Resources/deployments",
		Properties: map[string]any{"mode": "Incremental", "timestamp": start, "duration": "PT0S", "correlationId": newID()},
	}
	var outputs []map[string]string
	deployed := map[string]any{} // id (lower case) -> properties, for reference()
	var failure *apiError
	for _, res := range plan {
		id, props, err := h.deployResourceLocked(ctx, sub, rg, res)
		if err != nil {
			ae := toAPIError(err)
			failure = &apiError{Status: http.StatusBadRequest, Code: "DeploymentFailed", Target: res.Type + "/" + res.Name,
				Message: fmt.Sprintf("At least one resource deployment operation failed: %s/%s: %s: %s", res.Type, res.Name, ae.Code, ae.Message)}
			break
		}
		outputs = append(outputs, map[string]string{"id": id})
		deployed[strings.ToLower(id)] = props
	}
	doc.Properties["outputResources"] = outputs
	if failure == nil {
		sc.reference = func(id string) (any, error) {
			if p, ok := deployed[strings.ToLower(id)]; ok {
				return p, nil
			}
			return nil, fmt.Errorf("reference(%s): not deployed by this template", id)
		}
		outs := map[string]any{}
		defs, _ := p.Template["outputs"].(map[string]any)
		for k, d := range defs {
			dm, _ := d.(map[string]any)
			v, err := sc.evalValue(dm["value"])
			if err != nil {
				failure = badRequest("DeploymentOutputEvaluationFailed", "properties.template.outputs."+k, "output %s: %v", k, err)
				break
			}
			outs[k] = map[string]any{"type": dm["type"], "value": v}
		}
		doc.Properties["outputs"] = outs
	}
	doc.Properties["provisioningState"] = "Succeeded"
	if failure != nil {
		doc.Properties["provisioningState"] = "Failed"
		doc.Properties["error"] = errorDetail{Code: failure.Code, Message: failure.Message, Target: failure.Target}
		delete(doc.Properties, "outputs")
	}
	b, err := json.Marshal(doc)
	if err == nil {
		err = h.s.store.PutResource(ctx, kindDeployments, key, b)
	}
	switch {
	case err != nil:
		writeError(w, err)
	case failure != nil:
		writeError(w, failure)
	case existed:
		writeJSON(w, http.StatusOK, doc)
	default:
		writeJSON(w, http.StatusCreated, doc)
	}
}

// deployResourceLocked deploys one resource of a template (the caller
// holds h.mu for writing) and returns its id and properties as GET gives
// them.
func (h *handler) deployResourceLocked(ctx context.Context, sub, rg string, res templateResource) (string, any, error) {
	ns, typ, _ := strings.Cut(res.Type, "/")
	if strings.EqualFold(ns, "Microsoft.Network") {
		typ = networkTypes[strings.ToLower(typ)]
		if res.APIVersion != "" && !slices.Contains(apiVersions["Microsoft.Network"], res.APIVersion) && res.APIVersion != "2015-06-15" {
			return "", nil, badRequest("NoRegisteredProviderFound", "apiVersion", "no api-version %s for Microsoft.Network/%s", quoteName(res.APIVersion), typ)
		}
		out, _, err := h.putNetworkLocked(ctx, sub, rg, typ, res.Name, res.Raw)
		if err != nil {
			return "", nil, err
		}
		return networkID(sub, rg, typ, res.Name), out["properties"], nil
	}
	if !slices.Contains(apiVersions["Microsoft.Compute"], res.APIVersion) {
		return "", nil, badRequest("NoRegisteredProviderFound", "apiVersion", "no api-version %s for Microsoft.Compute/virtualMachineScaleSets; supported: %s", quoteName(res.APIVersion), strings.Join(apiVersions["Microsoft.Compute"], ","))
	}
	if !pathNameRules[vmssNameRule].re.MatchString(res.Name) {
		return "", nil, badRequest("InvalidResourceName", "name", pathNameRules[vmssNameRule].rule, quoteName(res.Name))
	}
	body := map[string]any{}
	for _, k := range []string{"location", "tags", "sku", "zones", "properties", "identity", "plan"} {
		if v, ok := res.Raw[k]; ok && v != nil {
			body[k] = v
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", nil, err
	}
	var doc armVMSS
	if aerr := decodeJSON(b, &doc); aerr != nil {
		return "", nil, aerr
	}
	m, model, _, _, err := h.applyLocked(ctx, sub, rg, res.Name, res.APIVersion, true, &doc)
	if err != nil {
		return "", nil, err
	}
	rendered := h.render(m, model)
	return m.resourceID(), rendered.Properties, nil
}

func (h *handler) getDeployment(w http.ResponseWriter, r *http.Request) {
	key := strings.ToLower(r.PathValue("sub") + "/" + r.PathValue("rg") + "/" + r.PathValue("dname"))
	doc, ok, err := h.s.store.Resource(r.Context(), kindDeployments, key)
	switch {
	case err != nil:
		writeError(w, err)
	case !ok:
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "DeploymentNotFound", Message: fmt.Sprintf("Deployment '%s' could not be found.", r.PathValue("dname"))})
	default:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(doc)
	}
}

// deleteGroupResourcesLocked removes a deleted group's network resources
// and deployments.
func (h *handler) deleteGroupResourcesLocked(ctx context.Context, sub, rg string) error {
	prefix := strings.ToLower(sub + "/" + rg + "/")
	return errors.Join(h.s.store.DeletePrefix(ctx, kindNetwork, prefix), h.s.store.DeletePrefix(ctx, kindDeployments, prefix))
}

// vmssNameRule is the index of the scale set name's rule in pathNameRules.
var vmssNameRule = func() int {
	for i, r := range pathNameRules {
		if r.wildcard == "name" {
			return i
		}
	}
	panic("api: no scale set name rule")
}()

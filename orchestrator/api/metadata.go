package api

import (
	"net/http"
	"strings"
)

// Versions of ARM's cloud metadata (GET /metadata/endpoints): the first
// ones answer one cloud's object (`az cloud register` asks 2015-01-01),
// the later ones a list of clouds.
var (
	metadataObjectVersions = []string{"2015-01-01", "2018-01-01"}
	metadataListVersions   = []string{"2019-05-01", "2020-06-01", "2022-09-01"}
)

// graphAudience is Azure AD Graph's resource id, which az requires of a
// cloud (its `az ad` commands); this emulator serves no Graph API.
const graphAudience = "https://graph.windows.net/"

// metadataEndpoints is ARM's cloud metadata, unauthenticated as in ARM:
// the login endpoint is this server's ADFS-style authority and the
// audiences are those its tokens are issued for, so that
// `az cloud register --endpoint-resource-manager URL` needs nothing else.
func (id *identity) metadataEndpoints(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowed",
			Message: "The requested resource does not support http method '" + quoteLimit(r.Method) + "'."})
		return
	}
	base := baseURL(r)
	auth := map[string]any{
		"loginEndpoint": base + "/" + adfsTenant,
		"audiences":     armAudiences,
	}
	v := r.URL.Query().Get("api-version")
	switch {
	case v == "":
		writeError(w, badRequest("MissingApiVersionParameter", "api-version", "The api-version query parameter (?api-version=) is required for all requests."))
	case containsFold(metadataObjectVersions, v):
		writeJSON(w, http.StatusOK, map[string]any{
			"graphEndpoint":  graphAudience,
			"graphAudience":  graphAudience,
			"authentication": auth,
		})
	case containsFold(metadataListVersions, v):
		auth["tenant"] = adfsTenant
		auth["identityProvider"] = "ADFS"
		writeJSON(w, http.StatusOK, []map[string]any{{
			"name":            "osupgrade",
			"resourceManager": base + "/",
			"authentication":  auth,
			"graph":           graphAudience,
			"graphAudience":   graphAudience,
			"suffixes":        map[string]any{},
		}})
	default:
		writeError(w, badRequest("InvalidApiVersionParameter", "api-version",
			"The api-version '%s' is invalid. The supported versions are '%s'.", quoteLimit(v),
			strings.Join(append(append([]string{}, metadataObjectVersions...), metadataListVersions...), ",")))
	}
}

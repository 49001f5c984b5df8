package api

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// The api-versions the server answers, per family of resource types, as
// ARM checks them: a version outside the list is ARM's 400
// InvalidApiVersionParameter naming the supported ones. The server answers
// every listed version with the same shape (the fields it models exist in
// all of them); what differs by version is checked where the rule lives
// (R-REQ-3, R-REQ-4).
//
// Among them, the versions the clients this server is tested with send:
//   - azure-cli 2.45 (Debian bookworm), `--profile 2020-09-01-hybrid`:
//     compute 2020-06-01, galleries 2019-12-01, resources 2019-10-01,
//     subscriptions 2016-06-01, network 2018-11-01; its `latest` profile:
//     compute 2022-11-01, gallery versions 2022-03-03, galleries 2021-10-01,
//     resources 2021-04-01, subscriptions 2019-11-01, network 2022-01-01;
//     `az cloud register`: metadata 2015-01-01 (not ARM, not checked here).
//   - current azure-cli: compute 2024-11-01 (2025-04-01 once it follows
//     azure-mgmt-compute 37), gallery versions 2024-03-03, galleries
//     2021-10-01, resources 2024-11-01, subscriptions 2022-12-01.
//   - Azure SDK for Go armcompute v6.4.0: compute 2024-11-01, galleries
//     2024-03-03.
//   - Debian's python3-azure (azure-mgmt-compute 29, azure-mgmt-resource
//     21): compute 2022-08-01, galleries 2022-03-03, resources 2022-09-01,
//     subscriptions 2021-01-01.
var apiVersions = map[string][]string{
	// Microsoft.Compute's published versions for virtualMachineScaleSets,
	// virtualMachines, locations/publishers (images) and operations.
	"Microsoft.Compute": {
		"2015-06-15", "2016-03-30", "2016-04-30-preview", "2017-03-30", "2017-12-01", "2018-04-01",
		"2018-06-01", "2018-10-01", "2019-03-01", "2019-07-01", "2019-12-01", "2020-06-01",
		"2020-12-01", "2021-03-01", "2021-04-01", "2021-07-01", "2021-11-01", "2022-03-01",
		"2022-08-01", "2022-11-01", "2023-03-01", "2023-07-01", "2023-09-01", "2024-03-01",
		"2024-07-01", "2024-11-01", "2025-04-01",
	},
	// Microsoft.Compute/galleries and their images and versions.
	"Microsoft.Compute/galleries": {
		"2018-06-01", "2019-03-01", "2019-07-01", "2019-12-01", "2020-09-30", "2021-07-01",
		"2021-10-01", "2022-01-03", "2022-03-03", "2022-08-03", "2023-07-03", "2024-03-03",
	},
	// Microsoft.Resources: subscriptions, tenants, locations, resource
	// groups, providers and deployments.
	"Microsoft.Resources": {
		"2015-01-01", "2016-02-01", "2016-06-01", "2016-09-01", "2017-05-10", "2018-02-01",
		"2018-05-01", "2019-05-01", "2019-05-10", "2019-06-01", "2019-07-01", "2019-08-01",
		"2019-10-01", "2019-11-01", "2020-01-01", "2020-06-01", "2020-10-01", "2021-01-01",
		"2021-04-01", "2022-09-01", "2022-12-01", "2023-07-01", "2024-03-01", "2024-07-01",
		"2024-11-01", "2025-03-01",
	},
	// Microsoft.Network, for the resources `az vmss create` reads.
	"Microsoft.Network": {
		"2017-10-01", "2018-01-01", "2018-11-01", "2019-02-01", "2020-05-01", "2021-08-01",
		"2022-01-01", "2022-05-01", "2022-07-01", "2023-04-01", "2023-09-01", "2024-01-01", "2024-03-01", "2024-05-01",
		"2024-07-01",
	},
}

var apiVersionFormatRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(-preview)?$`)

// apiVersionFamily is the family of resource types a (canonical) ARM path
// addresses: the namespace after its last providers/ segment, when a
// resource type follows it; Microsoft.Resources otherwise (subscriptions,
// groups, and the providers' own registration).
func apiVersionFamily(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	family := "Microsoft.Resources"
	for i := 0; i+2 < len(segs); i += 2 {
		if segs[i] != "providers" {
			continue
		}
		ns := segs[i+1]
		if segs[i+2] == "register" {
			family = "Microsoft.Resources"
			continue
		}
		family = ns
		if ns == "Microsoft.Compute" && segs[i+2] == "galleries" {
			family = "Microsoft.Compute/galleries"
		}
	}
	if _, ok := apiVersions[family]; !ok {
		// A namespace the server does not model: the resources' list is
		// as good as any, and the route answers 404.
		family = "Microsoft.Resources"
	}
	return family
}

// checkAPIVersion is ARM's api-version check for an ARM path: required,
// and one of the versions its family implements.
func checkAPIVersion(r *http.Request) *apiError {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return badRequest("MissingApiVersionParameter", "api-version", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	family := apiVersionFamily(r.URL.Path)
	supported := apiVersions[family]
	if !apiVersionFormatRE.MatchString(v) {
		return badRequest("InvalidApiVersionParameter", "api-version", "The api-version %s is invalid; the format is YYYY-MM-DD or YYYY-MM-DD-preview. The supported versions for %s are '%s'.", quoteName(v), family, strings.Join(supported, ","))
	}
	if !slices.Contains(supported, v) {
		return badRequest("InvalidApiVersionParameter", "api-version", "The api-version '%s' is invalid. The supported versions for %s are '%s'.", v, family, strings.Join(supported, ","))
	}
	return nil
}

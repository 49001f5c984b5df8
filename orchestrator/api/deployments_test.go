package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestTemplateExpressions(t *testing.T) {
	sc := &templateScope{sub: testSub, rg: "rg1", location: "eastus",
		params: map[string]any{"adminPassword": "pw", "n": 3}, vars: map[string]any{"prefix": "web"}}
	for _, tc := range []struct {
		in   any
		want any
		err  string
	}{
		{"plain", "plain", ""},
		{"[[not an expression]", "[not an expression]", ""},
		{"[parameters('adminPassword')]", "pw", ""},
		{"[parameters('ADMINPASSWORD')]", "pw", ""},
		{"[concat(variables('prefix'), '-', parameters('n'))]", "web-3", ""},
		{"[concat(resourceId('Microsoft.Network/loadBalancers', 'webLB'), '/frontendIPConfigurations/', 'loadBalancerFrontEnd')]",
			"/subscriptions/" + testSub + "/resourceGroups/rg1/providers/Microsoft.Network/loadBalancers/webLB/frontendIPConfigurations/loadBalancerFrontEnd", ""},
		{"[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet', 'sub')]", "/subscriptions/" + testSub + "/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/vnet/subnets/sub", ""},
		{"[resourceId('other', 'Microsoft.Network/virtualNetworks', 'vnet')]", "/subscriptions/" + testSub + "/resourceGroups/other/providers/Microsoft.Network/virtualNetworks/vnet", ""},
		{"[resourceGroup().location]", "eastus", ""},
		{"[subscription().subscriptionId]", testSub, ""},
		{"[providers('Microsoft.Compute', 'virtualMachineScaleSets').apiVersions[0]]", "2025-04-01", ""},
		{"['it''s']", "it's", ""},
		{map[string]any{"a": []any{"[parameters('n')]"}}, map[string]any{"a": []any{3}}, ""},
		{"[parameters('missing')]", nil, "not defined"},
		{"[uniqueString('x')]", nil, "uniqueString() is not supported"},
		{"[reference('x')]", nil, "only supported in outputs"},
		{"[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet')]", nil, "needs 2 names"},
		{"[concat('a']", nil, "want"},
		{"[providers('Microsoft.Compute', 'x').apiVersions[9]]", nil, "no such resource type"},
		{"[resourceGroup().nothing]", nil, "no property"},
	} {
		got, err := sc.evalValue(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: %v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
}

func TestOrderByDependsOn(t *testing.T) {
	res := func(typ, name string, deps ...string) templateResource {
		return templateResource{Type: typ, Name: name, DependsOn: deps}
	}
	for _, tc := range []struct {
		name string
		in   []templateResource
		want string
		err  string
	}{
		{"az vmss create's order", []templateResource{
			res("Microsoft.Compute/virtualMachineScaleSets", "web", "Microsoft.Network/virtualNetworks/webVNET", "Microsoft.Network/loadBalancers/webLB"),
			res("Microsoft.Network/virtualNetworks", "webVNET"),
			res("Microsoft.Network/publicIPAddresses", "webLBPublicIP"),
			res("Microsoft.Network/loadBalancers", "webLB", "Microsoft.Network/virtualNetworks/webVNET", "Microsoft.Network/publicIpAddresses/webLBPublicIP"),
		}, "webVNET webLBPublicIP webLB web", ""},
		{"by resource id and by name", []templateResource{
			res("Microsoft.Network/loadBalancers", "lb", "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/publicIPAddresses/ip"),
			res("Microsoft.Network/publicIPAddresses", "ip", "vnet"),
			res("Microsoft.Network/virtualNetworks", "vnet"),
		}, "vnet ip lb", ""},
		{"unknown dependency", []templateResource{res("Microsoft.Network/loadBalancers", "lb", "Microsoft.Network/virtualNetworks/none")}, "", "not in the template"},
		{"cycle", []templateResource{res("Microsoft.Network/loadBalancers", "a", "b"), res("Microsoft.Network/loadBalancers", "b", "a")}, "", "cycle"},
	} {
		got, err := orderByDependsOn(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.err)
			}
			continue
		}
		var names []string
		for _, r := range got {
			names = append(names, r.Name)
		}
		if err != nil || strings.Join(names, " ") != tc.want {
			t.Errorf("%s: %v %v, want %s", tc.name, names, err, tc.want)
		}
	}
}

// vmssCreateDeployment is the deployment `az vmss create -g rg1 -n web
// --image Canonical:UbuntuServer:18.04-LTS:latest --instance-count 2
// --admin-username azureuser --admin-password ...` sends (azure-cli 2.45,
// --profile 2020-09-01-hybrid), as measured against serve; edit changes
// the template before it is sent.
func vmssCreateDeployment(t *testing.T, edit func(tmpl map[string]any)) string {
	t.Helper()
	sub := "/subscriptions/" + testSub + "/resourceGroups/rg1/providers/Microsoft.Network"
	tmpl := map[string]any{
		"$schema": "https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
		"parameters": map[string]any{"adminPassword": map[string]any{"type": "securestring"}},
		"variables":  map[string]any{},
		"resources": []any{
			map[string]any{"name": "webVNET", "type": "Microsoft.Network/virtualNetworks", "location": "eastus", "apiVersion": "2015-06-15", "dependsOn": []any{}, "tags": map[string]any{},
				"properties": map[string]any{"addressSpace": map[string]any{"addressPrefixes": []any{"10.0.0.0/16"}}, "subnets": []any{map[string]any{"name": "webSubnet", "properties": map[string]any{"addressPrefix": "10.0.0.0/24"}}}}},
			map[string]any{"apiVersion": "2018-11-01", "type": "Microsoft.Network/publicIPAddresses", "name": "webLBPublicIP", "location": "eastus", "tags": map[string]any{}, "dependsOn": []any{},
				"properties": map[string]any{"publicIPAllocationMethod": "Dynamic"}},
			map[string]any{"type": "Microsoft.Network/loadBalancers", "name": "webLB", "location": "eastus", "tags": map[string]any{}, "apiVersion": "2018-11-01",
				"dependsOn": []any{"Microsoft.Network/virtualNetworks/webVNET", "Microsoft.Network/publicIpAddresses/webLBPublicIP"},
				"properties": map[string]any{
					"backendAddressPools":      []any{map[string]any{"name": "webLBBEPool"}},
					"frontendIPConfigurations": []any{map[string]any{"name": "loadBalancerFrontEnd", "properties": map[string]any{"publicIPAddress": map[string]any{"id": sub + "/publicIPAddresses/webLBPublicIP"}}}},
					"inboundNatPools": []any{map[string]any{"name": "webLBNatPool", "properties": map[string]any{
						"frontendIPConfiguration": map[string]any{"id": "[concat(resourceId('Microsoft.Network/loadBalancers', 'webLB'), '/frontendIPConfigurations/', 'loadBalancerFrontEnd')]"},
						"protocol":                "tcp", "frontendPortRangeStart": "50000", "frontendPortRangeEnd": "50119", "backendPort": 22}}},
				}},
			map[string]any{"type": "Microsoft.Compute/virtualMachineScaleSets", "name": "web", "location": "eastus", "tags": map[string]any{}, "apiVersion": "2020-06-01",
				"dependsOn": []any{"Microsoft.Network/virtualNetworks/webVNET", "Microsoft.Network/loadBalancers/webLB"},
				"sku":       map[string]any{"name": "Standard_DS1_v2", "capacity": 2},
				"properties": map[string]any{
					"overprovision": true, "upgradePolicy": map[string]any{"mode": "Automatic"}, "singlePlacementGroup": nil, "orchestrationMode": "Uniform",
					"virtualMachineProfile": map[string]any{
						"storageProfile": map[string]any{
							"osDisk":         map[string]any{"createOption": "FromImage", "caching": "ReadWrite", "managedDisk": map[string]any{"storageAccountType": nil}},
							"imageReference": map[string]any{"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"}},
						"osProfile": map[string]any{"computerNamePrefix": "web6ea276", "adminUsername": "azureuser", "adminPassword": "[parameters('adminPassword')]"},
						"networkProfile": map[string]any{"networkInterfaceConfigurations": []any{map[string]any{"name": "web6ea276Nic", "properties": map[string]any{
							"primary": "true",
							"ipConfigurations": []any{map[string]any{"name": "web6ea276IPConfig", "properties": map[string]any{
								"subnet":                          map[string]any{"id": sub + "/virtualNetworks/webVNET/subnets/webSubnet"},
								"loadBalancerBackendAddressPools": []any{map[string]any{"id": sub + "/loadBalancers/webLB/backendAddressPools/webLBBEPool"}},
								"loadBalancerInboundNatPools":     []any{map[string]any{"id": sub + "/loadBalancers/webLB/inboundNatPools/webLBNatPool"}},
							}}}}}}},
					},
				}},
		},
		"outputs": map[string]any{"VMSS": map[string]any{"type": "object",
			"value": "[reference(resourceId('Microsoft.Compute/virtualMachineScaleSets', 'web'),providers('Microsoft.Compute', 'virtualMachineScaleSets').apiVersions[0])]"}},
	}
	if edit != nil {
		edit(tmpl)
	}
	b, err := json.Marshal(map[string]any{"properties": map[string]any{"template": tmpl, "parameters": map[string]any{"adminPassword": map[string]any{"value": "S3cret!pass1234"}}, "mode": "incremental"}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func templateResources(tmpl map[string]any) []any { return tmpl["resources"].([]any) }

// TestDeploymentOfAzVMSSCreate: az vmss create's deployment creates its
// network resources and the scale set; bad templates are refused before
// anything is deployed; a resource that fails fails the deployment.
func TestDeploymentOfAzVMSSCreate(t *testing.T) {
	e := newEnv(t, t.TempDir())
	h := e.srv.Handler()
	const rg = subPath + "/resourcegroups/rg1"
	const deploy = rg + "/providers/Microsoft.Resources/deployments/"
	const net = rg + "/providers/Microsoft.Network/"
	const vmss = rg + "/providers/Microsoft.Compute/virtualMachineScaleSets/"
	for _, tc := range []struct {
		name   string
		call   armCall
		status int
		want   string
	}{
		{"no group", armCall{"PUT", deploy + "d0" + rsrcV, vmssCreateDeployment(t, nil), "application/json"}, 404, "ResourceGroupNotFound"},
		{"group", armCall{"PUT", rg + rsrcV, `{"location":"eastus"}`, ""}, 201, "rg1"},
		{"az's virtual network list, empty", armCall{"GET", net + "virtualNetworks?api-version=2022-07-01", "", ""}, 200, `"value":[]`},
		{"unknown function", armCall{"PUT", deploy + "d1" + rsrcV, vmssCreateDeployment(t, func(m map[string]any) {
			templateResources(m)[0].(map[string]any)["location"] = "[uniqueString(resourceGroup().id)]"
		}), ""}, 400, "InvalidTemplate"},
		{"unsupported resource type", armCall{"PUT", deploy + "d1" + rsrcV, vmssCreateDeployment(t, func(m map[string]any) {
			templateResources(m)[1].(map[string]any)["type"] = "Microsoft.Storage/storageAccounts"
		}), ""}, 400, "InvalidTemplate"},
		{"missing parameter", armCall{"PUT", deploy + "d1" + rsrcV, vmssCreateDeployment(t, func(m map[string]any) {
			m["parameters"].(map[string]any)["other"] = map[string]any{"type": "string"}
		}), ""}, 400, "InvalidTemplate"},
		{"template link", armCall{"PUT", deploy + "d1" + rsrcV, `{"properties":{"templateLink":{"uri":"https://example/t.json"},"mode":"Incremental"}}`, ""}, 400, "InvalidTemplate"},
		{"complete mode", armCall{"PUT", deploy + "d1" + rsrcV, `{"properties":{"template":{"resources":[]},"mode":"Complete"}}`, ""}, 400, "InvalidDeploymentMode"},
		{"no properties", armCall{"PUT", deploy + "d1" + rsrcV, `{}`, ""}, 400, "InvalidRequestContent"},
		{"bad deployment name", armCall{"PUT", deploy + "d%20x" + rsrcV, `{}`, ""}, 400, "InvalidDeploymentName"},
		{"nothing deployed by the refusals", armCall{"GET", net + "virtualNetworks" + rsrcV[:0] + "?api-version=2018-11-01", "", ""}, 200, `"value":[]`},
		{"az vmss create", armCall{"PUT", deploy + "vmss_deploy_1" + rsrcV, vmssCreateDeployment(t, nil), "application/json"}, 201, `"provisioningState":"Succeeded"`},
		{"outputs: the scale set", armCall{"GET", deploy + "vmss_deploy_1" + rsrcV, "", ""}, 200, `"computerNamePrefix":"web6ea276"`},
		{"the scale set", armCall{"GET", vmss + "web" + computeV, "", ""}, 200, `"capacity":2`},
		{"its instances", armCall{"GET", vmss + "web/virtualMachines" + computeV, "", ""}, 200, `"instanceId":"1"`},
		{"the load balancer, expression evaluated", armCall{"GET", net + "loadBalancers/webLB?api-version=2018-11-01", "", ""}, 200, `/loadBalancers/webLB/frontendIPConfigurations/loadBalancerFrontEnd"`},
		{"the virtual networks", armCall{"GET", net + "virtualNetworks?api-version=2022-07-01", "", ""}, 200, `"name":"webVNET"`},
		{"redeployed", armCall{"PUT", deploy + "vmss_deploy_1" + rsrcV, vmssCreateDeployment(t, nil), ""}, 200, `"provisioningState":"Succeeded"`},
		{"a scale set that fails", armCall{"PUT", deploy + "d2" + rsrcV, vmssCreateDeployment(t, func(m map[string]any) {
			r := templateResources(m)
			r[0].(map[string]any)["name"] = "otherVNET"
			r[2].(map[string]any)["dependsOn"] = []any{"Microsoft.Network/virtualNetworks/otherVNET"}
			r[3].(map[string]any)["name"] = "web2"
			r[3].(map[string]any)["dependsOn"] = []any{"Microsoft.Network/loadBalancers/webLB"}
			r[3].(map[string]any)["sku"] = map[string]any{"capacity": -1}
		}), ""}, 400, "DeploymentFailed"},
		{"the failed deployment", armCall{"GET", deploy + "d2" + rsrcV, "", ""}, 200, `"provisioningState":"Failed"`},
		{"what it deployed before stays", armCall{"GET", net + "virtualNetworks/otherVNET?api-version=2018-11-01", "", ""}, 200, `"provisioningState":"Succeeded"`},
		{"no deployment", armCall{"GET", deploy + "none" + rsrcV, "", ""}, 404, "DeploymentNotFound"},
		{"network, unknown type", armCall{"GET", net + "dnsZones?api-version=2018-11-01", "", ""}, 400, "InvalidResourceType"},
		{"network, bad name", armCall{"PUT", net + "virtualNetworks/-x?api-version=2018-11-01", `{"location":"eastus"}`, ""}, 400, "InvalidResourceName"},
		{"network, no location", armCall{"PUT", net + "virtualNetworks/v?api-version=2018-11-01", `{}`, ""}, 400, "LocationRequired"},
		{"network, unknown api-version", armCall{"PUT", net + "virtualNetworks/v?api-version=2020-06-01", `{"location":"eastus"}`, ""}, 400, "InvalidApiVersionParameter"},
		{"network, no group", armCall{"PUT", subPath + "/resourcegroups/none/providers/Microsoft.Network/virtualNetworks/v?api-version=2018-11-01", `{"location":"eastus"}`, ""}, 404, "ResourceGroupNotFound"},
		{"network put", armCall{"PUT", net + "networkSecurityGroups/nsg?api-version=2018-11-01", `{"location":"eastus","properties":{"securityRules":[]}}`, ""}, 201, `"type":"Microsoft.Network/networkSecurityGroups"`},
		{"network delete", armCall{"DELETE", net + "networkSecurityGroups/nsg?api-version=2018-11-01", "", ""}, 200, ""},
		{"network delete again", armCall{"DELETE", net + "networkSecurityGroups/nsg?api-version=2018-11-01", "", ""}, 204, ""},
		{"network patch", armCall{"PATCH", net + "networkSecurityGroups/nsg?api-version=2018-11-01", "{}", ""}, 405, "MethodNotAllowed"},
		{"group delete takes it all", armCall{"DELETE", rg + rsrcV, "", ""}, 202, ""},
		{"no scale set", armCall{"GET", vmss + "web" + computeV, "", ""}, 404, "ResourceNotFound"},
		{"no deployment left", armCall{"GET", deploy + "vmss_deploy_1" + rsrcV, "", ""}, 404, "DeploymentNotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.call.do(h)
			checkARM(t, rec, tc.status, tc.want)
			if strings.Contains(rec.Body.String(), "S3cret") {
				t.Fatalf("the admin password is in the answer: %s", rec.Body.String())
			}
		})
	}
	// The group's network resources went with it.
	checkARM(t, armCall{"PUT", rg + rsrcV, `{"location":"eastus"}`, ""}.do(h), 201, "rg1")
	checkARM(t, armCall{"GET", net + "virtualNetworks?api-version=2022-07-01", "", ""}.do(h), 200, `"value":[]`)
	if rec := (armCall{"GET", deploy + "d2" + rsrcV, "", ""}).do(h); rec.Code != 404 {
		t.Fatalf("failed deployment after the group's deletion: %d", rec.Code)
	}
}

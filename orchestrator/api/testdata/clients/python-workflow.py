#!/usr/bin/python3
"""Debian's python3-azure (azure-identity + azure-mgmt-compute) against
`osupgrade serve --fleet sim --clock virtual`: the automatic OS image upgrade
workflow. Driven by TestClientPython (clients_test.go); the README's Python
quickstart is copied from here.

Needs OSUPGRADE_URL (https://127.0.0.1:PORT), OSUPGRADE_DATA (serve's --data)
and REQUESTS_CA_BUNDLE=$OSUPGRADE_DATA/tls.crt (requests and MSAL trust it).
"""
import sys
import time

import requests
from azure.core.exceptions import ClientAuthenticationError

# --- quickstart: Python ---
import os

from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.resource import ResourceManagementClient

url = os.environ["OSUPGRADE_URL"]  # https://127.0.0.1:8443
data = os.environ["OSUPGRADE_DATA"]  # serve's --data directory
read = lambda name: open(os.path.join(data, name)).read().strip()

# Tenant "adfs": the authority is https://HOST/adfs, which MSAL uses without
# asking a public host for instance discovery.
credential = ClientSecretCredential(
    tenant_id="adfs", client_id=read("client-id"), client_secret=read("client-secret"), authority=url)
scope = "https://management.core.windows.net//.default"
sub = "00000000-0000-0000-0000-000000000000"
resources = ResourceManagementClient(credential, sub, base_url=url, credential_scopes=[scope])
compute = ComputeManagementClient(credential, sub, base_url=url, credential_scopes=[scope])

resources.resource_groups.create_or_update("rg", {"location": "eastus"})
compute.virtual_machine_scale_sets.begin_create_or_update("rg", "web", {
    "location": "eastus",
    "sku": {"name": "Standard_B1s", "capacity": 4},
    "upgrade_policy": {"mode": "Automatic"},
    "virtual_machine_profile": {
        "os_profile": {"computer_name_prefix": "web", "admin_username": "azure", "admin_password": "S3cret!pass"},
        "storage_profile": {"image_reference": {
            "publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS", "version": "latest"}},
        "extension_profile": {"extensions": [{
            "name": "health", "publisher": "Microsoft.ManagedServices", "type_properties_type": "ApplicationHealthLinux",
            "type_handler_version": "1.0", "settings": {"protocol": "http", "port": 80, "requestPath": "/health"}}]},
    },
}).result()

# Turn automatic OS image upgrades on.
compute.virtual_machine_scale_sets.begin_update("rg", "web", {
    "upgrade_policy": {"automatic_os_upgrade_policy": {"enable_automatic_os_upgrade": True}}}).result()
# The image versions the platform offers.
for image in compute.virtual_machine_images.list("eastus", "Canonical", "UbuntuServer", "18.04-LTS"):
    print("image version", image.name)
# --- end quickstart ---


def fail(msg):
    print("python-workflow:", msg, file=sys.stderr)
    sys.exit(1)


def want(got, expected, what):
    if got != expected:
        fail(f"{what}: got {got!r}, want {expected!r}")


def emulator(path, body):
    """An emulator endpoint (outside ARM) with the same access token."""
    token = credential.get_token(scope).token
    r = requests.post(url + path, json=body, headers={"Authorization": "Bearer " + token})
    r.raise_for_status()


def wait(poller, what):
    """The clock is virtual: move it until the operation ends."""
    for _ in range(120):
        if poller.done():
            return poller.result()
        emulator("/osupgrade/clock", {"advance": "5m"})
        poller.wait(0.2)
    fail(f"{what} did not finish")


def latest_status():
    return compute.virtual_machine_scale_set_rolling_upgrades.get_latest("rg", "web").running_status.code


def instance_versions():
    return {vm.storage_profile.image_reference.exact_version
            for vm in compute.virtual_machine_scale_set_vms.list("rg", "web")}


# A wrong secret is Azure AD's invalid_client, which azure-identity reports.
try:
    ClientSecretCredential(tenant_id="adfs", client_id=read("client-id"), client_secret="wrong",
                           authority=url).get_token(scope)
    fail("a wrong secret got a token")
except ClientAuthenticationError as e:
    if "AADSTS7000215" not in str(e):
        fail(f"wrong secret: {e}")

want(compute.virtual_machine_scale_sets.get("rg", "web").upgrade_policy.automatic_os_upgrade_policy.enable_automatic_os_upgrade,
     True, "enableAutomaticOSUpgrade after update")

# A new version, rolled out now.
emulator("/osupgrade/images", {"image": "Canonical:UbuntuServer:18.04-LTS", "version": "18.04.202601010"})
wait(compute.virtual_machine_scale_set_rolling_upgrades.begin_start_os_upgrade("rg", "web"), "rolling upgrade")
want(latest_status(), "Completed", "latest rolling upgrade")
want(instance_versions(), {"18.04.202601010"}, "instance image versions")
versions = [i.name for i in compute.virtual_machine_images.list("eastus", "Canonical", "UbuntuServer", "18.04-LTS")]
if "18.04.202601010" not in versions:
    fail(f"image versions {versions} lack the published one")

# Another; start, then cancel midway.
emulator("/osupgrade/images", {"image": "Canonical:UbuntuServer:18.04-LTS", "version": "18.04.202602010"})
started = compute.virtual_machine_scale_set_rolling_upgrades.begin_start_os_upgrade("rg", "web")
want(latest_status(), "RollingForward", "latest rolling upgrade after start")
wait(compute.virtual_machine_scale_set_rolling_upgrades.begin_cancel("rg", "web"), "cancel")
want(latest_status(), "Cancelled", "latest rolling upgrade after cancel")

history = list(compute.virtual_machine_scale_sets.get_os_upgrade_history("rg", "web"))
if len(history) < 2:
    fail(f"OS upgrade history has {len(history)} entries, want at least 2")

# Every instance to the latest model.
compute.virtual_machine_scale_sets.begin_update("rg", "web", {
    "upgrade_policy": {"automatic_os_upgrade_policy": {"enable_automatic_os_upgrade": False}}}).result()
wait(compute.virtual_machine_scale_sets.begin_update_instances("rg", "web", {"instance_ids": ["*"]}), "update instances")
# Each instance got a new OS disk of the version it runs (after the cancel,
# some run the first version, some the second).
want({vm.latest_model_applied for vm in compute.virtual_machine_scale_set_vms.list("rg", "web")}, {True},
     "latestModelApplied after update_instances")
journal = requests.get(url + "/osupgrade/journal", headers={"Authorization": "Bearer " + credential.get_token(scope).token})
if "manual upgrade of 4 instances" not in journal.text:
    fail("the journal has no manual upgrade of the 4 instances")

wait(compute.virtual_machine_scale_sets.begin_delete("rg", "web"), "delete")
want(list(compute.virtual_machine_scale_sets.list("rg")), [], "scale sets after delete")
print("python-workflow: ok")

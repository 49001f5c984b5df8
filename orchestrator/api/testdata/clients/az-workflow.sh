#!/usr/bin/env bash
# Debian's azure-cli (2.45) against `osupgrade serve --fleet sim --clock
# virtual`: cloud register, service-principal login, then the commands of
# Azure's automatic OS image upgrade documentation. Driven by
# TestClientAzureCLI (clients_test.go); the README's az quickstart is copied
# from here.
#
# Needs: OSUPGRADE_URL (https://127.0.0.1:PORT), OSUPGRADE_DATA (serve's
# --data: tls.crt, client-id, client-secret, token) and a private
# AZURE_CONFIG_DIR; az and curl.
set -euo pipefail
: "${OSUPGRADE_URL:?}" "${OSUPGRADE_DATA:?}" "${AZURE_CONFIG_DIR:?}"
URL=$OSUPGRADE_URL
DATA=$OSUPGRADE_DATA
export AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_NO_COLOR=true AZURE_CORE_ONLY_SHOW_ERRORS=true

step() { echo "== az: $*"; }
fail() { echo "az-workflow: $*" >&2; exit 1; }
want() { [ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"; }

# The emulator's clock is virtual: a rollout moves only when the test moves
# the clock (POST /osupgrade/clock, an emulator endpoint outside ARM). curl
# with serve's static token: an az command takes seconds to start.
advance() {
  curl -fsS --cacert "$DATA/tls.crt" -H "Authorization: Bearer $(cat "$DATA/token")" \
    -H 'Content-Type: application/json' -d "{\"advance\":\"$1\"}" "$URL/osupgrade/clock" >/dev/null
}
# Moves the clock until the az command in the background ($1) ends; its
# exit status is returned.
advance_until_done() {
  local pid=$1 i
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    advance 10m
    sleep 2
  done
  wait "$pid"
}
# Waits until the latest rolling upgrade's field $1 (a JMESPath under
# runningStatus) is $2.
wait_latest() {
  local i got=""
  for i in $(seq 1 60); do
    got=$(az vmss rolling-upgrade get-latest -g rg -n web --query "runningStatus.$1" -o tsv 2>/dev/null || true)
    [ "$got" = "$2" ] && return 0
    sleep 1
  done
  fail "rolling upgrade $1: got '$got', want '$2'"
}

# --- quickstart: az ---
# Trust serve's certificate, register it as a cloud, sign in.
export REQUESTS_CA_BUNDLE=$DATA/tls.crt
step cloud register
az cloud register -n osupgrade --endpoint-resource-manager "$URL/" --profile 2020-09-01-hybrid
az cloud set -n osupgrade
step login
az login --service-principal -u "$(cat "$DATA/client-id")" -p "$(cat "$DATA/client-secret")" \
  --tenant 00000000-0000-0000-0000-0000000000aa -o none

# A resource group and a scale set of 4 Ubuntu instances, with the
# Application Health extension reporting their health.
step group, vmss create, extension set
az group create -n rg -l eastus -o none
az vmss create -g rg -n web --image Canonical:UbuntuServer:18.04-LTS:latest --instance-count 4 \
  --upgrade-policy-mode Automatic --admin-username azure --admin-password 'S3cret!pass12' \
  --authentication-type password -o none
az vmss extension set -g rg --vmss-name web --name ApplicationHealthLinux \
  --publisher Microsoft.ManagedServices --version 1.0 \
  --settings '{"protocol": "http", "port": 80, "requestPath": "/health"}' -o none

# Turn automatic OS image upgrades on (the documented command).
step vmss update
az vmss update -g rg -n web --set upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade=true -o none
# The image versions the platform offers.
step vm image list
az vm image list --publisher Canonical --offer UbuntuServer --sku 18.04-LTS --all -o table

# A new image version is published (an emulator endpoint); upgrade now.
step publish and rolling-upgrade start
az rest --method post --url "$URL/osupgrade/images" --resource https://management.core.windows.net/ \
  --body '{"image": "Canonical:UbuntuServer:18.04-LTS", "version": "18.04.202601010"}' -o none
az vmss rolling-upgrade start -g rg -n web -o none &
# --- end quickstart ---
wait_latest code RollingForward
advance_until_done $! || fail "rolling-upgrade start failed"
step rolling-upgrade get-latest
want "$(az vmss rolling-upgrade get-latest -g rg -n web --query runningStatus.code -o tsv)" Completed "latest rolling upgrade"
for v in $(az vmss list-instances -g rg -n web --query '[].storageProfile.imageReference.exactVersion' -o tsv); do
  want "$v" 18.04.202601010 "instance image version"
done
az vm image list --publisher Canonical --offer UbuntuServer --sku 18.04-LTS --all --query '[].version' -o tsv | grep -qx 18.04.202601010 ||
  fail "vm image list --all does not list the published version"

# Another version; start, then cancel midway.
step rolling-upgrade cancel
az rest --method post --url "$URL/osupgrade/images" --resource https://management.core.windows.net/ \
  --body '{"image": "Canonical:UbuntuServer:18.04-LTS", "version": "18.04.202602010"}' -o none
az vmss rolling-upgrade start -g rg -n web -o none &
started=$!
wait_latest code RollingForward
# The cancel waits for the batch in flight to end: once it is asked for
# (lastAction Cancel), the clock moves.
az vmss rolling-upgrade cancel -g rg -n web -o none &
cancelled=$!
wait_latest lastAction Cancel
advance_until_done $cancelled || fail "rolling-upgrade cancel failed"
want "$(az vmss rolling-upgrade get-latest -g rg -n web --query runningStatus.code -o tsv)" Cancelled "latest rolling upgrade after cancel"
wait "$started" || true # the start's operation ends as cancelled

step get-os-upgrade-history
az vmss get-os-upgrade-history -g rg -n web -o table
n=$(az vmss get-os-upgrade-history -g rg -n web --query 'length(@)' -o tsv)
[ "$n" -ge 2 ] || fail "get-os-upgrade-history: $n entries, want at least 2"

# Every instance to the latest model: a new OS disk of the version it runs
# (after the cancel, some run the first version, some the second).
step "update-instances --instance-ids '*'"
az vmss update -g rg -n web --set upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade=false -o none
az vmss update-instances -g rg -n web --instance-ids '*' -o none &
advance_until_done $! || fail "update-instances failed"
for v in $(az vmss list-instances -g rg -n web --query '[].latestModelApplied' -o tsv); do
  want "$v" true "latestModelApplied after update-instances"
done
az rest --method get --url "$URL/osupgrade/journal" --resource https://management.core.windows.net/ |
  grep -q "manual upgrade of 4 instances" || fail "the journal has no manual upgrade of the 4 instances"

step vmss delete
az vmss delete -g rg -n web
want "$(az vmss list -g rg --query 'length(@)' -o tsv)" 0 "scale sets after delete"
echo "az-workflow: ok"

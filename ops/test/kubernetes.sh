#!/usr/bin/env bash
# ops/test/kubernetes.sh: the Kubernetes manifests under ops/kubernetes/, proven without a
# cluster.
#
# - every overlay (and the base with each component) renders with `kubectl kustomize`;
# - the rendered objects validate against the Kubernetes OpenAPI schemas, offline and strict
#   (kubernetes-validate, which ships the schemas), for the oldest and the newest Kubernetes
#   version the manifests claim (KUBE_VERSIONS); custom resources (ServiceMonitor) have no
#   schema there and are checked by kubernetes_checks.py instead;
# - ops/test/kubernetes_checks.py: probes, grace period against the drain and shutdown
#   timeouts, Downward API address, Secrets, security context, resources, selectors of the
#   Service, PDB, HPA, Ingress and ServiceMonitor, RALLY_* variables documented in README.md;
# - the monitoring objects of docs/operations.md: the PrometheusRule made from
#   ops/prometheus/alerts.yml and the dashboards ConfigMap render and hold every alert group
#   and dashboard.
#
# What needs a cluster (scheduling, probes answering, a rolling update handing rooms over) is
# not proven here; docs/operations.md says how to check it on one.
#
# Needs: kubectl (with its built-in kustomize), kubernetes-validate (pip), python3-yaml.
set -uo pipefail
# shellcheck source=ops/test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KUBE_VERSIONS="${KUBE_VERSIONS:-1.29.0 1.37.0}"

need kubectl "kubectl (https://kubernetes.io/docs/tasks/tools/; Debian's kubernetes-client is too old)"
need kubernetes-validate "kubernetes-validate (pip install kubernetes-validate)"
need_py yaml python3-yaml
require_all

cd "$REPO_ROOT" || exit 1
make_tmp
K=ops/kubernetes

# render NAME KUSTOMIZATION_DIR: kubectl kustomize into $TMP/NAME.yaml.
render() {
    if out=$(kubectl kustomize "$2" 2>&1 >"$TMP/$1.yaml"); then
        ok "$1 renders ($(grep -c '^kind:' "$TMP/$1.yaml") objects)"
        return 0
    fi
    ko "$1 does not render:"
    echo "$out" | sed 's/^/      /'
    return 1
}

# validate NAME: strict schema validation of $TMP/NAME.yaml for each version.
validate() {
    local v out
    for v in $KUBE_VERSIONS; do
        if out=$(kubernetes-validate --strict --quiet -k "$v" "$TMP/$1.yaml" 2>&1); then
            ok "$1 validates against Kubernetes $v${out:+ ($(echo "$out" | grep -c WARN) without schema)}"
            echo "$out" | grep WARN | sed 's/^/      /'
        else
            ko "$1 does not validate against Kubernetes $v:"
            echo "$out" | sed 's/^/      /'
        fi
    done
}

for overlay in dev production; do
    section "overlay $overlay"
    if render "$overlay" "$K/overlays/$overlay"; then
        validate "$overlay"
        if out=$("$PY" "$OPS_TEST_DIR/kubernetes_checks.py" "$TMP/$overlay.yaml" README.md); then
            ok "$overlay: $(echo "$out" | grep -c '  ok') consistency checks"
        else
            ko "$overlay: consistency checks:"
            echo "$out" | grep FAIL
        fi
    fi
done

section "the checks catch broken manifests"
# A short grace period, a writable root filesystem and a pod-IP-less instance address must
# each be reported (the checks are not vacuous).
if [ -s "$TMP/dev.yaml" ]; then
    sed -e 's/terminationGracePeriodSeconds: 35/terminationGracePeriodSeconds: 5/' \
        -e 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' \
        -e 's/value: \$(POD_IP):8080/value: rally:8080/' "$TMP/dev.yaml" >"$TMP/broken.yaml"
    out=$("$PY" "$OPS_TEST_DIR/kubernetes_checks.py" "$TMP/broken.yaml" README.md)
    if [ "$(echo "$out" | grep -c -e 'FAIL  terminationGracePeriodSeconds' \
        -e 'FAIL  read-only root' -e 'FAIL  RALLY_INSTANCE_ADDR')" = 3 ]; then
        ok "a broken copy of dev fails the three checks it breaks"
    else
        ko "a broken copy of dev was not caught:"
        echo "$out" | sed 's/^/      /'
    fi
fi

section "components on the base"
for component in "$K"/components/*/; do
    name=$(basename "$component")
    mkdir -p "$TMP/with-$name"
    # kustomize takes relative paths only.
    rel=$(realpath --relative-to="$TMP/with-$name" "$REPO_ROOT/$K")
    cat >"$TMP/with-$name/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $rel/base
components:
  - $rel/components/$name
EOF
    render "with-$name" "$TMP/with-$name" && validate "with-$name"
done
if grep -q 'name: rally_rooms' "$TMP/with-scale-on-rooms.yaml" 2>/dev/null; then
    ok "scale-on-rooms adds the rally_rooms metric to the HPA"
else
    ko "scale-on-rooms does not add the rally_rooms metric"
fi

section "monitoring objects"
if bash "$K/prometheus-rule.sh" >"$TMP/rule.yaml" 2>"$TMP/rule.err" &&
    "$PY" - "$TMP/rule.yaml" ops/prometheus/alerts.yml <<'EOF'; then
import sys, yaml
rule = yaml.safe_load(open(sys.argv[1]))
alerts = yaml.safe_load(open(sys.argv[2]))
assert rule["kind"] == "PrometheusRule", rule["kind"]
assert rule["spec"]["groups"] == alerts["groups"], "groups differ from alerts.yml"
print(f"      {sum(len(g['rules']) for g in alerts['groups'])} rules")
EOF
    ok "prometheus-rule.sh wraps every group of ops/prometheus/alerts.yml in a PrometheusRule"
else
    ko "prometheus-rule.sh: $(cat "$TMP/rule.err")"
fi
if kubectl create configmap rally-dashboards --from-file=ops/grafana/dashboards \
    --dry-run=client -o yaml >"$TMP/dashboards.yaml" 2>"$TMP/dashboards.err" &&
    kubernetes-validate --strict --quiet "$TMP/dashboards.yaml" >/dev/null 2>&1; then
    n=$("$PY" -c 'import sys,yaml; print(len(yaml.safe_load(open(sys.argv[1]))["data"]))' "$TMP/dashboards.yaml")
    size=$(wc -c <"$TMP/dashboards.yaml")
    # A ConfigMap holds at most 1 MiB.
    if [ "$n" = "$(find ops/grafana/dashboards -name '*.json' | wc -l)" ] && [ "$size" -lt 1000000 ]; then
        ok "the dashboards ConfigMap holds all $n dashboards ($size bytes)"
    else
        ko "the dashboards ConfigMap: $n dashboards, $size bytes"
    fi
else
    ko "the dashboards ConfigMap: $(cat "$TMP/dashboards.err")"
fi

summary

#!/usr/bin/env bash
# Print ops/prometheus/alerts.yml as a PrometheusRule for the Prometheus Operator, so the
# cluster alerts on exactly what the compose stack does (the rules are unit-tested by
# ops/test/prometheus.sh). Usage, from anywhere:
#
#   ops/kubernetes/prometheus-rule.sh [RELEASE_LABEL] | kubectl apply -n rally -f -
#
# RELEASE_LABEL (default kube-prometheus-stack) is the `release` label your Prometheus
# selects rules by.
set -euo pipefail
rules="$(cd "$(dirname "${BASH_SOURCE[0]}")/../prometheus" && pwd)/alerts.yml"
cat <<HEAD
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: rally
  labels:
    release: ${1:-kube-prometheus-stack}
spec:
HEAD
# alerts.yml's top level is `groups:`; indented, it becomes spec.groups. Comment lines are
# dropped (an indented comment block is harmless, but the output is meant to be read).
grep -v '^[[:space:]]*#' "$rules" | sed 's/^/  /'

#!/usr/bin/env python3
"""Checks on rendered Kubernetes manifests (kubectl kustomize output) that schema validation
cannot make: the objects fit together and keep the promises docs/operations.md makes.

Usage: kubernetes_checks.py RENDERED.yaml README.md
Prints one line per check ("ok ..." or "FAIL ...") and exits 1 when any failed.
"""

import re
import sys

import yaml

results = []


def check(what, cond, detail=""):
    results.append((bool(cond), what + (f": {detail}" if detail and not cond else "")))


def seconds(text):
    """A humantime duration as rally reads it (the subset the manifests use)."""
    total = 0.0
    for n, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)", text):
        total += float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def main():
    rendered, readme = sys.argv[1], sys.argv[2]
    with open(rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)

    def one(kind, name):
        found = [d for d in by_kind.get(kind, []) if d["metadata"]["name"] == name]
        return found[0] if found else None

    dep = one("Deployment", "rally")
    check("a Deployment named rally", dep)
    if not dep:
        return
    spec = dep["spec"]
    pod = spec["template"]
    pod_labels = pod["metadata"]["labels"]
    pspec = pod["spec"]
    (c,) = [c for c in pspec["containers"] if c["name"] == "rally"]
    env = {e["name"]: e for e in c.get("env", [])}
    config = {}
    for src in c.get("envFrom", []):
        ref = src.get("configMapRef", {}).get("name")
        cm = one("ConfigMap", ref)
        check(f"envFrom ConfigMap {ref} exists", cm)
        if cm:
            config.update(cm.get("data", {}))

    def setting(name):
        if name in env:
            return env[name].get("value")
        return config.get(name)

    check("at least 2 replicas", spec.get("replicas", 1) >= 2, spec.get("replicas"))
    ru = spec.get("strategy", {}).get("rollingUpdate", {})
    check("rolling update never drops below the wanted replicas", ru.get("maxUnavailable") == 0, ru)
    check("selector matches the pod labels", selects(spec["selector"]["matchLabels"], pod_labels))

    def probe(kind):
        return c.get(kind, {}).get("httpGet", {})

    check("readiness probe is GET /readyz", probe("readinessProbe").get("path") == "/readyz")
    check("liveness probe is GET /healthz", probe("livenessProbe").get("path") == "/healthz")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    check("probes use the http port", probe("readinessProbe").get("port") == "http" and "http" in ports)
    bind = setting("RALLY_BIND") or ""
    check("RALLY_BIND listens on the http port on every interface",
          bind == f"0.0.0.0:{ports.get('http')}", bind)
    mbind = setting("RALLY_METRICS_BIND") or ""
    check("metrics on their own port", mbind == f"0.0.0.0:{ports.get('metrics')}", mbind)

    pre = c.get("lifecycle", {}).get("preStop", {})
    cmd = pre.get("exec", {}).get("command", [])
    pre_s = float(cmd[1]) if len(cmd) == 2 and cmd[0] == "sleep" else pre.get("sleep", {}).get("seconds", 0)
    check("a preStop pause lets endpoint removal spread", pre_s >= 1, pre)
    drain = seconds(setting("RALLY_DRAIN_TIMEOUT") or "5s")
    shutdown = seconds(setting("RALLY_SHUTDOWN_TIMEOUT") or "10s")
    grace = pspec.get("terminationGracePeriodSeconds", 30)
    check(
        "terminationGracePeriodSeconds covers preStop + RALLY_DRAIN_TIMEOUT + RALLY_SHUTDOWN_TIMEOUT",
        grace >= pre_s + drain + shutdown,
        f"{grace} < {pre_s} + {drain} + {shutdown}",
    )
    check("Redis configured (rooms hand over on SIGTERM only with Redis)", setting("RALLY_REDIS_URL"))

    pod_ip = env.get("POD_IP", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    names = [e["name"] for e in c.get("env", [])]
    check("POD_IP from the Downward API (status.podIP)", pod_ip == "status.podIP")
    check(
        "RALLY_INSTANCE_ADDR is the pod IP and the http port, defined after POD_IP",
        setting("RALLY_INSTANCE_ADDR") == f"$(POD_IP):{ports.get('http')}"
        and "POD_IP" in names
        and names.index("POD_IP") < names.index("RALLY_INSTANCE_ADDR"),
        setting("RALLY_INSTANCE_ADDR"),
    )
    db = env.get("RALLY_DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
    check("RALLY_DATABASE_URL from a Secret", db.get("name") and db.get("key"))
    key_file = setting("RALLY_ROOT_KEY_FILE") or ""
    secret_mounts = {
        m["mountPath"]: m["name"]
        for m in c.get("volumeMounts", [])
        for v in pspec.get("volumes", [])
        if v["name"] == m["name"] and "secret" in v
    }
    check(
        "RALLY_ROOT_KEY_FILE is a file of a mounted Secret",
        any(key_file.startswith(p.rstrip("/") + "/") for p in secret_mounts),
        key_file,
    )
    check("no credentials in plain env values",
          not any(re.search(r"://[^/@\s]*:[^/@\s]+@", str(e.get("value", ""))) for e in c.get("env", [])))

    psc = pspec.get("securityContext", {})
    csc = c.get("securityContext", {})
    check("runs as non-root", psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0)
    check("read-only root filesystem", csc.get("readOnlyRootFilesystem") is True)
    check("no privilege escalation", csc.get("allowPrivilegeEscalation") is False)
    check("all capabilities dropped", csc.get("capabilities", {}).get("drop") == ["ALL"])
    check("RuntimeDefault seccomp", psc.get("seccompProfile", {}).get("type") == "RuntimeDefault")
    res = c.get("resources", {})
    check(
        "CPU and memory requests and limits",
        all(res.get(k, {}).get(r) for k in ("requests", "limits") for r in ("cpu", "memory")),
        res,
    )
    image = c.get("image", "")
    check("image has a fixed tag", ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image)

    svc = one("Service", "rally")
    check("a Service named rally selecting the pods", svc and selects(svc["spec"]["selector"], pod_labels))
    svc_ports = {p["name"]: p for p in (svc or {}).get("spec", {}).get("ports", [])}
    check("Service ports http and metrics", {"http", "metrics"} <= set(svc_ports))

    pdb = one("PodDisruptionBudget", "rally")
    check("a PodDisruptionBudget selecting the pods", pdb and selects(pdb["spec"]["selector"]["matchLabels"], pod_labels))
    if pdb:
        check("the PDB allows one disruption at a time",
              pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable", 0) >= 1)

    hpa = one("HorizontalPodAutoscaler", "rally")
    check("an HPA on the Deployment", hpa and hpa["spec"]["scaleTargetRef"]["name"] == "rally")
    if hpa:
        check("HPA keeps at least 2 replicas", hpa["spec"].get("minReplicas", 1) >= 2)
        cpu = [m for m in hpa["spec"].get("metrics", []) if m.get("resource", {}).get("name") == "cpu"]
        check("HPA scales on CPU", cpu)

    ing = one("Ingress", "rally")
    check("an Ingress", ing)
    if ing:
        backends = [
            p["backend"]["service"]
            for r in ing["spec"]["rules"]
            for p in r.get("http", {}).get("paths", [])
        ]
        check("Ingress routes to the Service's http port",
              backends and all(b["name"] == "rally" and b["port"].get("name") == "http" for b in backends))
        ann = ing["metadata"].get("annotations", {})
        timeout = int(ann.get("nginx.ingress.kubernetes.io/proxy-read-timeout", "60"))
        check("Ingress keeps idle WebSockets for an hour", timeout >= 3600, timeout)

    annotated = pod["metadata"].get("annotations", {}).get("prometheus.io/scrape") == "true"
    monitors = [
        m for m in by_kind.get("ServiceMonitor", [])
        if svc and selects(m["spec"]["selector"]["matchLabels"], svc["metadata"].get("labels", {}))
        and any(e.get("port") == "metrics" for e in m["spec"].get("endpoints", []))
    ]
    check("Prometheus scrapes the metrics port (annotations or a ServiceMonitor)",
          (annotated and pod["metadata"]["annotations"].get("prometheus.io/port") == str(ports.get("metrics")))
          or monitors)
    check("not both annotations and a ServiceMonitor (double scraping)", not (annotated and monitors))

    with open(readme) as f:
        documented = set(re.findall(r"^\| `(RALLY_[A-Z_]+)` \|", f.read(), re.M))
    used = set(env) | set(config)
    missing = sorted(v for v in used if v.startswith("RALLY_") and v not in documented)
    check("every RALLY_* variable set is in the README's configuration table", not missing, missing)


if __name__ == "__main__":
    main()
    for good, what in results:
        print(("  ok    " if good else "  FAIL  ") + what)
    sys.exit(0 if all(g for g, _ in results) else 1)

#!/usr/bin/env python3
"""Structural checks of the ops files, for ops/test/lint.sh.

- Grafana dashboards: valid JSON, uid/title/panels, datasource uid "prometheus" everywhere,
  no ${DS_…} import variables, unique uids and panel ids, panels inside the 24-column grid;
  and the provisioning layout they are loaded with (datasource uid, provider path = compose
  mount, home dashboard).
- compose.yaml: only nginx publishes ports; nginx gets exactly the template's variables;
  secrets come from files under ops/secrets/ and no password is written inline; every rally
  instance is scraped by Prometheus; RALLY_TRUSTED_PROXIES covers nginx's address; mounted
  files exist.
- RALLY_* variables used by the Dockerfile and compose.yaml are documented (README.md's
  configuration table, or src/cli.rs `env = "RALLY_…"` attributes when the README has none).
- Dockerfile shape: cargo-chef layers, slim non-root runtime, HEALTHCHECK, EXPOSE 8080.
- Every alert's runbook_url points at a heading of docs/operations.md.

Prints `  ok/FAIL  …` lines, then `LINT_RESULT <passed> <failed>`. Needs python3-yaml.
"""

import ipaddress
import json
import os
import re
import sys

import yaml

REPO = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
PASSED = 0
FAILED = 0

# Variables of the nginx template (ops/nginx/rally.conf.template), not rally settings.
TEMPLATE_VARS = [
    "RALLY_UPSTREAMS", "LISTEN_HTTP", "LISTEN_HTTPS", "LISTEN_STATUS",
    "HTTPS_REDIRECT_PORT", "SERVER_NAME", "TLS_CERT", "TLS_KEY",
]
NOT_RALLY_SETTINGS = {"RALLY_UPSTREAMS"}


def check(ok, what, detail=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"  ok    {what}")
    else:
        FAILED += 1
        print(f"  FAIL  {what}" + (f": {detail}" if detail else ""))


def path(*p):
    return os.path.join(REPO, *p)


def load_yaml(rel):
    with open(path(rel)) as f:
        return yaml.safe_load(f)


# ---------------------------------------------------------------- dashboards
def walk_panels(panels):
    for p in panels or []:
        yield p
        yield from walk_panels(p.get("panels"))


def is_prometheus(ds):
    return isinstance(ds, dict) and ds.get("uid") == "prometheus" and ds.get("type", "prometheus") == "prometheus"


def dashboards():
    ddir = path("ops/grafana/dashboards")
    files = sorted(f for f in os.listdir(ddir) if f.endswith(".json"))
    check(len(files) >= 4, f"{len(files)} dashboards in ops/grafana/dashboards")
    uids = {}
    for name in files:
        raw = open(os.path.join(ddir, name)).read()
        try:
            d = json.loads(raw)
        except ValueError as e:
            check(False, f"{name}: valid JSON", str(e))
            continue
        problems = []
        for key in ("uid", "title"):
            if not d.get(key):
                problems.append(f"no {key}")
        if d.get("uid"):
            if d["uid"] in uids:
                problems.append(f"uid {d['uid']} also used by {uids[d['uid']]}")
            uids[d["uid"]] = name
            if len(d["uid"]) > 40:
                problems.append("uid longer than 40 characters")
        if "${DS_" in raw or "__inputs" in d:
            problems.append("uses import variables (${DS_…}/__inputs) instead of the provisioned uid")
        panels = list(walk_panels(d.get("panels")))
        data_panels = [p for p in panels if p.get("type") != "row"]
        if not data_panels:
            problems.append("no panels")
        ids = [p.get("id") for p in panels]
        if len(ids) != len(set(ids)) or None in ids:
            problems.append("panel ids missing or repeated")
        for p in data_panels:
            title = p.get("title", "?")
            if not is_prometheus(p.get("datasource")):
                problems.append(f"panel {title!r}: datasource is not uid prometheus")
            targets = p.get("targets") or []
            if not targets:
                problems.append(f"panel {title!r}: no targets")
            for t in targets:
                if not t.get("expr"):
                    problems.append(f"panel {title!r} target {t.get('refId')}: no expr")
                if "datasource" in t and not is_prometheus(t["datasource"]):
                    problems.append(f"panel {title!r} target {t.get('refId')}: datasource is not uid prometheus")
            g = p.get("gridPos") or {}
            if not all(k in g for k in ("x", "y", "w", "h")) or g.get("x", 0) + g.get("w", 0) > 24:
                problems.append(f"panel {title!r}: gridPos outside the 24-column grid")
        for v in (d.get("templating") or {}).get("list") or []:
            if v.get("type") == "query" and not is_prometheus(v.get("datasource")):
                problems.append(f"variable {v.get('name')}: datasource is not uid prometheus")
        check(not problems, f"{name}: uid {d.get('uid')!r}, {len(data_panels)} panels, all on datasource uid prometheus",
              "; ".join(problems))


def provisioning(compose):
    ds = load_yaml("ops/grafana/provisioning/datasources/datasources.yml")
    prom = [x for x in ds.get("datasources", []) if x.get("uid") == "prometheus"]
    check(len(prom) == 1 and prom[0].get("type") == "prometheus",
          "provisioned datasource with uid prometheus, type prometheus")
    url = prom[0].get("url", "") if prom else ""
    host = re.sub(r"^https?://([^:/]+).*", r"\1", url)
    check(host in compose["services"], f"datasource URL {url} names a compose service")
    prov = load_yaml("ops/grafana/provisioning/dashboards/dashboards.yml")
    paths = [p.get("options", {}).get("path") for p in prov.get("providers", [])]
    graf = compose["services"].get("grafana", {})
    mounts = {}
    for v in graf.get("volumes", []):
        if isinstance(v, str) and v.startswith("./"):
            src, dst = v.split(":")[:2]
            mounts[dst] = src
    check(any(mounts.get(p) == "./ops/grafana/dashboards" for p in paths),
          f"dashboard provider path {paths} is where compose mounts ./ops/grafana/dashboards",
          f"mounts: {mounts}")
    check(mounts.get("/etc/grafana/provisioning") == "./ops/grafana/provisioning",
          "compose mounts ./ops/grafana/provisioning at /etc/grafana/provisioning")
    home = (graf.get("environment") or {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        d, f = os.path.split(home)
        check(d in mounts and os.path.exists(path(mounts[d], f)), f"Grafana home dashboard {home} exists")


# ---------------------------------------------------------------- compose
def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return env


def is_rally(svc):
    image = str(svc.get("image", ""))
    build = svc.get("build")
    return image.startswith("rally:") or (isinstance(build, dict) and build.get("context") == ".")


def compose_checks(compose):
    services = compose["services"]
    published = sorted(n for n, s in services.items() if s.get("ports") and not s.get("profiles"))
    check(published == ["nginx"], f"only nginx publishes ports (published: {published})")
    nginx_ports = sorted(str(p).split(":")[-2] + ":" + str(p).split(":")[-1] for p in services["nginx"].get("ports", []))
    check(nginx_ports == ["443:443", "80:80"], f"nginx publishes 443 and 80 ({nginx_ports})")

    nenv = env_of(services["nginx"])
    missing = [v for v in TEMPLATE_VARS if v not in nenv]
    check(not missing, "nginx's environment defines every template variable", f"missing {missing}")
    filt = str(nenv.get("NGINX_ENVSUBST_FILTER", "")).replace("$$", "$")
    rx = re.compile(filt) if filt else None
    ok = rx is not None and all(rx.search(v) for v in TEMPLATE_VARS) and not rx.search("host") and not rx.search("PATH")
    check(ok, "NGINX_ENVSUBST_FILTER admits the template variables and nothing else", filt)
    nmounts = dict(v.split(":")[1::-1] for v in services["nginx"].get("volumes", []) if isinstance(v, str))
    check(nmounts.get("/etc/nginx/templates/rally.conf.template") == "./ops/nginx/rally.conf.template",
          "nginx renders ops/nginx/rally.conf.template from /etc/nginx/templates/")
    certdir = [d for d, s in nmounts.items() if s == "./ops/nginx/certs"]
    check(certdir and all(str(nenv.get(k, "")).startswith(certdir[0] + "/") for k in ("TLS_CERT", "TLS_KEY")),
          "TLS_CERT/TLS_KEY live in the mounted ops/nginx/certs")

    # Secrets: declared from files under ops/secrets/, referenced ones declared, none inline.
    secrets = compose.get("secrets") or {}
    bad = [n for n, s in secrets.items() if not str(s.get("file", "")).startswith("./ops/secrets/")]
    check(secrets and not bad, f"{len(secrets)} secrets, all from files under ops/secrets/", f"{bad}")
    used = {x if isinstance(x, str) else x.get("source") for s in services.values() for x in s.get("secrets", [])}
    check(used <= set(secrets), "every secret a service uses is declared", f"{used - set(secrets)}")
    inline = []
    for n, s in services.items():
        for k, v in env_of(s).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|PRIVATE", k) and not k.endswith("_FILE") and not k.endswith("__FILE"):
                inline.append(f"{n}.{k}")
            if re.search(r"://[^/@:]+:[^/@]+@", str(v)):
                inline.append(f"{n}.{k} (password in URL)")
    check(not inline, "no password, token or key written inline in compose.yaml", ", ".join(inline))

    # Rally instances: scraped by Prometheus; trusted proxies cover nginx.
    instances = sorted(n for n, s in services.items()
                       if is_rally(s) and not s.get("profiles") and "migrate" not in str(s.get("command", "")))
    prom = load_yaml("ops/prometheus/prometheus.yml")
    jobs = {j["job_name"]: [t for sc in j.get("static_configs", []) for t in sc.get("targets", [])]
            for j in prom["scrape_configs"]}
    want = []
    for n in instances:
        mb = env_of(services[n]).get("RALLY_METRICS_BIND", "")
        want.append(f"{n}:{mb.rsplit(':', 1)[-1]}" if mb else f"{n}:8080")
    check(len(instances) >= 2 and sorted(jobs.get("rally", [])) == sorted(want),
          f"Prometheus job rally scrapes every instance ({', '.join(want)})", f"job has {jobs.get('rally')}")
    for job, svc in (("nginx", "nginx-exporter"), ("postgres", "postgres-exporter"), ("alertmanager", "alertmanager")):
        hosts = [t.split(":")[0] for t in jobs.get(job, [])]
        check(hosts == [svc] and svc in services, f"Prometheus job {job} scrapes the {svc} service")
    edge = services["nginx"].get("networks", {})
    nginx_ip = (edge.get("edge") or {}).get("ipv4_address") if isinstance(edge, dict) else None
    for n in instances:
        tp = env_of(services[n]).get("RALLY_TRUSTED_PROXIES", "")
        nets = [ipaddress.ip_network(x.strip(), strict=False) for x in tp.split(",") if x.strip()]
        ok = bool(nginx_ip) and any(ipaddress.ip_address(nginx_ip) in net for net in nets)
        check(ok, f"{n}: RALLY_TRUSTED_PROXIES={tp} covers nginx's address {nginx_ip}")
    unhealthy = [n for n in instances if "depends_on" not in services[n]]
    check(not unhealthy, "instances wait for migrations and Redis", f"{unhealthy}")
    # Dev profile: one instance with live reload from the mounted source.
    dev = [n for n, s in services.items() if "dev" in (s.get("profiles") or [])]
    ok = len(dev) == 1 and any(str(v).startswith(".:") for v in services[dev[0]].get("volumes", [])) \
        and "watch" in json.dumps(services[dev[0]].get("command", "")) + open(path("Dockerfile")).read()
    check(ok, f"dev profile runs one instance from the mounted source with cargo-watch ({dev})")
    # Every bind-mounted file or folder exists (generated certs and secrets excepted).
    missing = []
    for n, s in services.items():
        for v in s.get("volumes", []):
            if isinstance(v, str) and v.startswith("./"):
                src = v.split(":")[0]
                if src not in ("./ops/nginx/certs",) and not os.path.exists(path(src)):
                    missing.append(f"{n}: {src}")
    check(not missing, "every bind-mounted path exists", ", ".join(missing))


# ---------------------------------------------------------------- RALLY_* variables
def documented_vars():
    readme = path("README.md")
    if os.path.exists(readme):
        names = re.findall(r"^\|\s*`(RALLY_[A-Z0-9_]+)`\s*\|", open(readme).read(), re.M)
        if names:
            return set(names), "README.md configuration table"
    cli = open(path("src/cli.rs")).read()
    return set(re.findall(r'env\s*=\s*"(RALLY_[A-Z0-9_]+)"', cli)), "src/cli.rs env attributes"


def rally_vars(compose):
    documented, source = documented_vars()
    check(len(documented) >= 5, f"{len(documented)} documented RALLY_* variables read from the {source}")
    used = {}
    docker = open(path("Dockerfile")).read()
    for m in re.finditer(r"\b(RALLY_[A-Z0-9_]+)\b", docker):
        used.setdefault(m.group(1), set()).add("Dockerfile")
    text = open(path("compose.yaml")).read()
    for m in re.finditer(r"\b(RALLY_[A-Z0-9_]+)\b", text):
        used.setdefault(m.group(1), set()).add("compose.yaml")
    for n, s in compose["services"].items():
        if is_rally(s):
            for k in env_of(s):
                if k.startswith("RALLY_"):
                    used.setdefault(k, set()).add(f"compose.yaml:{n}")
    undocumented = sorted(f"{v} ({', '.join(sorted(w))})" for v, w in used.items()
                          if v not in documented and v not in NOT_RALLY_SETTINGS)
    check(not undocumented, f"all {len(used)} RALLY_* variables in Dockerfile/compose.yaml are documented",
          "undocumented: " + ", ".join(undocumented))
    misplaced = sorted(k for n, s in compose["services"].items() if not is_rally(s)
                       for k in env_of(s) if k.startswith("RALLY_") and k not in NOT_RALLY_SETTINGS)
    check(not misplaced, "rally settings are given only to rally services", f"{misplaced}")


# ---------------------------------------------------------------- Dockerfile
def dockerfile():
    text = open(path("Dockerfile")).read()
    lines = [l for l in re.sub(r"\\\n", " ", text).split("\n") if l.strip() and not l.strip().startswith("#")]
    stages = []
    for l in lines:
        if re.match(r"(?i)^FROM\s", l):
            stages.append([l])
        elif stages:
            stages[-1].append(l)
    final = stages[-1] if stages else []
    fin = "\n".join(final)
    check("cargo chef prepare" in text and "cargo chef cook" in text and "--release" in text,
          "dependencies are cooked in their own layer (cargo-chef) and built with --release")
    check(bool(re.match(r"(?i)^FROM\s+debian:\S*slim", final[0] if final else "")),
          f"runtime stage is debian slim ({final[0] if final else '-'})")
    users = re.findall(r"(?im)^USER\s+(\S+)", fin)
    check(bool(users) and users[-1].split(":")[0] not in ("root", "0"), f"runtime runs as a non-root user ({users})")
    check(re.search(r'(?im)^HEALTHCHECK\b.*CMD\s+\[\s*"rally"\s*,\s*"healthcheck"\s*\]', fin) is not None,
          'HEALTHCHECK CMD ["rally","healthcheck"]')
    check(re.search(r"(?im)^EXPOSE\s+8080\b", fin) is not None, "EXPOSE 8080")
    env_keys = re.findall(r"(?im)(?:^ENV\s+|\s)([A-Z_][A-Z0-9_]*)=", "\n".join(l for l in final if l.upper().startswith("ENV")))
    check(env_keys and all(k.startswith("RALLY_") for k in env_keys),
          f"runtime configuration is RALLY_* only ({', '.join(env_keys)})")
    copies = re.findall(r"(?im)^COPY\s+(.*)$", text)
    leaks = [c for c in copies if re.search(r"secrets|\.key\b|\.pem\b|certs", c)]
    check(not leaks, "no secret or key is copied into the image", f"{leaks}")
    ignore = open(path(".dockerignore")).read().split()
    check(all(x in ignore for x in ("target", ".git", "ops/secrets")), ".dockerignore keeps target/, .git and ops/secrets out")
    check(not any(x in ignore for x in ("web", "migrations", "src")), ".dockerignore keeps web/, migrations/ and src/ in")


# ---------------------------------------------------------------- runbooks
def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def runbooks():
    doc = path("docs/operations.md")
    if not os.path.exists(doc):
        check(False, "docs/operations.md exists")
        return
    anchors = {slug(m) for m in re.findall(r"^#+\s+(.*)$", open(doc).read(), re.M)}
    rules = [r for g in load_yaml("ops/prometheus/alerts.yml")["groups"] for r in g["rules"] if "alert" in r]
    bad = []
    for r in rules:
        url = r.get("annotations", {}).get("runbook_url", "")
        if not url.startswith("docs/operations.md#") or url.split("#", 1)[1] not in anchors:
            bad.append(f"{r['alert']} -> {url}")
    check(not bad, f"all {len(rules)} alerts link to a section of docs/operations.md", ", ".join(bad))


def main():
    compose = load_yaml("compose.yaml")
    sections = [
        ("dashboards", dashboards),
        ("grafana provisioning", lambda: provisioning(compose)),
        ("compose.yaml", lambda: compose_checks(compose)),
        ("RALLY_* variables", lambda: rally_vars(compose)),
        ("Dockerfile", dockerfile),
        ("alert runbooks", runbooks),
    ]
    for title, fn in sections:
        print(f"\n== {title}")
        try:
            fn()
        except Exception as e:  # a malformed file is a failed check, not a crash
            check(False, f"{title}: checks could not run", f"{type(e).__name__}: {e}")
    print(f"LINT_RESULT {PASSED} {FAILED}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Check that every dashboard query and every alert expression returns series.

Used by ops/test/prometheus.sh against a real Prometheus that scrapes real rally instances and
exporters. For dashboards, each panel target's `expr` (and each `label_values(...)` variable
query) is evaluated with Grafana's variables replaced ($__rate_interval -> --rate-interval,
$instance and other variables -> ".*"). For alerts, each expression is split at its top-level
threshold comparisons and `and`/`or`/`unless`; every operand that is not a number is
evaluated: so an alert cannot watch a metric that does not exist.

An expression that returns no series fails, unless it names a metric listed in
ops/test/pending-metrics.txt (metrics the engine has not landed yet): then it is skipped.

Prints `  ok/FAIL/skip  …` lines and, last, `PROMQL_RESULT <passed> <failed> <skipped>`.
Needs python3-yaml.
"""

import argparse
import glob
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

import yaml

COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
SET_OPS = ("and", "or", "unless")
NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")
# Modifiers that may follow a binary operator: bool, on(...)/ignoring(...), group_left/right(...).
MODIFIERS = re.compile(
    r"^\s*(bool\b\s*)?((on|ignoring)\s*\([^)]*\)\s*)?((group_left|group_right)\s*(\([^)]*\))?\s*)?"
)


def split_top_level(expr, operators):
    """Split expr at top-level occurrences of any operator in `operators` (outside (), {}, [] and
    string literals). Keyword operators match as whole words only."""
    parts, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
            i += 1
            continue
        if c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            for op in operators:
                if op.isalpha():
                    before = expr[i - 1] if i > 0 else " "
                    after = expr[i + len(op)] if i + len(op) < len(expr) else " "
                    if (
                        expr.startswith(op, i)
                        and not (before.isalnum() or before == "_")
                        and not (after.isalnum() or after == "_")
                    ):
                        break
                elif expr.startswith(op, i):
                    # "=~" and "!~" only occur inside braces, so depth 0 excludes them.
                    break
            else:
                i += 1
                continue
            parts.append(expr[start:i])
            i += len(op)
            start = i
            continue
        i += 1
    parts.append(expr[start:])
    return parts


def strip_modifiers(part):
    return MODIFIERS.sub("", part, count=1).strip()


def alert_operands(expr):
    """The non-numeric operands of an alert expression, thresholds removed."""
    out = []
    for set_part in split_top_level(expr, SET_OPS):
        for part in split_top_level(strip_modifiers(set_part), COMPARISONS):
            part = strip_modifiers(part)
            if part and not NUMBER.match(part):
                out.append(part)
    return out


def grafana_substitute(expr, rate_interval):
    expr = expr.replace("$__rate_interval", rate_interval).replace("$__interval", rate_interval)
    expr = expr.replace("${__rate_interval}", rate_interval).replace("$__range", "1h")
    # Any other dashboard variable: match everything.
    return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?", ".*", expr)


def dashboard_panels(panels):
    for p in panels or []:
        yield p
        yield from dashboard_panels(p.get("panels"))


def collect(repo, rate_interval):
    """[(origin, expression)] for every dashboard target, variable and alert operand."""
    exprs = []
    for path in sorted(glob.glob(os.path.join(repo, "ops/grafana/dashboards/*.json"))):
        with open(path) as f:
            dash = json.load(f)
        name = os.path.basename(path)
        for p in dashboard_panels(dash.get("panels")):
            for t in p.get("targets") or []:
                if t.get("expr"):
                    exprs.append(
                        (f"{name}: {p.get('title')} [{t.get('refId')}]", grafana_substitute(t["expr"], rate_interval))
                    )
        for v in (dash.get("templating") or {}).get("list") or []:
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.match(r"^\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$", q or "")
            if m:
                exprs.append((f"{name}: variable ${v.get('name')}", grafana_substitute(m.group(1), rate_interval)))
    with open(os.path.join(repo, "ops/prometheus/alerts.yml")) as f:
        rules = yaml.safe_load(f)
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            operands = alert_operands(rule["expr"])
            for n, operand in enumerate(operands, 1):
                suffix = f" (operand {n}/{len(operands)})" if len(operands) > 1 else ""
                exprs.append((f"alert {name}{suffix}", operand))
    return exprs


def load_pending(path):
    names = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def query(prom, expr):
    url = prom.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except ValueError:
            return None, f"HTTP {e.code}"
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)
    if body.get("status") != "success":
        return None, body.get("error", "query failed")
    data = body["data"]
    if data["resultType"] in ("scalar", "string"):
        return 1, None
    return len(data["result"]), None


def exposed_names(prom):
    url = prom.rstrip("/") + "/api/v1/label/__name__/values"
    with urllib.request.urlopen(url, timeout=10) as r:
        return set(json.load(r)["data"])


def one_line(s, n=110):
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    ap.add_argument("--repo", required=True)
    ap.add_argument("--pending", required=True)
    ap.add_argument("--rate-interval", default="1m")
    args = ap.parse_args()

    pending = load_pending(args.pending)
    pending_re = {
        n: re.compile(r"(?<![A-Za-z0-9_:])" + re.escape(n) + r"(_bucket|_sum|_count)?(?![A-Za-z0-9_:])")
        for n in pending
    }
    passed = failed = skipped = 0
    for origin, expr in collect(args.repo, args.rate_interval):
        n, err = query(args.prometheus, expr)
        if err:
            failed += 1
            print(f"  FAIL  {origin}: query error: {err}\n          {one_line(expr)}")
        elif n:
            passed += 1
            print(f"  ok    {origin}: {n} series")
        else:
            waiting = [name for name, rx in pending_re.items() if rx.search(expr)]
            if waiting:
                skipped += 1
                print(f"  skip  {origin}: no series yet (pending: {', '.join(waiting)})")
            else:
                failed += 1
                print(f"  FAIL  {origin}: no series, and it uses no pending metric\n          {one_line(expr)}")

    # A pending metric that is exposed now should leave the allowlist, so its panels are checked.
    names = exposed_names(args.prometheus)
    for name in pending:
        if name in names or any(f"{name}{s}" in names for s in ("_bucket", "_sum", "_count")):
            print(f"  note  {name} is exposed now: remove it from {os.path.relpath(args.pending, args.repo)}")
    print(f"PROMQL_RESULT {passed} {failed} {skipped}")


if __name__ == "__main__":
    sys.exit(main())

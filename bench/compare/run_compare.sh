#!/usr/bin/env bash
# Backfill the same fake Stripe account with stripe-nrr, Singer's tap-stripe and
# Airbyte's source-stripe, one after the other, each against its own fresh instance of
# the project's fake (same seed, same --now, same latency and rate limit), and record
# wall time, requests served (counted by the server), records emitted and 429s.
#
#   bash bench/compare/run_compare.sh            # from the repo root; ~10 min
#   SIZE_CUSTOMERS=50 bash bench/compare/run_compare.sh   # quick smoke run
#
# Needs: the repo's .venv; python3.11 (pyenv) for the tools' venvs, which it creates under
# $VENVS (default /tmp/compare-venvs) from PyPI the first time. Writes raw outputs to
# $WORK (default /tmp/compare-run) and the summary to bench/compare/results.json.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/bench/compare"
VENVS=${VENVS:-/tmp/compare-venvs}
WORK=${WORK:-/tmp/compare-run}
CUSTOMERS=${SIZE_CUSTOMERS:-1000}
MONTHS=${SIZE_MONTHS:-24}
LATENCY=${LATENCY:-0.15}
RATE=${RATE:-100}
TIMEOUT=${TIMEOUT:-1800}          # per tool, seconds
KEY=sk_live_51BenchmarkKey000000000000000
NOW=${NOW:-$(date +%s)}
TAP_VERSION=${TAP_VERSION:-3.3.0}
AIRBYTE_VERSION=${AIRBYTE_VERSION:-5.14.1}
TOOLS=${TOOLS:-"ours tap-stripe source-stripe"}
# Streams each tool is asked for: everything it has that the fake serves (see README).
TAP_STREAMS=charges,events,customers,invoices,invoice_items,invoice_line_items,coupons,subscriptions,subscription_items,disputes,products
AB_STREAMS=customers,products,prices,coupons,promotion_codes,subscriptions,subscription_items,invoices,invoice_line_items,invoice_items,charges,refunds,credit_notes,disputes,events

mkdir -p "$WORK"
PY="$ROOT/.venv/bin/python"

install_tools() {
    if [[ ! -x "$VENVS/tap/bin/tap-stripe" ]]; then
        python3.11 -m venv "$VENVS/tap"
        "$VENVS/tap/bin/pip" install -q "tap-stripe==$TAP_VERSION"
    fi
    if [[ ! -x "$VENVS/airbyte/bin/source-stripe" ]]; then
        python3.11 -m venv "$VENVS/airbyte"
        "$VENVS/airbyte/bin/pip" install -q "airbyte-source-stripe==$AIRBYTE_VERSION"
    fi
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

SERVER_PID=""
start_server() {  # $1 = tool name, $2 = --lenient or ""
    PORT=$(free_port)
    local fifo="$WORK/$1.server.out"
    (cd "$ROOT" && exec "$PY" bench/compare/fake_server.py --customers "$CUSTOMERS" --months "$MONTHS" \
        --now "$NOW" --port "$PORT" --api-key "$KEY" --latency "$LATENCY" --rate-limit "$RATE" \
        $2 --stats "$WORK/$1.server-stats.json") > "$fifo" 2>"$WORK/$1.server.err" &
    SERVER_PID=$!
    for _ in $(seq 600); do
        if [[ -s "$fifo" ]] && "$PY" -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null; then
            break
        fi
        sleep 0.5
    done
    ACCOUNT_ID=$("$PY" -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['account_id'])" "$fifo")
    ACCOUNT_CREATED=$("$PY" -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['account_created'])" "$fifo")
    # Full history: start well before the account's first object.
    START_DATE=$(date -u -d "@$((ACCOUNT_CREATED - 60*86400))" +%Y-%m-%dT%H:%M:%SZ)
    BASE="http://127.0.0.1:$PORT"
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

timed() {  # $1 = tool; rest = command. Writes $WORK/$1.time (wall seconds) and rc.
    local tool=$1; shift
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    timeout "$TIMEOUT" "$@" || rc=$?
    t1=$(date +%s.%N)
    "$PY" -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$t0" "$t1" > "$WORK/$tool.time"
    echo "$rc" > "$WORK/$tool.rc"
}

run_ours() {
    start_server ours ""
    timed ours "$PY" "$HERE/run_ours.py" --base "$BASE" --key "$KEY" --now "$NOW" > "$WORK/ours.out" 2> "$WORK/ours.err"
    stop_server
}

run_tap() {
    start_server tap-stripe --lenient
    printf '{"client_secret": "%s", "account_id": "%s", "start_date": "%s"}\n' "$KEY" "$ACCOUNT_ID" "$START_DATE" > "$WORK/tap-config.json"
    export COMPARE_STRIPE_TARGET="$BASE" PYTHONPATH="$HERE/shim"
    "$VENVS/tap/bin/tap-stripe" --config "$WORK/tap-config.json" --discover > "$WORK/tap-discovered.json" 2> "$WORK/tap-discover.err"
    "$VENVS/tap/bin/python" "$HERE/select_catalog.py" singer "$WORK/tap-discovered.json" "$TAP_STREAMS" > "$WORK/tap-catalog.json"
    # Discovery hit the server once (GET /v1/accounts/{id}); count only the sync: restart.
    unset COMPARE_STRIPE_TARGET PYTHONPATH
    stop_server
    start_server tap-stripe --lenient
    COMPARE_STRIPE_TARGET="$BASE" PYTHONPATH="$HERE/shim" \
        timed tap-stripe "$VENVS/tap/bin/tap-stripe" --config "$WORK/tap-config.json" --catalog "$WORK/tap-catalog.json" \
        > "$WORK/tap-stripe.out" 2> "$WORK/tap-stripe.err"
    stop_server
}

run_airbyte() {
    start_server source-stripe --lenient
    printf '{"client_secret": "%s", "account_id": "%s", "start_date": "%s"}\n' "$KEY" "$ACCOUNT_ID" "$START_DATE" > "$WORK/airbyte-config.json"
    COMPARE_STRIPE_TARGET="$BASE" PYTHONPATH="$HERE/shim" \
        "$VENVS/airbyte/bin/source-stripe" discover --config "$WORK/airbyte-config.json" > "$WORK/airbyte-discovered.jsonl" 2> "$WORK/airbyte-discover.err"
    "$VENVS/airbyte/bin/python" "$HERE/select_catalog.py" airbyte "$WORK/airbyte-discovered.jsonl" "$AB_STREAMS" > "$WORK/airbyte-catalog.json"
    stop_server
    start_server source-stripe --lenient
    COMPARE_STRIPE_TARGET="$BASE" PYTHONPATH="$HERE/shim" \
        timed source-stripe "$VENVS/airbyte/bin/source-stripe" read --config "$WORK/airbyte-config.json" --catalog "$WORK/airbyte-catalog.json" \
        > "$WORK/source-stripe.out" 2> "$WORK/source-stripe.err"
    stop_server
}

trap 'stop_server' EXIT
install_tools
for tool in $TOOLS; do
    echo "== $tool" >&2
    case $tool in
        ours) run_ours ;;
        tap-stripe) run_tap ;;
        source-stripe) run_airbyte ;;
    esac
done
"$PY" "$HERE/summarize.py" --work "$WORK" --now "$NOW" --latency "$LATENCY" --rate "$RATE" \
    --customers "$CUSTOMERS" --months "$MONTHS" --venvs "$VENVS" --tools "$TOOLS" \
    --out "${OUT:-$HERE/results.json}"

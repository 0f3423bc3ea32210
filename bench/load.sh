#!/usr/bin/env bash
# Mixed load on two replicas sharing one PostgreSQL database (release builds, loopback):
# mini-program logins (some with a phone), official-account and QR logins started on one replica
# and finished on the other, SMS codes sent through one and used on the other, refreshes, and
# proxied requests over bearer tokens and cookies, with `wxgate keys rotate` half-way through.
#
# Passes when: no 5xx and no wrong answer from either replica; nobody became two users (checked
# live by the driver and in the database afterwards); each replica's RSS at the end is within
# 10% of its RSS in the middle of the run. Prints the rates.
#
# Usage: bench/load.sh
# Env:   SECONDS_RUN=120 CONCURRENCY=16 USERS=1000 KEEP=1 SKIP_BUILD=1
#        PG_URL=postgres://postgres@127.0.0.1:5432   (a scratch database is created and dropped)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_RUN=${SECONDS_RUN:-120}
CONCURRENCY=${CONCURRENCY:-16}
USERS=${USERS:-1000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PORT_SIM=19300 PORT_ECHO=19301 PORT_A=19310 PORT_B=19320
PG_DB="wxgate_load_$$"
PG_CREATED=0
export WXGATE_LOAD_SECRET=load-secret

WORK=$(mktemp -d /tmp/wxgate-load.XXXXXX)
PIDS=()
cleanup() {
    stop_pids 5 "${PIDS[@]}"
    if [ "$PG_CREATED" = 1 ]; then
        psql "$PG_URL/postgres" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 ||
            echo "load.sh: could not drop database $PG_DB" >&2
    fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "load.sh: $*" >&2; exit 1; }
. "$(dirname "$0")/common.sh"

cd "$ROOT"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p wxgate -p wxgate-sim
    cargo build --release -p wxgate-tests --example load
fi
GW="$ROOT/target/release/wxgate" SIM="$ROOT/target/release/wxgate-sim"
LOAD="$ROOT/target/release/examples/load"
for b in "$GW" "$SIM" "$LOAD"; do [ -x "$b" ] || die "$b is missing (build it or unset SKIP_BUILD)"; done
for port in $PORT_SIM $PORT_ECHO $PORT_A $PORT_B; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then die "port $port is already in use"; fi
done
ulimit -n 65536 2>/dev/null || true

echo "== preflight"
echo "date:    $(date -u +%FT%TZ)"
echo "host:    $(nproc) CPUs, $(uname -r), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (+ uncommitted changes)')"
echo "load:    ${SECONDS_RUN}s, concurrency $CONCURRENCY, $USERS people, replicas A :$PORT_A and B :$PORT_B"

psql "$PG_URL/postgres" -qAtc "CREATE DATABASE $PG_DB" >/dev/null || die "cannot create $PG_DB on $PG_URL"
PG_CREATED=1
DB_URL="$PG_URL/$PG_DB"

"$SIM" --listen "127.0.0.1:$PORT_SIM" --echo "127.0.0.1:$PORT_ECHO" >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT_SIM/_sim/health" 200 "the simulator" "$WORK/sim.log"
"$LOAD" setup --sim "http://127.0.0.1:$PORT_SIM" --users "$USERS"

mkdir -p "$WORK/keys"
write_config() { # name port
    cat >"$WORK/$1.toml" <<EOF
[server]
listen = "127.0.0.1:$2"
# Read at the end for upstream connections reused and new (Pingora's pool race).
metrics_listen = "127.0.0.1:$(( $2 + 500 ))"
public_url = "http://127.0.0.1:$PORT_A"
# The driver stands in for a load balancer: client addresses arrive in X-Forwarded-For.
trusted_proxies = ["127.0.0.1/32"]

[database]
url = "$DB_URL"

[tokens]
keys_dir = "$WORK/keys"
key_activation = "10s"
revocation_sync = "2s"

[[channel]]
id = "mp"
kind = "wechat_miniprogram"
appid = "wx00000000000000c1"
secret = "\${WXGATE_LOAD_SECRET}"
api_base = "http://127.0.0.1:$PORT_SIM"

[[channel]]
id = "oa"
kind = "wechat_official_account"
appid = "wx00000000000000c2"
secret = "\${WXGATE_LOAD_SECRET}"
scope = "snsapi_userinfo"
api_base = "http://127.0.0.1:$PORT_SIM"
open_base = "http://127.0.0.1:$PORT_SIM"

[[channel]]
id = "web"
kind = "wechat_open_qr"
appid = "wx00000000000000c3"
secret = "\${WXGATE_LOAD_SECRET}"
api_base = "http://127.0.0.1:$PORT_SIM"
open_base = "http://127.0.0.1:$PORT_SIM"

[[channel]]
id = "sms"
kind = "phone_sms"
sender = { kind = "webhook", url = "http://127.0.0.1:$PORT_SIM/sms" }
sends_per_ip_hour = 1000
daily_budget = 1000000

[[route]]
prefix = "/api/"
upstream = "127.0.0.1:$PORT_ECHO"
auth = "required"
EOF
    "$GW" check --config "$WORK/$1.toml" >/dev/null || die "the gateway rejected $1.toml"
}
write_config a "$PORT_A"
write_config b "$PORT_B"
# A migrates first; B starts on the migrated database.
RUST_LOG=warn NO_COLOR=1 "$GW" --config "$WORK/a.toml" --threads 2 >"$WORK/a.log" 2>&1 &
PID_A=$!; PIDS+=($PID_A)
wait_http "http://127.0.0.1:$PORT_A/_auth/readyz" 200 "replica A" "$WORK/a.log"
RUST_LOG=warn NO_COLOR=1 "$GW" --config "$WORK/b.toml" --threads 2 >"$WORK/b.log" 2>&1 &
PID_B=$!; PIDS+=($PID_B)
wait_http "http://127.0.0.1:$PORT_B/_auth/readyz" 200 "replica B" "$WORK/b.log"

rss() { awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status"; }
# RSS of both replicas every second, while the driver runs.
(
    while :; do
        echo "$(date +%s) $(rss "$PID_A") $(rss "$PID_B")" >>"$WORK/rss.txt"
        sleep 1
    done
) &
PIDS+=($!)
# Key rotation half-way through, while both replicas serve.
(
    sleep $((SECONDS_RUN / 2))
    "$GW" keys rotate --config "$WORK/a.toml" >"$WORK/rotate.log" 2>&1 && echo "rotated at $(date +%s)" >>"$WORK/rotate.log"
) &
PIDS+=($!)

echo "== run"
set +e
"$LOAD" run --a "http://127.0.0.1:$PORT_A" --b "http://127.0.0.1:$PORT_B" \
    --sim "http://127.0.0.1:$PORT_SIM" --users "$USERS" --seconds "$SECONDS_RUN" \
    --concurrency "$CONCURRENCY" | tee "$WORK/run.txt"
run_ok=${PIPESTATUS[0]}
set -e
grep -q "^rotated at" "$WORK/rotate.log" || { cat "$WORK/rotate.log"; die "the key rotation did not happen"; }
echo "   keys rotated half-way: $(tail -n1 "$WORK/rotate.log")"
kids=$(sed -n 's/^RESULT.* signing_keys=\([0-9]*\).*/\1/p' "$WORK/run.txt")
if [ "${kids:-0}" -lt 2 ]; then
    echo "   the rotated key never signed during the run (signing keys seen: ${kids:-0})"
    run_ok=1
fi

echo "== database"
people=$(sed -n 's/^RESULT.* people=\([0-9]*\).*/\1/p' "$WORK/run.txt")
check_ok=0
"$LOAD" check --db "$DB_URL" --expect-users "${people:-0}" || check_ok=$?

echo "== memory"
lines=$(wc -l <"$WORK/rss.txt")
mid=$(sed -n "$((lines / 2))p" "$WORK/rss.txt")
end=$(tail -n1 "$WORK/rss.txt")
mem_ok=$(python3 - "$mid" "$end" <<'PY'
import sys
mid = [int(x) for x in sys.argv[1].split()[1:]]
end = [int(x) for x in sys.argv[2].split()[1:]]
ok = 1
for name, m, e in zip("AB", mid, end):
    change = (e - m) / m * 100
    print(f"   replica {name}: RSS middle {m} kB, end {e} kB ({change:+.1f}%)", file=sys.stderr)
    ok &= abs(change) <= 10
print(ok)
PY
)
for name in a b; do
    # Access lines (JSON) are the access log's; the rest are the gateway's own.
    n=$(grep -vc '^{' "$WORK/$name.log" || true)
    echo "   replica $name log (RUST_LOG=warn, access lines aside): $n line(s)"
    [ "$n" -gt 0 ] && grep -v '^{' "$WORK/$name.log" | sed 's/^[0-9T:.Z-]* *//' | cut -c1-160 | sort | uniq -c | sort -rn | head -n 5
done
echo "== upstream connections (wxgate_upstream_connections_total, both replicas)"
for port in $((PORT_A + 500)) $((PORT_B + 500)); do
    curl -s "http://127.0.0.1:$port/metrics" | grep '^wxgate_upstream_connections_total' || true
done | awk '/reused="true"/ { r += $NF } /reused="false"/ { n += $NF }
    END { if (r + n > 0) printf "   %d new, %d reused: %.1f new per 1,000 proxied requests\n", n, r, n * 1000 / (r + n) }'

if [ "$run_ok" = 0 ] && [ "$check_ok" = 0 ] && [ "$mem_ok" = 1 ]; then
    echo "load: PASS"
else
    echo "load: FAIL (run $run_ok, database $check_ok, memory ok $mem_ok)"
    exit 1
fi

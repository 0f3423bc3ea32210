#!/usr/bin/env bash
# Logins per second: the gateway (release, --threads 2) against the WeChat simulator, once on
# SQLite and once on PostgreSQL. Loopback only. On PostgreSQL, pg_stat_statements counts the
# statements each operation runs (the database's own count, not a reading of the code); the
# script preloads the extension (ALTER SYSTEM, a restart of the cluster) when it is not.
#
# For each backend, on a fresh database:
#   first   USERS logins of USERS distinct users nobody has seen (each creates a user)
#   repeat  USERS logins of the same users again (each finds its user)
#   sms-send   USERS phone send_codes (202; the simulator's SMS sink receives the codes)
#   sms-login  USERS phone logins with those codes (each creates a user)
# One wx.login code per login is minted through the simulator's control API beforehand (not
# timed); then tests/examples/login_bench.rs fires POST /_auth/mp/login {"code"} with CONCURRENCY
# workers. A login is good only when it answers 200 with an access_token.
#
# Usage: bench/logins.sh
# Env:   KEEP=1 (keep the temp dir with configs and logs)
#        USERS=2000 CONCURRENCY=16 BACKENDS="sqlite postgres"
#        PG_URL=postgres://postgres@127.0.0.1:5432   (a scratch database is created and dropped)
#        SKIP_BUILD=1 (reuse the release binaries)
#        GATEWAY_BIN=path (another wxgate binary, e.g. a build of an earlier commit)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
USERS=${USERS:-2000}
CONCURRENCY=${CONCURRENCY:-16}
BACKENDS=${BACKENDS:-sqlite postgres}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PORT_SIM=19200 PORT_G=19090
APPID=wx00000000000000b1
export WXGATE_BENCH_MP_SECRET=bench-secret
PG_DB="wxgate_bench_$$"
PG_CREATED=0

WORK=$(mktemp -d /tmp/wxgate-bench-logins.XXXXXX)
PIDS=()

forget_pid() { # pid: stopped already, so cleanup must not signal a possibly reused id
    local kept=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
    PIDS=("${kept[@]}")
}
cleanup() {
    stop_pids 5 "${PIDS[@]}"
    if [ "$PG_CREATED" = 1 ]; then
        psql "$PG_URL/postgres" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 ||
            echo "logins.sh: could not drop database $PG_DB" >&2
    fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "logins.sh: $*" >&2; exit 1; }
. "$(dirname "$0")/common.sh"

command -v curl >/dev/null || die "curl is required"
cd "$ROOT"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p wxgate -p wxgate-sim
    cargo build --release -p wxgate-tests --examples
fi
GW=${GATEWAY_BIN:-$ROOT/target/release/wxgate}
SIM="$ROOT/target/release/wxgate-sim"
LB="$ROOT/target/release/examples/login_bench"
for b in "$GW" "$SIM" "$LB"; do [ -x "$b" ] || die "$b is missing (build it or unset SKIP_BUILD)"; done
ulimit -n 65536 2>/dev/null || true

for port in $PORT_SIM $PORT_G; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then die "port $port is already in use"; fi
done

echo "== preflight"
echo "date:     $(date -u +%FT%TZ)"
echo "host:     $(nproc) CPUs, $(uname -r)"
echo "commit:   $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "loadavg:  $(cut -d' ' -f1-3 /proc/loadavg)"
busy=$(ps -eo pid=,comm= | awk '$2 ~ /^(cargo|rustc|cc1|cc1plus|ld|lld|mold)$/' | wc -l)
[ "$busy" -gt 0 ] && echo "WARNING:  $busy compiler process(es) running (cargo/rustc/ld): figures will be noisy"
echo "load:     $USERS users, concurrency $CONCURRENCY, backends: $BACKENDS"

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# all PostgreSQL server processes (read only; a backend that exits mid-run loses its share)
pg_ticks() {
    local total=0 p t
    for p in $(pgrep -x postgres 2>/dev/null); do
        t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
        total=$((total + ${t:-0}))
    done
    echo "$total"
}
mem_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- simulator
"$SIM" --listen "127.0.0.1:$PORT_SIM" >"$WORK/sim.log" 2>&1 & PID_SIM=$!; PIDS+=("$PID_SIM")
wait_http "http://127.0.0.1:$PORT_SIM/_sim/health" 200 "the simulator" "$WORK/sim.log"
"$LB" setup --sim "http://127.0.0.1:$PORT_SIM" --appid "$APPID" --secret "$WXGATE_BENCH_MP_SECRET" \
    --open-platform bench-op --users "$USERS" --prefix bench

# pg_stat_statements: the database's own count of what each phase ran.
pg_stats_ready() { # url: preloads and creates the extension when missing (root, local cluster)
    local url=$1 preload
    preload=$(psql "$url" -qAtc "SHOW shared_preload_libraries" 2>/dev/null || true)
    if [[ "$preload" != *pg_stat_statements* ]]; then
        echo "   preloading pg_stat_statements (ALTER SYSTEM and a cluster restart)"
        psql "$url" -qAtc "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main restart
        for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.5; done
    fi
    psql "$url" -qAtc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
}
pg_reset_statements() { psql "$1" -qAtc "SELECT pg_stat_statements_reset()" >/dev/null; }
pg_statements() { # url phase operations dir: statements per operation, the busiest listed
    local url=$1 phase=$2 n=$3 dir=$4
    psql "$url" -qAt -F $'\t' -c "SELECT calls, round(total_exec_time::numeric, 1), \
        regexp_replace(left(query, 110), '\s+', ' ', 'g') FROM pg_stat_statements \
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
        AND query NOT ILIKE '%pg_stat_statements%' ORDER BY calls DESC" >"$dir/statements-$phase.tsv"
    awk -F'\t' -v n="$n" -v p="$phase" '{ calls += $1 } END {
        printf "   statements: %.2f per operation (%d in %d operations)\n", calls / n, calls, n
        printf "%s\t%.2f\n", p, calls / n >> "'"$WORK"'/statements.tsv" }' "$dir/statements-$phase.tsv"
    head -n 8 "$dir/statements-$phase.tsv" | awk -F'\t' -v n="$n" '{ printf "     %6.2f  %s\n", $1 / n, $3 }'
}

SUMMARY="$WORK/summary.tsv"   # backend phase rate p50 p99 max errors ok logins gw_cpu_us sim_cpu_us
: >"$SUMMARY"
ROUND=0

run_backend() { # name db-url
    local backend=$1 url=$2 dir="$WORK/$1"
    mkdir -p "$dir/keys"
    cat >"$dir/gateway.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT_G"

[database]
url = "$url"

[tokens]
keys_dir = "$dir/keys"

# One driver logs everyone in from loopback: the per-network cap is not what is measured.
[limits]
wechat_logins_per_minute = 1000000

[[channel]]
id = "mp"
kind = "wechat_miniprogram"
appid = "$APPID"
secret = "\${WXGATE_BENCH_MP_SECRET}"
api_base = "http://127.0.0.1:$PORT_SIM"

[[channel]]
id = "sms"
kind = "phone_sms"
sender = { kind = "webhook", url = "http://127.0.0.1:$PORT_SIM/sms" }
# One driver on loopback sends to every phone: the per-network caps are not what is measured.
sends_per_ip_hour = 1000000
guesses_per_ip_hour = 1000000
daily_budget = 1000000

[[route]]
prefix = "/api/"
upstream = "127.0.0.1:9"
auth = "required"
EOF
    "$GW" check --config "$dir/gateway.toml" >/dev/null || die "the gateway rejected its config"
    TMPDIR="$dir" NO_COLOR=1 RUST_LOG=warn "$GW" --config "$dir/gateway.toml" --threads 2 \
        >"$dir/gateway.log" 2>&1 & local pid_g=$!   # wxgate logs to stdout
    PIDS+=("$pid_g")
    wait_http "http://127.0.0.1:$PORT_G/_auth/readyz" 200 "the gateway on $backend" "$dir/gateway.log"

    # Is the channel served at all? A made-up code must be refused by WeChat (401), not 404.
    local probe
    probe=$(curl -s -o "$dir/probe" -w '%{http_code}' --max-time 10 -X POST \
        -H 'content-type: application/json' -d '{"code":"bench-not-a-code"}' \
        "http://127.0.0.1:$PORT_G/_auth/mp/login" || true)
    if [ "$probe" = 404 ]; then
        echo "!! POST /_auth/mp/login answers 404 on $backend: the mini-program channel is not served"
        cat "$dir/probe"; echo
        stop_pids 5 "$pid_g"; forget_pid "$pid_g"
        return 1
    fi
    echo "   probe: POST /_auth/mp/login with a made-up code -> $probe $(head -c 120 "$dir/probe")"

        local phase g0 g1 s0 s1 d0 d1 line channel mode input
    "$LB" phones --users "$USERS" --out "$dir/phones.txt" | sed 's/^/   /'
    for phase in first repeat sms-send sms-login; do
        ROUND=$((ROUND + 1))
        case $phase in
            first | repeat)
                channel=mp mode=code input="$dir/codes-$phase.txt"
                "$LB" mint --sim "http://127.0.0.1:$PORT_SIM" --appid "$APPID" --users "$USERS" \
                    --prefix bench --out "$input" | sed 's/^/   /'
                ;;
            sms-send) channel=sms mode=send input="$dir/phones.txt" ;;
            sms-login)
                channel=sms mode=sms input="$dir/sms-codes.txt"
                "$LB" sms-codes --sim "http://127.0.0.1:$PORT_SIM" --codes "$dir/phones.txt" \
                    --out "$input" | sed 's/^/   /'
                ;;
        esac
        [ "$backend" = postgres ] && pg_reset_statements "$url"
        g0=$(cpu_ticks "$pid_g"); s0=$(cpu_ticks "$PID_SIM"); d0=$(pg_ticks)
        set +e
        "$LB" login --gateway "http://127.0.0.1:$PORT_G" --channel "$channel" --mode "$mode" \
            --codes "$input" --concurrency "$CONCURRENCY" --label "$backend/$phase" \
            >"$dir/login-$phase.txt" 2>&1
        set -e
        g1=$(cpu_ticks "$pid_g"); s1=$(cpu_ticks "$PID_SIM"); d1=$(pg_ticks)
        [ "$backend" = postgres ] && pg_statements "$url" "$phase" "$USERS" "$dir"
        [ "$backend" = postgres ] || d1=$d0
        sed 's/^/   /' "$dir/login-$phase.txt"
        line=$(grep '^RESULT' "$dir/login-$phase.txt" || true)
        [ -n "$line" ] || die "login_bench failed on $backend/$phase"
        python3 - "$line" "$((g1 - g0))" "$((s1 - s0))" "$CLK_TCK" "$backend" "$phase" "$((d1 - d0))" >>"$SUMMARY" <<'PY'
import sys
kv = dict(p.split("=", 1) for p in sys.argv[1].split()[1:])
g, s, tck, d = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[7])
n = max(int(kv["logins"]), 1)
print(sys.argv[5], sys.argv[6], kv["rate"], kv["p50_ms"], kv["p99_ms"], kv["max_ms"], kv["errors"],
      kv["ok"], kv["logins"], f"{g * 1e6 / tck / n:.0f}", f"{s * 1e6 / tck / n:.0f}",
      f"{(g / tck) / float(kv['secs']) * 100:.0f}",
      f"{d * 1e6 / tck / n:.0f}" if sys.argv[5] == "postgres" else "-", sep="\t")
PY
    done
    echo "   gateway memory: VmRSS $(mem_kb "$pid_g" VmRSS) kB, VmHWM $(mem_kb "$pid_g" VmHWM) kB"
    if [ -s "$dir/gateway.log" ]; then
        echo "   gateway log (RUST_LOG=warn): $(wc -l <"$dir/gateway.log") line(s), by message:"
        grep -v '^{' "$dir/gateway.log" | sed 's/\x1b\[[0-9;]*m//g; s/^[0-9T:.Z-]* *//' | cut -c1-200 | sort | uniq -c |
            sort -rn | head -n 8 | sed 's/^/     /'
    fi
    stop_pids 5 "$pid_g"; forget_pid "$pid_g"
    return 0
}

for backend in $BACKENDS; do
    case $backend in
        sqlite)
            echo "== sqlite"
            run_backend sqlite "sqlite://$WORK/sqlite/wxgate.db?mode=rwc" || true
            ;;
        postgres)
            echo "== postgres ($PG_URL/$PG_DB)"
            if ! psql "$PG_URL/postgres" -qAtc "CREATE DATABASE $PG_DB" >/dev/null 2>"$WORK/pg.err"; then
                echo "!! cannot create $PG_DB on $PG_URL: $(cat "$WORK/pg.err"); skipped"
                continue
            fi
            PG_CREATED=1
            pg_stats_ready "$PG_URL/$PG_DB"
            run_backend postgres "$PG_URL/$PG_DB" || true
            ;;
        *) die "unknown backend $backend" ;;
    esac
done

echo
echo "== logins: $USERS operations per phase, concurrency $CONCURRENCY (gateway --threads 2)"
echo "   (first/repeat: mini-program logins; sms-send: send_code; sms-login: an SMS login)"
printf '%-9s %-9s %9s %7s %7s %7s %6s %10s %8s %11s %12s\n' backend phase logins/s p50_ms p99_ms max_ms errors "G us/login" "G CPU %" "pg us/login" "sim us/login"
while IFS=$'\t' read -r b p rate p50 p99 max err ok n g s gpct d; do
    printf '%-9s %-9s %9s %7s %7s %7s %6s %10s %8s %11s %12s\n' "$b" "$p" "$rate" "$p50" "$p99" "$max" "$err" "$g" "$gpct" "$d" "$s"
done <"$SUMMARY"
if [ -s "$WORK/statements.tsv" ]; then
    echo
    echo "== PostgreSQL statements per operation (pg_stat_statements)"
    while IFS=$'\t' read -r p per; do printf '   %-9s %6s\n' "$p" "$per"; done <"$WORK/statements.tsv"
fi
if awk -F'\t' '$7 != 0 {bad = 1} END {exit !bad}' "$SUMMARY"; then
    echo "!! some logins failed (see ERROR lines above)"
    exit 1
fi

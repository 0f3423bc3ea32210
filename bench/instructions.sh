#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the same total for the same binary and input
# whatever else the machine is doing, so a 5% change is visible where req/s moves by ±20%.
#
#   floor    wrk -> bare Pingora (gateway/examples/bare_pingora.rs) -> nginx
#   public   wrk -> wxgate /pub/x (auth = "public")                 -> nginx
#   bearer   wrk -> wxgate /api/x, Authorization: Bearer            -> nginx
#   cookie   wrk -> wxgate /api/x, the session cookie               -> nginx
#   bearer-min  as bearer, on a route with identity_headers = ["user", "assertion"]
#   public-nolog, bearer-nolog  as public and bearer on a second gateway with access_log = "off"
#            (the difference is what the access log costs, its writer thread included)
#   login    a mini-program login on SQLite (the simulator answers WeChat's part, outside valgrind)
#   nginx-tls  wrk -> nginx proxy_pass over HTTPS (HTTP/1.1), the same certificate -> nginx
#   tls-h1     wrk -> wxgate /pub/x over HTTPS (HTTP/1.1)                          -> nginx
#   nginx-h2   h2load -> nginx over HTTPS with HTTP/2                               -> nginx
#   tls-h2     h2load -> wxgate /pub/x over HTTPS with HTTP/2                       -> nginx
#   (connections are kept alive: handshakes fall in the warm-up, records and frames in the
#   count; nginx runs as one process, master_process off, under callgrind as well)
#
# (vgdb, which callgrind_control talks through, finds a process by its FIFOs in TMPDIR: the
# processes under test keep the default one.)
# Each process runs under `valgrind --tool=callgrind --instr-atstart=no` with one worker thread.
# Per scenario: warm-up with instrumentation off, then counters zeroed, instrumentation on,
# `wrk -t1 -c4` for DURATION seconds (or LOGINS logins), instrumentation off, and a dump: the
# total instructions of the process (every thread) divided by the requests wrk completed.
#
# Usage: bench/instructions.sh      (root; installs valgrind, wrk, nginx-light when missing)
# Env:   DURATION=10 WARMUP=3 LOGINS=300 KEEP=1 SKIP_BUILD=1
#        GATEWAY_BIN=path (another wxgate binary, e.g. a build of an earlier commit)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
LOGINS=${LOGINS:-300}
PORT_U=18181 PORT_G=18190 PORT_P=18195 PORT_SIM=18200 PORT_NT=18183 PORT_GT=18191 PORT_G2=18192
PORT_M=18196 PORT_M2=18197
APPID=wx00000000000000d1
export WXGATE_BENCH_MP_SECRET=bench-secret

WORK=$(mktemp -d /tmp/wxgate-bench-instr.XXXXXX)
PIDS=()
cleanup() {
    # callgrind writes its profile on exit: give it time.
    stop_pids 10 "${PIDS[@]}"
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "instructions.sh: $*" >&2; exit 1; }
. "$(dirname "$0")/common.sh"

install_missing valgrind=valgrind wrk=wrk nginx=nginx-light h2load=nghttp2-client openssl=openssl

cd "$ROOT"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p wxgate -p wxgate-sim
    cargo build --release -p wxgate --example bare_pingora
    cargo build --release -p wxgate-tests --example login_bench
fi
GW=${GATEWAY_BIN:-$ROOT/target/release/wxgate} BARE="$ROOT/target/release/examples/bare_pingora"
SIM="$ROOT/target/release/wxgate-sim" LB="$ROOT/target/release/examples/login_bench"
for b in "$GW" "$BARE" "$SIM" "$LB"; do [ -x "$b" ] || die "$b is missing"; done
for port in $PORT_U $PORT_G $PORT_P $PORT_SIM $PORT_NT $PORT_GT $PORT_G2 $PORT_M $PORT_M2; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then die "port $port is already in use"; fi
done

echo "== preflight"
echo "date:     $(date -u +%FT%TZ)"
echo "commit:   $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (+ uncommitted changes)')"
echo "valgrind: $(valgrind --version), wrk -t1 -c4 -d${DURATION}s after ${WARMUP}s warm-up"

# ---------------------------------------------------------------- upstream, simulator, configs
mkdir -p "$WORK/nginx" "$WORK/gw/keys"
BODY64="$(printf 'x%.0s' $(seq 63))\n"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
user root;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path $WORK/nginx/client_body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$PORT_U;
        default_type text/plain;
        location / { return 200 "$BODY64"; }
    }
}
EOF
nginx -c "$WORK/nginx/nginx.conf" 2>"$WORK/nginx/stderr" & PIDS+=($!)
wait_http "http://127.0.0.1:$PORT_U/" 200 "nginx" "$WORK/nginx/error.log"

"$SIM" --listen "127.0.0.1:$PORT_SIM" >"$WORK/sim.log" 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$PORT_SIM/_sim/health" 200 "the simulator" "$WORK/sim.log"
"$LB" setup --sim "http://127.0.0.1:$PORT_SIM" --appid "$APPID" --secret "$WXGATE_BENCH_MP_SECRET" \
    --open-platform bench-op --users "$LOGINS" --prefix inst >/dev/null

cat >"$WORK/gw/gateway.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT_G"
metrics_listen = "127.0.0.1:$PORT_M"

[database]
url = "sqlite://$WORK/gw/wxgate.db?mode=rwc"

[tokens]
access_ttl = "1h"
keys_dir = "$WORK/gw/keys"

[[channel]]
id = "mp"
kind = "wechat_miniprogram"
appid = "$APPID"
secret = "\${WXGATE_BENCH_MP_SECRET}"
api_base = "http://127.0.0.1:$PORT_SIM"

# One client network logs in 600 times: lift the per-network cap (60 a minute by default).
[limits]
wechat_logins_per_minute = 1000000

[[route]]
prefix = "/pub/"
upstream = "127.0.0.1:$PORT_U"
auth = "public"

[[route]]
prefix = "/api/"
upstream = "127.0.0.1:$PORT_U"
auth = "required"

[[route]]
prefix = "/min/"
upstream = "127.0.0.1:$PORT_U"
auth = "required"
identity_headers = ["user", "assertion"]
EOF
"$GW" check --config "$WORK/gw/gateway.toml" >/dev/null || die "the gateway rejected its config"
# The same gateway without the access log, on its own port.
sed -e "s/^listen = .*/listen = \"127.0.0.1:$PORT_G2\"\naccess_log = \"off\"/" \
    -e "s/^metrics_listen = .*/metrics_listen = \"127.0.0.1:$PORT_M2\"/" \
    "$WORK/gw/gateway.toml" >"$WORK/gw/gateway-nolog.toml"

# ---------------------------------------------------------------- measuring
callgrind() { # out-prefix, command...: starts it under callgrind, instrumentation off
    local out=$1
    shift
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out.%p" "$@" \
        >"$out.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# The process's total instructions from its newest dump.
dumped_ir() { # pid
    local file
    file=$(ls -t "$WORK"/*."$1"* 2>/dev/null | grep -v '\.log$' | head -n1)
    [ -n "$file" ] || die "no callgrind dump for pid $1"
    # `summary:` is what was counted since the last zeroing, as is `totals:`; take `totals:`.
    awk '/^totals:/ {print $2}' "$file" | tail -n1
}

# Instructions per request of `wrk` against URL, headers as further args.
# New upstream connections a gateway has opened (its metrics port): each costs a connect and a
# pool entry, so a scenario that lost more pool races (docs/pingora-proposals.md §1) counts
# more instructions per request; printed beside each gateway scenario to tell that noise apart.
declare -A METRICS_PORT=()
new_upstream_connections() { # metrics-port
    curl -sf "http://127.0.0.1:$1/metrics" |
        awk '/^wxgate_upstream_connections_total/ && /reused="false"/ { s += $NF } END { print s + 0 }'
}

measure() { # pid label url [wrk header args...]
    local pid=$1 label=$2 url=$3 mport=${METRICS_PORT[$1]:-} opened=""
    shift 3
    wrk -t1 -c4 -d"${WARMUP}s" "$@" "$url" >/dev/null 2>&1
    [ -z "$mport" ] || opened=$(new_upstream_connections "$mport")
    callgrind_control -z "$pid" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    wrk -t1 -c4 -d"${DURATION}s" "$@" "$url" >"$WORK/wrk-$label.txt" 2>&1
    callgrind_control -i off "$pid" >/dev/null 2>&1
    [ -z "$mport" ] || opened=$(( $(new_upstream_connections "$mport") - opened ))
    callgrind_control -d "$label" "$pid" >/dev/null 2>&1
    local requests ir non2xx
    requests=$(awk '/requests in/ {print $1}' "$WORK/wrk-$label.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk-$label.txt")
    [ -z "$non2xx" ] || die "$label: $non2xx answers were not 2xx"
    ir=$(dumped_ir "$pid")
    printf '%s %s %s\n' "$label" "$requests" "$ir" >>"$WORK/results"
    awk -v l="$label" -v n="$requests" -v ir="$ir" -v o="$opened" \
        'BEGIN { printf "   %-9s %8d requests  %14d instructions  %8.1fk per request", l, n, ir, ir / n / 1000
                 if (o != "") printf "  (%d new upstream connections, %.1f per 1000)", o, o * 1000 / n
                 printf "\n" }'
}

# Instructions per request of `h2load` (HTTP/2, 4 connections, one stream each) against URL.
measure_h2() { # pid label url
    local pid=$1 label=$2 url=$3
    h2load -t1 -c4 -m1 -D "$WARMUP" "$url" >/dev/null 2>&1
    callgrind_control -z "$pid" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    h2load -t1 -c4 -m1 -D "$DURATION" "$url" >"$WORK/h2load-$label.txt" 2>&1
    callgrind_control -i off "$pid" >/dev/null 2>&1
    callgrind_control -d "$label" "$pid" >/dev/null 2>&1
    local requests ok ir
    requests=$(awk '/^requests:/ {print $2}' "$WORK/h2load-$label.txt")
    ok=$(awk '/^status codes:/ {print $3}' "$WORK/h2load-$label.txt")
    if [ -z "$requests" ] || [ "$requests" != "$ok" ]; then
        cat "$WORK/h2load-$label.txt"
        die "$label: $ok of $requests answers were 2xx"
    fi
    grep -q "Application protocol: h2" "$WORK/h2load-$label.txt" || die "$label: not HTTP/2"
    ir=$(dumped_ir "$pid")
    printf '%s %s %s\n' "$label" "$requests" "$ir" >>"$WORK/results"
    awk -v l="$label" -v n="$requests" -v ir="$ir" \
        'BEGIN { printf "   %-9s %8d requests  %14d instructions  %8.1fk per request\n", l, n, ir, ir / n / 1000 }'
}

echo "== floor: bare Pingora"
callgrind "$WORK/bare" "$BARE" "127.0.0.1:$PORT_P" "127.0.0.1:$PORT_U" 1
PID_P=$LAST_PID
wait_http "http://127.0.0.1:$PORT_P/x" 200 "bare pingora" "$WORK/bare.log"
measure "$PID_P" floor "http://127.0.0.1:$PORT_P/pub/x"

echo "== gateway"
RUST_LOG=warn callgrind "$WORK/gateway" "$GW" --config "$WORK/gw/gateway.toml" --threads 1
PID_G=$LAST_PID
METRICS_PORT[$PID_G]=$PORT_M
for _ in $(seq 600); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT_G/_auth/healthz" && break
    kill -0 "$PID_G" 2>/dev/null || { tail -n 20 "$WORK/gateway.log"; die "the gateway exited"; }
    sleep 0.1
done
# A real login gives the token the authenticated scenarios present.
CODE=$("$LB" mint --sim "http://127.0.0.1:$PORT_SIM" --appid "$APPID" --users 1 --prefix inst --out "$WORK/one.txt" >/dev/null && head -n1 "$WORK/one.txt")
TOKEN=$(curl -sf "http://127.0.0.1:$PORT_G/_auth/mp/login" -H 'content-type: application/json' \
    -d "{\"code\":\"$CODE\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
[ -n "$TOKEN" ] || die "no token from the login"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT_G/api/x")" = 200 ] ||
    die "the token is refused on /api/"
measure "$PID_G" public "http://127.0.0.1:$PORT_G/pub/x"
measure "$PID_G" bearer "http://127.0.0.1:$PORT_G/api/x" -H "Authorization: Bearer $TOKEN"
measure "$PID_G" cookie "http://127.0.0.1:$PORT_G/api/x" -H "Cookie: theme=dark; wxgate=$TOKEN"
measure "$PID_G" bearer-min "http://127.0.0.1:$PORT_G/min/x" -H "Authorization: Bearer $TOKEN"

echo "== gateway, access log off"
RUST_LOG=warn callgrind "$WORK/gateway-nolog" "$GW" --config "$WORK/gw/gateway-nolog.toml" --threads 1
PID_G2=$LAST_PID
METRICS_PORT[$PID_G2]=$PORT_M2
for _ in $(seq 600); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT_G2/_auth/healthz" && break
    kill -0 "$PID_G2" 2>/dev/null || { tail -n 20 "$WORK/gateway-nolog.log"; die "the second gateway exited"; }
    sleep 0.1
done
measure "$PID_G2" public-nolog "http://127.0.0.1:$PORT_G2/pub/x"
measure "$PID_G2" bearer-nolog "http://127.0.0.1:$PORT_G2/api/x" -H "Authorization: Bearer $TOKEN"

echo "== HTTPS, one certificate for nginx and the gateway"
make_cert "$WORK/tls"
mkdir -p "$WORK/nginx-tls"
cat >"$WORK/nginx-tls/nginx.conf" <<NGINX
worker_processes 1;
master_process off;
daemon off;
user root;
pid $WORK/nginx-tls/nginx.pid;
error_log $WORK/nginx-tls/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path $WORK/nginx-tls/client_body;
    proxy_temp_path $WORK/nginx-tls/proxy;
    fastcgi_temp_path $WORK/nginx-tls/fastcgi;
    uwsgi_temp_path $WORK/nginx-tls/uwsgi;
    scgi_temp_path $WORK/nginx-tls/scgi;
    upstream up {
        server 127.0.0.1:$PORT_U;
        keepalive 16;
    }
$(nginx_tls_proxy "$PORT_NT" "$WORK/tls")
}
NGINX
callgrind "$WORK/nginx-tls" nginx -c "$WORK/nginx-tls/nginx.conf"
PID_NT=$LAST_PID
{
    sed "s|^listen = .*|listen = \"127.0.0.1:$PORT_GT\"|" "$WORK/gw/gateway.toml" | grep -v '^metrics_listen' |
        sed -n '1,/^\[database\]/p' | sed '$d'
    echo "tls = { cert = \"$WORK/tls/cert.pem\", key = \"$WORK/tls/key.pem\" }"
    echo
    sed -n '/^\[database\]/,$p' "$WORK/gw/gateway.toml"
} >"$WORK/gw/gateway-tls.toml"
"$GW" check --config "$WORK/gw/gateway-tls.toml" >/dev/null || die "the gateway rejected its HTTPS config"
RUST_LOG=warn callgrind "$WORK/gateway-tls" "$GW" --config "$WORK/gw/gateway-tls.toml" --threads 1
PID_GT=$LAST_PID
ready=0
for _ in $(seq 600); do
    if curl -sf -o /dev/null --cacert "$WORK/tls/ca.pem" "https://localhost:$PORT_NT/pub/x" &&
        curl -sf -o /dev/null --cacert "$WORK/tls/ca.pem" "https://localhost:$PORT_GT/_auth/healthz"; then
        ready=1
        break
    fi
    kill -0 "$PID_GT" 2>/dev/null || { tail -n 20 "$WORK/gateway-tls.log"; die "the HTTPS gateway exited"; }
    sleep 0.1
done
[ "$ready" = 1 ] || die "nginx or the gateway did not answer over HTTPS"
measure "$PID_NT" nginx-tls "https://localhost:$PORT_NT/pub/x"
measure "$PID_GT" tls-h1 "https://localhost:$PORT_GT/pub/x"
measure_h2 "$PID_NT" nginx-h2 "https://localhost:$PORT_NT/pub/x"
measure_h2 "$PID_GT" tls-h2 "https://localhost:$PORT_GT/pub/x"

echo "== login (SQLite, $LOGINS logins, concurrency 4)"
"$LB" mint --sim "http://127.0.0.1:$PORT_SIM" --appid "$APPID" --users "$LOGINS" --prefix inst \
    --out "$WORK/codes.txt" >/dev/null
# Warm: the first logins create the users; the measured ones find them (a repeat login).
"$LB" login --gateway "http://127.0.0.1:$PORT_G" --channel mp --codes "$WORK/codes.txt" \
    --concurrency 4 --label warm >/dev/null
"$LB" mint --sim "http://127.0.0.1:$PORT_SIM" --appid "$APPID" --users "$LOGINS" --prefix inst \
    --out "$WORK/codes2.txt" >/dev/null
callgrind_control -z "$PID_G" >/dev/null 2>&1
callgrind_control -i on "$PID_G" >/dev/null 2>&1
"$LB" login --gateway "http://127.0.0.1:$PORT_G" --channel mp --codes "$WORK/codes2.txt" \
    --concurrency 4 --label measured >"$WORK/login.txt"
callgrind_control -i off "$PID_G" >/dev/null 2>&1
callgrind_control -d login "$PID_G" >/dev/null 2>&1
ok=$(sed -n 's/^RESULT.* ok=\([0-9]*\).*/\1/p' "$WORK/login.txt")
[ "$ok" = "$LOGINS" ] || { cat "$WORK/login.txt"; die "only $ok of $LOGINS logins succeeded"; }
ir=$(dumped_ir "$PID_G")
printf 'login %s %s\n' "$ok" "$ir" >>"$WORK/results"
awk -v n="$ok" -v ir="$ir" \
    'BEGIN { printf "   login   %8d logins    %14d instructions  %8.1fk per login\n", n, ir, ir / n / 1000 }'

echo "== instructions per request"
python3 - "$WORK/results" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    label, n, ir = line.split()
    rows[label] = int(ir) / int(n)
floor = rows["floor"]
print(f"   {'path':<8} {'instr/req':>10} {'x floor':>8} {'- public':>9}")
for label in ["floor", "public", "bearer", "cookie", "bearer-min", "public-nolog", "bearer-nolog"]:
    v = rows[label]
    base = rows["public-nolog"] if label.endswith("-nolog") else rows["public"]
    extra = f"{(v - base) / 1000:+8.1f}k" if label.startswith(("bearer", "cookie")) else ""
    print(f"   {label:<12} {v / 1000:9.1f}k {v / floor:7.2f}x {extra:>9}")
print()
print("== issue 22's targets, against the floor measured above")
for label, target in [("public", 1.10), ("bearer", 1.25), ("bearer-min", 1.15)]:
    v = rows[label] / floor
    print(f"   {label:<12} {v:5.2f}x  target <= {target:.2f}x  {'met' if v <= target else 'NOT met'}")
cost = (rows["public"] - rows["public-nolog"]) / 1000
print(f"   access log   {cost:+5.1f}k per request (public; bearer {(rows['bearer'] - rows['bearer-nolog']) / 1000:+.1f}k)  target <= 3.0k  {'met' if cost <= 3.0 else 'NOT met'}")
print(f"   {'login':<8} {rows['login'] / 1000:9.1f}k   (a repeat mini-program login on SQLite, gateway side)")
print()
print("== over HTTPS, beside nginx with the same certificate (kept-alive connections)")
print(f"   {'path':<9} {'instr/req':>10} {'x nginx':>8} {'x plain':>8}")
for label, nginx in [("nginx-tls", "nginx-tls"), ("tls-h1", "nginx-tls"), ("nginx-h2", "nginx-h2"), ("tls-h2", "nginx-h2")]:
    v = rows[label]
    plain = f"{v / rows['public']:7.2f}x" if label.startswith("tls") else ""
    print(f"   {label:<9} {v / 1000:9.1f}k {v / rows[nginx]:7.2f}x {plain:>8}")
PY

#!/usr/bin/env bash
# Proxy benchmark: one run, one machine, loopback only, ratios are what matter.
#
#   S0  wrk -> U                       nginx `return 200` (64-byte body), the upstream
#   S1  wrk -> N -> U                  nginx proxy_pass, upstream keep-alive (reference proxy)
#   S2  wrk -> G /pub/x -> U           wxgate, public route (pure proxy cost)
#   S3  wrk -> G /api/x -> U           wxgate, required route, valid HS256 bearer token
#   S4  wrk -> H -> U                  HAProxy 2.6, jwt_verify HS256 + X-Auth-User from `sub`
#   P   wrk -> P -> U                  bare Pingora: a ProxyHttp that only picks the upstream
#                                      (gateway/examples/bare_pingora.rs), the floor under S2/S3
#   T1  wrk -> N (HTTPS) -> U          nginx proxy_pass over TLS 1.3, HTTP/1.1
#   T2  wrk -> G (HTTPS) /pub/x -> U   wxgate, public route over TLS 1.3, HTTP/1.1 (same cert)
#   T3  h2load -> N (HTTPS, h2) -> U   nginx over HTTP/2 (one stream per connection)
#   T4  h2load -> G (HTTPS, h2) -> U   wxgate over HTTP/2 (same cert, same load)
#
# Each scenario: 3 s warm-up, then `wrk -t1 -c32 -d10s --latency` (`h2load -t1 -c32 -m1` for T3
# and T4, which report no percentiles); the round S0..S4, P, T1..T4 is repeated
# ROUNDS times (interleaved) and the median of each figure is printed. CPU µs/request of the
# process under test comes from utime+stime in /proc/<pid>/stat (all threads, and nginx workers).
# Total runtime about 7 minutes plus the build.
#
# Usage: bench/proxy.sh            (root; installs nginx-light, haproxy, wrk, nghttp2-client when missing)
# Env:   KEEP=1 (keep the temp dir with configs and logs)
#        ROUNDS=3 DURATION=10 WARMUP=3 CONNS=32 SKIP_BUILD=1 (reuse target/release/wxgate)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNS=${CONNS:-32}
PORT_U=18081 PORT_N=18080 PORT_H=18082 PORT_G=18090 PORT_P=18095 PORT_NT=18083 PORT_GT=18091
HAPROXY_SECRET="bench-haproxy-hs256-secret-0123456789"

WORK=$(mktemp -d /tmp/wxgate-bench-proxy.XXXXXX)
PIDS=()

cleanup() {
    stop_pids 5 "${PIDS[@]}"
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "proxy.sh: $*" >&2; exit 1; }
. "$(dirname "$0")/common.sh"

# ---------------------------------------------------------------- install and build
install_missing nginx=nginx-light haproxy=haproxy wrk=wrk curl=curl h2load=nghttp2-client openssl=openssl
command -v python3 >/dev/null || die "python3 is required (token minting, statistics)"

cd "$ROOT"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p wxgate -p wxgate-sim
    cargo build --release -p wxgate --example bare_pingora
fi
GW="$ROOT/target/release/wxgate"
BARE="$ROOT/target/release/examples/bare_pingora"
[ -x "$GW" ] || die "$GW is missing (build it or unset SKIP_BUILD)"
[ -x "$BARE" ] || die "$BARE is missing (build it or unset SKIP_BUILD)"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- preflight
echo "== preflight"
echo "date:     $(date -u +%FT%TZ)"
echo "host:     $(nproc) CPUs, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "rustc:    $(rustc -V 2>/dev/null || echo '?')"
echo "nginx:    $(nginx -v 2>&1 | sed 's/.*: //')"
echo "haproxy:  $(haproxy -v | head -1 | awk '{print $3}')"
echo "wrk:      $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
echo "commit:   $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
echo "gateway:  $GW ($(stat -c %y "$GW" | cut -d. -f1))"
echo "loadavg:  $(cut -d' ' -f1-3 /proc/loadavg)"
busy=$(ps -eo pid=,comm= | awk '$2 ~ /^(cargo|rustc|cc1|cc1plus|ld|lld|mold)$/' | wc -l)
if [ "$busy" -gt 0 ]; then
    echo "WARNING:  $busy compiler process(es) running (cargo/rustc/ld): figures will be noisy"
fi

for port in $PORT_U $PORT_N $PORT_H $PORT_G $PORT_P $PORT_NT $PORT_GT; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        die "port $port is already in use"
    fi
done

# ---------------------------------------------------------------- configs
BODY64=$(printf 'x%.0s' $(seq 63))
BODY64="${BODY64}\n"   # 63 'x' + newline = 64 bytes
mkdir -p "$WORK"/nginx-u "$WORK"/nginx-n "$WORK"/gw/keys "$WORK"/gwt
make_cert "$WORK/tls"

nginx_common() { # $1 = dir
    cat <<EOF
worker_processes 1;
daemon off;
user root;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; multi_accept on; }
EOF
}
nginx_temp() { # $1 = dir
    cat <<EOF
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
EOF
}

{
    nginx_common "$WORK/nginx-u"
    cat <<EOF
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
$(nginx_temp "$WORK/nginx-u")
    server {
        listen 127.0.0.1:$PORT_U backlog=4096;
        default_type text/plain;
        # what the upstream received as X-Auth-User (identity-header smoke check)
        location ~ /echo\$ { return 200 "\$http_x_auth_user"; }
        location / { return 200 "$BODY64"; }
    }
}
EOF
} >"$WORK/nginx-u/nginx.conf"

{
    nginx_common "$WORK/nginx-n"
    cat <<EOF
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
$(nginx_temp "$WORK/nginx-n")
    upstream up {
        server 127.0.0.1:$PORT_U;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$PORT_N backlog=4096;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # mirror the gateway's identity-header stripping
            proxy_set_header X-Auth-User "";
        }
    }
$(nginx_tls_proxy "$PORT_NT" "$WORK/tls" backlog=4096)
}
EOF
} >"$WORK/nginx-n/nginx.conf"

cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
    tune.bufsize 16384

defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s

frontend bench
    bind 127.0.0.1:$PORT_H
    http-request set-var(txn.bearer) http_auth_bearer
    http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('\$.alg')
    http-request deny unless { var(txn.alg) -m str HS256 }
    http-request deny unless { var(txn.bearer),jwt_verify(txn.alg,"$HAPROXY_SECRET") -m int 1 }
    http-request set-header X-Auth-User %[var(txn.bearer),jwt_payload_query('\$.sub')]
    default_backend upstream

backend upstream
    http-reuse always
    server u 127.0.0.1:$PORT_U
EOF
haproxy -c -q -f "$WORK/haproxy.cfg" || die "haproxy rejected its config"

cat >"$WORK/gw/gateway.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT_G"

[database]
url = "sqlite://$WORK/gw/wxgate.db?mode=rwc"

[tokens]
access_ttl = "1h"
keys_dir = "$WORK/gw/keys"

[[route]]
prefix = "/pub/"
upstream = "127.0.0.1:$PORT_U"
auth = "public"

[[route]]
prefix = "/api/"
upstream = "127.0.0.1:$PORT_U"
auth = "required"
EOF
"$GW" check --config "$WORK/gw/gateway.toml" >/dev/null || die "the gateway rejected its config"

# The same gateway on HTTPS with nginx's certificate (its own database and keys).
cat >"$WORK/gwt/gateway.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT_GT"
tls = { cert = "$WORK/tls/cert.pem", key = "$WORK/tls/key.pem" }

[database]
url = "sqlite://$WORK/gwt/wxgate.db?mode=rwc"

[tokens]
keys_dir = "$WORK/gwt/keys"

[[route]]
prefix = "/pub/"
upstream = "127.0.0.1:$PORT_U"
auth = "public"
EOF
"$GW" check --config "$WORK/gwt/gateway.toml" >/dev/null || die "the gateway rejected its HTTPS config"

# ---------------------------------------------------------------- start

nginx -c "$WORK/nginx-u/nginx.conf" 2>"$WORK/nginx-u/stderr" & PID_U=$!; PIDS+=("$PID_U")
nginx -c "$WORK/nginx-n/nginx.conf" 2>"$WORK/nginx-n/stderr" & PID_N=$!; PIDS+=("$PID_N")
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 & PID_H=$!; PIDS+=("$PID_H")
TMPDIR="$WORK/gw" NO_COLOR=1 RUST_LOG=warn "$GW" --config "$WORK/gw/gateway.toml" --threads 1 >"$WORK/gw/gateway.log" 2>&1 & PID_G=$!; PIDS+=("$PID_G")
TMPDIR="$WORK" RUST_LOG=warn "$BARE" "127.0.0.1:$PORT_P" "127.0.0.1:$PORT_U" 1 >"$WORK/bare.log" 2>&1 & PID_P=$!; PIDS+=("$PID_P")
TMPDIR="$WORK/gwt" NO_COLOR=1 RUST_LOG=warn "$GW" --config "$WORK/gwt/gateway.toml" --threads 1 >"$WORK/gwt/gateway.log" 2>&1 & PID_GT=$!; PIDS+=("$PID_GT")

wait_http "http://127.0.0.1:$PORT_U/" 200 "upstream nginx" "$WORK/nginx-u/error.log"
wait_http "http://127.0.0.1:$PORT_N/" 200 "reference nginx" "$WORK/nginx-n/error.log"
wait_http "http://127.0.0.1:$PORT_G/_auth/healthz" 200 "the gateway" "$WORK/gw/gateway.log"
wait_http "http://127.0.0.1:$PORT_P/x" 200 "bare pingora" "$WORK/bare.log"
for _ in $(seq 150); do
    curl -sf -o /dev/null --cacert "$WORK/tls/ca.pem" "https://localhost:$PORT_GT/_auth/healthz" && break
    sleep 0.1
done
# haproxy answers 403 without a token once it is up
wait_http "http://127.0.0.1:$PORT_H/" 403 "haproxy" "$WORK/haproxy.log"

# ---------------------------------------------------------------- tokens
TOKEN_G=$(python3 - "$WORK/gw/keys/access" <<'PY'
import base64, hashlib, hmac, json, os, sys, time
d = sys.argv[1]
files = sorted(f for f in os.listdir(d) if f.endswith(".key"))
if not files:
    sys.exit("no access key in " + d)
name = files[-1]
kid = name[:-len(".key")].split("-", 1)[1]
secret = base64.b64decode(open(os.path.join(d, name)).read().strip())
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
js = lambda o: json.dumps(o, separators=(",", ":")).encode()
now = int(time.time())
head = b64(js({"alg": "HS256", "typ": "at+jwt", "kid": kid}))
body = b64(js({"iss": "wxgate", "aud": "wxgate:access", "sub": "u_bench", "iat": now,
               "exp": now + 3000, "sid": "s_bench", "chn": "mp", "oid": "oBench"}))
sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
)
TOKEN_H=$(python3 - "$HAPROXY_SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
secret = sys.argv[1].encode()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
js = lambda o: json.dumps(o, separators=(",", ":")).encode()
now = int(time.time())
head = b64(js({"alg": "HS256", "typ": "JWT"}))
body = b64(js({"iss": "bench", "sub": "u_bench", "iat": now, "exp": now + 3000}))
sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
)
# the same token with the first character of its signature changed (not the last one: its low
# bits are base64 padding, which a lenient decoder ignores)
tamper() { local sig=${1##*.}; echo "${1%.*}.$([ "${sig:0:1}" = A ] && echo B || echo A)${sig:1}"; }
BAD_G=$(tamper "$TOKEN_G")
BAD_H=$(tamper "$TOKEN_H")

# ---------------------------------------------------------------- smoke checks
echo "== smoke checks"
FAILS=0
check() { # what expected actual
    if [ "$2" = "$3" ]; then
        printf '  ok    %-58s %s\n' "$1" "$3"
    else
        printf '  FAIL  %-58s got %q, want %q\n' "$1" "$3" "$2"; FAILS=$((FAILS + 1))
    fi
}
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
body() { curl -s --max-time 5 "$@"; }
AUTH_G="Authorization: Bearer $TOKEN_G"
AUTH_H="Authorization: Bearer $TOKEN_H"

check "U  GET /x body is 64 bytes" 64 "$(body "http://127.0.0.1:$PORT_U/x" | wc -c | tr -d ' ')"
check "N  GET /x" 200 "$(status "http://127.0.0.1:$PORT_N/x")"
check "P  GET /x body is 64 bytes" 64 "$(body "http://127.0.0.1:$PORT_P/x" | wc -c | tr -d ' ')"
check "G  GET /pub/x (S2)" 200 "$(status "http://127.0.0.1:$PORT_G/pub/x")"
check "G  GET /api/x with the token (S3)" 200 "$(status -H "$AUTH_G" "http://127.0.0.1:$PORT_G/api/x")"
check "G  GET /api/x without a token" 401 "$(status "http://127.0.0.1:$PORT_G/api/x")"
check "G  GET /api/x with a bad signature" 401 "$(status -H "Authorization: Bearer $BAD_G" "http://127.0.0.1:$PORT_G/api/x")"
check "G  /pub/echo, client sends X-Auth-User: admin -> upstream sees" "" \
    "$(body -H 'X-Auth-User: admin' "http://127.0.0.1:$PORT_G/pub/echo")"
check "G  /api/echo + token, client sends X-Auth-User: admin" u_bench \
    "$(body -H 'X-Auth-User: admin' -H "$AUTH_G" "http://127.0.0.1:$PORT_G/api/echo")"
check "N  /echo, client sends X-Auth-User: admin -> upstream sees" "" \
    "$(body -H 'X-Auth-User: admin' "http://127.0.0.1:$PORT_N/echo")"
check "H  GET /x with its token (S4)" 200 "$(status -H "$AUTH_H" "http://127.0.0.1:$PORT_H/x")"
check "H  GET /x without a token" 403 "$(status "http://127.0.0.1:$PORT_H/x")"
check "H  GET /x with a bad signature" 403 "$(status -H "Authorization: Bearer $BAD_H" "http://127.0.0.1:$PORT_H/x")"
check "H  GET /x with the gateway's token (other secret)" 403 "$(status -H "$AUTH_G" "http://127.0.0.1:$PORT_H/x")"
check "H  /echo + token, client sends X-Auth-User: admin" u_bench \
    "$(body -H 'X-Auth-User: admin' -H "$AUTH_H" "http://127.0.0.1:$PORT_H/echo")"
TLS_CA=(--cacert "$WORK/tls/ca.pem")
check "N  HTTPS h1 /x (T1)" 200 "$(status "${TLS_CA[@]}" --http1.1 "https://localhost:$PORT_NT/x")"
check "G  HTTPS h1 /pub/x (T2)" 200 "$(status "${TLS_CA[@]}" --http1.1 "https://localhost:$PORT_GT/pub/x")"
check "N  HTTPS h2 /x (T3)" 2 "$(curl -s -o /dev/null -w '%{http_version}' "${TLS_CA[@]}" --http2 "https://localhost:$PORT_NT/x")"
check "G  HTTPS h2 /pub/x (T4)" 2 "$(curl -s -o /dev/null -w '%{http_version}' "${TLS_CA[@]}" --http2 "https://localhost:$PORT_GT/pub/x")"
check "G  HTTPS /pub/echo, client sends X-Auth-User: admin" "" \
    "$(body "${TLS_CA[@]}" -H 'X-Auth-User: admin' "https://localhost:$PORT_GT/pub/echo")"
[ "$FAILS" = 0 ] || die "$FAILS smoke check(s) failed; not benchmarking"

# ---------------------------------------------------------------- load
CLK_TCK=$(getconf CLK_TCK)
# utime+stime (ticks) of a process and its direct children (nginx master + worker); /proc/<pid>/stat
# already sums all threads of a process.
cpu_ticks() {
    local total=0 p t
    for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
        t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
        total=$((total + ${t:-0}))
    done
    echo "$total"
}
mem() { # pid field
    awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

SCEN_IDS=(S0 S1 S2 S3 S4 P T1 T2 T3 T4)
declare -A URL HDR PROC DESC TOOL
URL[S0]="http://127.0.0.1:$PORT_U/x";      HDR[S0]="";        PROC[S0]=$PID_U; DESC[S0]="U direct (nginx return 200)"
URL[S1]="http://127.0.0.1:$PORT_N/x";      HDR[S1]="";        PROC[S1]=$PID_N; DESC[S1]="N nginx proxy_pass, keep-alive"
URL[S2]="http://127.0.0.1:$PORT_G/pub/x";  HDR[S2]="";        PROC[S2]=$PID_G; DESC[S2]="G public route"
URL[S3]="http://127.0.0.1:$PORT_G/api/x";  HDR[S3]="$AUTH_G"; PROC[S3]=$PID_G; DESC[S3]="G required route + bearer"
URL[S4]="http://127.0.0.1:$PORT_H/x";      HDR[S4]="$AUTH_H"; PROC[S4]=$PID_H; DESC[S4]="H haproxy jwt_verify HS256"
URL[P]="http://127.0.0.1:$PORT_P/x";       HDR[P]="";         PROC[P]=$PID_P;  DESC[P]="P bare Pingora ProxyHttp"
URL[T1]="https://localhost:$PORT_NT/x";    HDR[T1]="";        PROC[T1]=$PID_N;  DESC[T1]="N nginx HTTPS h1"
URL[T2]="https://localhost:$PORT_GT/pub/x"; HDR[T2]="";       PROC[T2]=$PID_GT; DESC[T2]="G public route HTTPS h1"
URL[T3]="https://localhost:$PORT_NT/x";    HDR[T3]="";        PROC[T3]=$PID_N;  DESC[T3]="N nginx HTTPS h2"
URL[T4]="https://localhost:$PORT_GT/pub/x"; HDR[T4]="";       PROC[T4]=$PID_GT; DESC[T4]="G public route HTTPS h2"
for s in "${SCEN_IDS[@]}"; do TOOL[$s]=wrk; done
TOOL[T3]=h2load; TOOL[T4]=h2load

run_wrk() { # scenario seconds outfile
    local s=$1
    if [ "${TOOL[$s]}" = h2load ]; then
        h2load -t1 -c"$CONNS" -m1 -D "$2" "${URL[$s]}" >"$3" 2>&1
        return
    fi
    local args=(-t1 -c"$CONNS" -d"$2"s --latency --timeout 5s)
    [ -n "${HDR[$s]}" ] && args+=(-H "${HDR[$s]}")
    wrk "${args[@]}" "${URL[$s]}" >"$3" 2>&1
}

RESULTS="$WORK/results.tsv"   # round scen rps p50_us p99_us requests non2xx sockerr cpu_sut_ticks cpu_u_ticks
: >"$RESULTS"
RSS_G_BEFORE=$(mem "$PID_G" VmRSS)
echo "== load: $ROUNDS round(s) of ${SCEN_IDS[*]}, each ${WARMUP}s warm-up + wrk -t1 -c$CONNS -d${DURATION}s"
for round in $(seq "$ROUNDS"); do
    for s in "${SCEN_IDS[@]}"; do
        run_wrk "$s" "$WARMUP" "$WORK/warm.txt"
        c0=$(cpu_ticks "${PROC[$s]}"); u0=$(cpu_ticks "$PID_U")
        run_wrk "$s" "$DURATION" "$WORK/wrk-$round-$s.txt"
        c1=$(cpu_ticks "${PROC[$s]}"); u1=$(cpu_ticks "$PID_U")
        line=$(python3 - "$WORK/wrk-$round-$s.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def us(v, unit):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 6e7}[unit]
def lat(pct):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % pct, t, re.M)
    return us(*m.groups()) if m else float("nan")
if "finished in" in t and "req/s" in t and "Requests/sec" not in t:
    # h2load: no percentiles; errors are failed/errored/timed-out requests and non-2xx codes.
    rps = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", t)
    req = re.search(r"requests: \d+ total, \d+ started, (\d+) done", t)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", t)
    fails = re.search(r"(\d+) failed, (\d+) errored, (\d+) timeout", t)
    print(rps.group(1) if rps else "0", float("nan"), float("nan"), req.group(1) if req else "0",
          int(codes.group(3)) + int(codes.group(4)) if codes else 0,
          sum(map(int, fails.groups())) if fails else 0, sep="\t")
    sys.exit()
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
req = re.search(r"(\d+) requests in", t)
non2 = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
print(rps.group(1) if rps else "0", lat(50), lat(99), req.group(1) if req else "0",
      non2.group(1) if non2 else "0", sum(map(int, sock.groups())) if sock else 0, sep="\t")
PY
)
        printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$s" "$line" $((c1 - c0)) $((u1 - u0)) >>"$RESULTS"
        printf '  round %s %s %-32s %10.0f req/s  p99 %8.0f us\n' "$round" "$s" "${DESC[$s]}" \
            "$(cut -f1 <<<"$line")" "$(cut -f3 <<<"$line")"
    done
done
RSS_G=$(mem "$PID_G" VmRSS); HWM_G=$(mem "$PID_G" VmHWM)
RSS_N=$(mem "$PID_N" VmRSS); RSS_H=$(mem "$PID_H" VmRSS)
for p in $(ps -o pid= --ppid "$PID_N"); do RSS_N=$((RSS_N + $(mem "$p" VmRSS))); done
THREADS_G=$(awk '$1 == "Threads:" {print $2}' "/proc/$PID_G/status")

# ---------------------------------------------------------------- report
echo
python3 - "$RESULTS" "$CLK_TCK" <<PY
import math, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
tick_us = 1e6 / int(sys.argv[2])
desc = {
    "S0": "${DESC[S0]}", "S1": "${DESC[S1]}", "S2": "${DESC[S2]}",
    "S3": "${DESC[S3]}", "S4": "${DESC[S4]}", "P": "${DESC[P]}",
    "T1": "${DESC[T1]}", "T2": "${DESC[T2]}", "T3": "${DESC[T3]}", "T4": "${DESC[T4]}",
}
sut = {"S0": "U", "S1": "N", "S2": "G", "S3": "G", "S4": "H", "P": "P",
       "T1": "N", "T2": "G", "T3": "N", "T4": "G"}
by = {}
bad = []
for r in rows:
    rnd, s, rps, p50, p99, req, non2, sock, cpu, cpu_u = r
    req = int(req)
    by.setdefault(s, []).append(dict(
        rps=float(rps), p50=float(p50), p99=float(p99), req=req,
        cpu=int(cpu) * tick_us / req if req else math.nan,
        cpu_u=int(cpu_u) * tick_us / req if req else math.nan))
    if int(non2) or int(sock):
        bad.append(f"round {rnd} {s}: {non2} non-2xx, {sock} socket errors")
med = lambda s, k: statistics.median(x[k] for x in by[s])
rng = lambda s, k: (min(x[k] for x in by[s]), max(x[k] for x in by[s]))
print(f"== results: median of {len(by['S0'])} run(s); CPU = utime+stime of the process under test / requests")
print(f"{'id':3} {'scenario':33} {'req/s':>9} {'(min-max)':>17} {'p50 us':>8} {'p99 us':>8} {'(min-max)':>15} {'CPU us/req':>10} {'U us/req':>8}")
for s in [x for x in ("S0", "S1", "P", "S2", "S3", "S4", "T1", "T2", "T3", "T4") if x in by]:
    lo, hi = rng(s, "rps"); plo, phi = rng(s, "p99")
    print(f"{s:3} {desc[s]:33} {med(s,'rps'):9.0f} {f'({lo:.0f}-{hi:.0f})':>17} {med(s,'p50'):8.0f} "
          f"{med(s,'p99'):8.0f} {f'({plo:.0f}-{phi:.0f})':>15} {med(s,'cpu'):7.1f} {sut[s]} {med(s,'cpu_u'):8.1f}")
print()
print("== ratios (median req/s)")
def ratio(a, b, note):
    v = med(a, "rps") / med(b, "rps")
    print(f"  {a}/{b} = {v:5.3f}   {note}")
    return v
r31 = ratio("S3", "S1", "gateway authenticated vs nginx proxy        (target >= 0.90)")
r32 = ratio("S3", "S2", "gateway authenticated vs its public route   (target >= 0.95)")
ratio("S2", "S1", "gateway public vs nginx proxy")
r34 = ratio("S3", "S4", "gateway authenticated vs haproxy jwt_verify (goal > 1.00)")
ratio("S2", "S0", "gateway public vs upstream direct")
ratio("S1", "S0", "nginx proxy vs upstream direct (calibration: ~0.40 on the reference box)")
rp1 = ratio("P", "S1", "bare Pingora vs nginx proxy (the ceiling for any Pingora proxy's S3/S1)")
ratio("S2", "P", "gateway public vs bare Pingora (what wxgate's own proxy work costs)")
ratio("S3", "P", "gateway authenticated vs bare Pingora")
ratio("T2", "T1", "gateway HTTPS h1 vs nginx HTTPS h1 (same certificate)")
ratio("T4", "T3", "gateway HTTPS h2 vs nginx HTTPS h2 (same certificate)")
ratio("T2", "S2", "gateway HTTPS h1 vs its plain public route")
print()
print("== CPU per request")
c1, c2, c3, c4, cp = (med(s, "cpu") for s in ("S1", "S2", "S3", "S4", "P"))
print(f"  CPU_P(P)/CPU_N(S1)  = {cp/c1:5.2f}   (Pingora's own floor against nginx)")
print(f"  CPU_G(S2)-CPU_P(P)  = {c2-cp:5.1f} us  (wxgate's proxy work over bare Pingora)")
print(f"  CPU_G(S2)/CPU_N(S1) = {c2/c1:5.2f}   (proposal: <= 1.5)")
print(f"  CPU_G(S3)/CPU_N(S1) = {c3/c1:5.2f}")
print(f"  CPU_G(S3)/CPU_H(S4) = {c3/c4:5.2f}")
print(f"  CPU_G(S3)-CPU_G(S2) = {c3-c2:5.1f} us  (auth overhead; proposal: <= 5 us)")
t1, t2, t3, t4 = (med(s, "cpu") for s in ("T1", "T2", "T3", "T4"))
print(f"  CPU_G(T2)/CPU_N(T1) = {t2/t1:5.2f}   (HTTPS h1, same certificate)")
print(f"  CPU_G(T4)/CPU_N(T3) = {t4/t3:5.2f}   (HTTPS h2, same certificate)")
print(f"  CPU_G(T2)-CPU_G(S2) = {t2-c2:5.1f} us  (what TLS adds per kept-alive request)")
print()
print("== targets")
print(f"  S3 >= 0.90 x S1 : {'PASS' if r31 >= 0.90 else 'MISS'}"
      + ("" if r31 >= 0.90 or rp1 >= 0.90 else
         f"  (bare Pingora itself reaches only {rp1:.2f} x S1 on this machine)"))
print(f"  S3 >= 0.95 x S2 : {'PASS' if r32 >= 0.95 else 'MISS'}")
print(f"  S3 >  S4 (goal) : {'PASS' if r34 > 1.0 else 'MISS'}")
if bad:
    print()
    print("== runs with errors (kept in the medians above)")
    for b in bad:
        print("  " + b)
PY
echo
echo "== memory after the load"
echo "  G (wxgate, $THREADS_G threads): VmRSS ${RSS_G} kB (before load ${RSS_G_BEFORE} kB), VmHWM ${HWM_G} kB   (proposal: RSS < 64 MiB)"
echo "  N (nginx master+worker):      VmRSS ${RSS_N} kB"
echo "  H (haproxy):                  VmRSS ${RSS_H} kB"
if [ -s "$WORK/gw/gateway.log" ]; then
    echo
    echo "== gateway log, RUST_LOG=warn: $(wc -l <"$WORK/gw/gateway.log") line(s), by message (first 110 characters)"
    sed 's/\x1b\[[0-9;]*m//g; s/^[0-9T:.Z-]* *//' "$WORK/gw/gateway.log" | cut -c1-110 | sort | uniq -c |
        sort -rn | head -n 8 | sed 's/^/  /'
fi

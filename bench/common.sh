# Shared by the bench scripts (sourced after they define `die`).

# wait_http URL STATUS WHAT [LOG]: polls URL for up to 15 s until it answers STATUS; otherwise
# shows the tail of LOG and dies.
wait_http() {
    local code=""
    for _ in $(seq 150); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true)
        [ "$code" = "$2" ] && return 0
        sleep 0.1
    done
    [ -n "${4:-}" ] && [ -s "$4" ] && tail -n 20 "$4" >&2
    die "$3 did not answer $2 at $1 within 15 s (last: $code)"
}

# stop_pids SECONDS PID...: SIGTERM to each, then up to SECONDS for each to exit before SIGKILL.
stop_pids() {
    local ticks=$(($1 * 10)) pid
    shift
    for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for _ in $(seq "$ticks"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
}

# install_missing COMMAND=PACKAGE ...: installs, from Debian, the packages of missing commands.
install_missing() {
    local need=() pair
    for pair in "$@"; do
        command -v "${pair%%=*}" >/dev/null || need+=("${pair#*=}")
    done
    ((${#need[@]})) || return 0
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "installing ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
}

# make_cert DIR: a private CA (DIR/ca.pem) and an ECDSA P-256 certificate for localhost and
# 127.0.0.1 (DIR/cert.pem, DIR/key.pem), served by nginx and the gateway alike.
make_cert() {
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=wxgate bench CA" -keyout "$d/ca-key.pem" -out "$d/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$d/key.pem" -out "$d/csr.pem" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/ext.cnf"
    openssl x509 -req -in "$d/csr.pem" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial \
        -days 30 -extfile "$d/ext.cnf" -out "$d/cert.pem" 2>/dev/null
}

# nginx_tls_proxy PORT CERT_DIR [LISTEN_ARGS]: an nginx `server` block on PORT with TLS 1.2/1.3
# and HTTP/2, DIR's certificate, proxying to an `upstream up` the caller defines.
nginx_tls_proxy() {
    cat <<EOF
    server {
        listen 127.0.0.1:$1 ssl http2 ${3:-};
        ssl_certificate $2/cert.pem;
        ssl_certificate_key $2/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # mirror the gateway's identity-header stripping
            proxy_set_header X-Auth-User "";
        }
    }
EOF
}

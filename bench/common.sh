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

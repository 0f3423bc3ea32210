#!/usr/bin/env bash
# Runs two OpenID Connect client libraries nobody here wrote, Python authlib and Node
# openid-client, through real flows against `wxgate dev` (the gateway, the WeChat simulator,
# the demo upstream) in a scratch directory: tests/oidc-clients/ holds both relying parties.
#   scripts/oidc-clients.sh
#   WXGATE_BIN=target/debug/wxgate scripts/oidc-clients.sh    (use that binary, skip cargo)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=tests/oidc-clients

# Pinned deps; both steps are no-ops once installed.
python3 -m pip install -q --root-user-action=ignore -r "$dir/requirements.txt" 2>/dev/null \
  || python3 -m pip install -q --root-user-action=ignore --break-system-packages -r "$dir/requirements.txt"
[ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] \
  || (cd "$dir" && npm ci --silent --no-audit --no-fund)

if [ -n "${WXGATE_BIN:-}" ]; then
  bin="$(realpath "$WXGATE_BIN")"
else
  cargo build -q -p wxgate
  bin="$PWD/target/debug/wxgate"
fi
work="$(mktemp -d)"
trap 'kill "$gw" 2>/dev/null || true; wait "$gw" 2>/dev/null || true; rm -rf "$work"' EXIT

# `wxgate dev` resolves data/ against its working directory; give it a fresh one.
mkdir -p "$work/config"
cp config/dev.toml "$work/config/dev.toml"
(cd "$work" && RUST_LOG=warn exec "$bin" dev >"$work/gateway.log" 2>&1) &
gw=$!
for _ in $(seq 1 100); do
  curl -sf 127.0.0.1:8080/_auth/readyz >/dev/null && break
  kill -0 "$gw" 2>/dev/null || { cat "$work/gateway.log"; exit 1; }
  sleep 0.1
done

# The website QR login carries no phone number, so the gateway learns alice's from one
# mini-program login with getPhoneNumber (same unionid, so the same user); the clients then
# expect phone_number in userinfo.
sim_code() {
  curl -sf "127.0.0.1:9200/_sim/$1" -H 'content-type: application/json' \
    -d '{"appid":"wx0000000000000001","user":"alice"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])'
}
curl -sf 127.0.0.1:8080/_auth/mp/login -H 'content-type: application/json' \
  -d "{\"code\":\"$(sim_code login_code)\",\"phone_code\":\"$(sim_code phone_code)\"}" >/dev/null \
  || { echo "alice's mini-program login with her phone failed"; exit 1; }

# Both run even if the first fails; each prints its own one-line verdict.
failed=0
timeout 60 python3 "$dir/authlib_rp.py" || failed=1
timeout 60 node "$dir/openid_client_rp.mjs" || failed=1
if [ "$failed" -ne 0 ]; then
  echo "== gateway log (tail)"
  tail -n 30 "$work/gateway.log"
  exit 1
fi
echo "oidc clients: authlib and openid-client completed every flow against the gateway"

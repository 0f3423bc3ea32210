#!/usr/bin/env bash
# The HTTPS listener as a scanner sees it: starts the gateway with TLS (a fresh CA and a
# localhost certificate, as `docs/operations.md` walks through), runs Debian's testssl.sh
# against it, prints its findings of severity LOW and above, and fails on any of MEDIUM or
# above.
#   scripts/testssl.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v testssl >/dev/null || { echo "testssl.sh is missing: apt-get install testssl.sh" >&2; exit 1; }
cargo build -q -p wxgate --bin wxgate
bin="$PWD/target/debug/wxgate"
work="$(mktemp -d)"
trap 'kill "$gw" 2>/dev/null || true; wait "$gw" 2>/dev/null || true; [ -n "${WXGATE_TESTSSL_KEEP:-}" ] && cp "$work/testssl.log" "$WXGATE_TESTSSL_KEEP"; rm -rf "$work"' EXIT
port="${WXGATE_TESTSSL_PORT:-18443}"

# A private CA and a certificate for localhost (ECDSA P-256, as an ACME client issues).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj "/CN=wxgate test CA" \
  -keyout "$work/ca-key.pem" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$work/key.pem" -out "$work/csr.pem" 2>/dev/null
# A public CA's certificate names where its revocation list is; testssl.sh asks for one.
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\ncrlDistributionPoints=URI:http://localhost/ca.crl\n' >"$work/ext.cnf"
openssl x509 -req -in "$work/csr.pem" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" -CAcreateserial \
  -days 90 -extfile "$work/ext.cnf" -out "$work/cert.pem" 2>/dev/null

cat >"$work/wxgate.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
public_url = "https://localhost:$port"
tls = { cert = "$work/cert.pem", key = "$work/key.pem", hsts = "365d" }

[database]
url = "sqlite://$work/wxgate.db?mode=rwc"

[tokens]
keys_dir = "$work/keys"

[[route]]
prefix = "/"
upstream = "127.0.0.1:9"
auth = "public"
TOML
RUST_LOG=warn "$bin" --config "$work/wxgate.toml" >"$work/gateway.log" 2>&1 &
gw=$!
for _ in $(seq 1 100); do
  curl -sf --cacert "$work/ca.pem" "https://localhost:$port/_auth/readyz" >/dev/null && break
  kill -0 "$gw" 2>/dev/null || { cat "$work/gateway.log"; exit 1; }
  sleep 0.1
done

# --add-ca: the chain is judged against the test CA, as a browser trusting it would.
testssl --quiet --color 0 --warnings off --sneaky --add-ca "$work/ca.pem" \
  --jsonfile "$work/findings.json" "https://localhost:$port" >"$work/testssl.log" 2>&1 || true
[ -s "$work/findings.json" ] || { cat "$work/testssl.log"; echo "testssl wrote no findings" >&2; exit 1; }

python3 - "$work/findings.json" <<'PY'
import json, sys
findings = json.load(open(sys.argv[1]))
rank = {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
shown = [f for f in findings if f.get("severity") in rank]
for f in sorted(shown, key=lambda f: -rank[f["severity"]]):
    print(f"{f['severity']:<8} {f['id']}: {f['finding']}")
bad = [f for f in shown if rank[f["severity"]] >= 2]
print(f"testssl.sh: {len(findings)} checks, {len(shown)} findings of LOW or above, {len(bad)} of MEDIUM or above")
sys.exit(1 if bad else 0)
PY

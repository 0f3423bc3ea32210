#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time each (libFuzzer, AddressSanitizer), starting
# from and adding to the corpora kept in fuzz/corpus/<target>, with fuzz/dict/<target>.dict
# where there is one. A crash leaves its input in fuzz/artifacts/<target> and fails the script.
#   scripts/fuzz.sh [seconds per target] [target ...]     (default 60 s, every target)
# Needs a nightly toolchain (cargo-fuzz's sanitizer flags) and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config_loader header_sanitiser path_normaliser token_parser cookie_parser phone_normaliser wechat_push)

rustup run nightly rustc --version >/dev/null 2>&1 ||
    { echo "fuzz.sh: needs a nightly toolchain (rustup toolchain install nightly)" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

cargo +nightly fuzz build -O
failed=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "== $t (${seconds}s)"
    extra=()
    [ -f "fuzz/dict/$t.dict" ] && extra=("-dict=fuzz/dict/$t.dict")
    log=$(mktemp)
    if cargo +nightly fuzz run -O "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 "${extra[@]}" 2>"$log"; then
        grep -E "^#[0-9]+" "$log" | tail -n1
        # Keep the corpus small: its minimal covering set.
        cargo +nightly fuzz cmin -O "$t" "fuzz/corpus/$t" >/dev/null 2>&1 || true
    else
        failed+=("$t")
        tail -n 40 "$log"
    fi
    rm -f "$log"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz.sh: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz.sh: no crash in ${#targets[@]} target(s), ${seconds}s each"

#!/usr/bin/env bash
# Instructions per added header, for each form Pingora's header API takes, counted by callgrind
# (gateway/examples/header_forms.rs). Each form runs at two iteration counts; the difference,
# over the iterations between them, is one request's cost with start-up cancelled out. The
# form `none` (the client request copied and written, nothing added) is subtracted, and each
# form is printed beside wxgate's own (`bytes`) measured in the same run.
#
# Usage: bench/header-forms.sh     (installs valgrind when missing)
# Env:   N1=2000 N2=12000 SKIP_BUILD=1 FORMS="bytes static-lower ..."
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N1=${N1:-2000}
N2=${N2:-12000}
HEADERS=6
WORK=$(mktemp -d /tmp/wxgate-bench-forms.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
die() { echo "header-forms.sh: $*" >&2; exit 1; }
. "$(dirname "$0")/common.sh"
install_missing valgrind=valgrind

cd "$ROOT"
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -p wxgate --example header_forms
BIN="$ROOT/target/release/examples/header_forms"
[ -x "$BIN" ] || die "$BIN is missing"
FORMS=${FORMS:-$("$BIN" list | cut -f1 | tr '\n' ' ')}
[[ " $FORMS " == *" none "* ]] || FORMS="none $FORMS"
[[ " $FORMS " == *" bytes "* ]] || FORMS="$FORMS bytes"

echo "== preflight"
echo "date:     $(date -u +%FT%TZ)"
echo "commit:   $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (+ uncommitted changes)')"
echo "valgrind: $(valgrind --version), $HEADERS headers per request, ($N2 - $N1) requests counted"

instructions() { # form iterations: the process's total
    local out="$WORK/cg.$1.$2"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" "$1" "$2" >/dev/null 2>"$out.log" ||
        { tail -n 5 "$out.log" >&2; die "$1 failed under valgrind"; }
    awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

declare -A PER_REQ
for form in $FORMS; do
    a=$(instructions "$form" "$N1")
    b=$(instructions "$form" "$N2")
    PER_REQ[$form]=$(( (b - a) / (N2 - N1) ))
done

base=${PER_REQ[none]}
ours=${PER_REQ[bytes]}
echo
echo "== per request: the client's request copied, $HEADERS headers added, written as HTTP/1.1"
printf '%-16s %12s %12s %10s  %s\n' form "per request" "per header" "× wxgate's" "what"
for form in $FORMS; do
    own=$base # a form that drops the case map is compared with the copy that drops it too
    case $form in no-case-*) own=${PER_REQ[no-case-none]:-$base} ;; esac
    per_header=$(( (PER_REQ[$form] - own) / HEADERS ))
    what=$("$BIN" list | awk -F'\t' -v f="$form" '$1 == f {print $2}')
    ratio=$(awk -v a="${PER_REQ[$form]}" -v o="$ours" 'BEGIN { printf "%.2f", a / o }')
    printf '%-16s %12d %12d %10s  %s\n' "$form" "${PER_REQ[$form]}" "$per_header" "$ratio" "$what"
done
echo
echo "(per header: over none, or over no-case-none for the forms that drop the case map;"
echo " × wxgate's: the whole request against the form wxgate used before this bench, bytes)"

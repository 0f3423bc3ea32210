#!/usr/bin/env bash
# Mutation testing of the code whose every branch matters, each group against the tests that
# own it (cargo-mutants; a build and a test run per mutant, so this takes hours on 2 cores).
#   scripts/mutants.sh [group ...]   groups: path cookies flow sms token identity (default: all),
#                                    or the narrower resolve (identity rules) and verify (token checks)
# Results land in mutants.out/<group>/ (caught.txt, missed.txt, timeout.txt, unviable.txt);
# the script fails when any group has a missed mutant. The closing notes of the issues list the
# survivors judged equivalent, with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(path cookies flow sms token identity)

run() { # group, then cargo-mutants arguments
    local group=$1
    shift
    echo "== $group"
    mkdir -p "mutants.out/$group"
    # The baseline runs only the mutated package's tests (often under a second), so the
    # auto-set timeout would cut the end-to-end tests a mutant runs short.
    cargo mutants --no-shuffle --test-workspace=false --minimum-test-timeout 180 \
        -o "mutants.out/$group" "$@" || true
    local missed="mutants.out/$group/mutants.out/missed.txt"
    if [ -s "$missed" ]; then
        echo "-- $group: missed"
        cat "$missed"
    fi
}

for g in "${groups[@]}"; do
    case $g in
        path)
            run path -f gateway/src/path.rs --test-package wxgate -- --lib
            ;;
        cookies)
            run cookies -f gateway/src/cookies.rs --test-package wxgate,wxgate-tests \
                -- -- cookies:: headers:: browser:: proxy::
            ;;
        flow)
            run flow -f gateway/src/flow.rs --test-package wxgate,wxgate-tests \
                -- -- flow:: browser::
            ;;
        sms)
            run sms -f 'providers/src/phone_sms/**/*.rs' -f 'providers/src/phone_sms/*.rs' \
                --test-package wxgate-providers,wxgate,wxgate-tests \
                -- -- phone_sms:: sms::
            ;;
        token)
            run token -f 'core/src/token/*.rs' \
                --test-package wxgate-core,wxgate,wxgate-tests \
                -- -- token:: storage::sqlite:: replicas::sqlite proxy:: miniprogram::
            ;;
        resolve)
            run resolve -f core/src/identity/resolve.rs \
                --test-package wxgate-core,wxgate-tests \
                -- -- identity:: storage::sqlite::
            ;;
        verify)
            run verify -f core/src/token/access.rs -f core/src/token/verified.rs -f core/src/token/vault.rs \
                --test-package wxgate-core,wxgate,wxgate-tests \
                -- -- token:: storage::sqlite:: proxy::
            ;;
        identity)
            run identity -f 'core/src/identity/*.rs' \
                --test-package wxgate-core,wxgate,wxgate-tests \
                -- -- identity:: storage::sqlite:: admin_cli::
            ;;
        *) echo "mutants.sh: unknown group $g" >&2; exit 2 ;;
    esac
done

status=0
for g in "${groups[@]}"; do
    out="mutants.out/$g/mutants.out"
    [ -d "$out" ] || continue
    printf '%-9s caught %4s  missed %4s  timeout %3s  unviable %3s\n' "$g" \
        "$(wc -l <"$out/caught.txt")" "$(wc -l <"$out/missed.txt")" \
        "$(wc -l <"$out/timeout.txt")" "$(wc -l <"$out/unviable.txt")"
    [ -s "$out/missed.txt" ] && status=1
done
exit $status

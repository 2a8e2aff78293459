#!/usr/bin/env bash
# `make lock`: refresh the hash-locked requirements in requirements/ from pyproject.toml.
#   dev.lock        the .venv of `make install`: the package with its bot and dev extras
#   sidecar.lock    Dockerfile.sidecar: the package's own dependencies
#   bot-image.lock  Dockerfile.bot: what the package needs on top of the Freqtrade image. The
#                   image's packages are Freqtrade's own pins; they are left out here (resolved
#                   together with freqtrade so versions agree, then subtracted), installed with
#                   --no-deps and checked with `pip check` in the build.
# Resolved for Python 3.11 (the development .venv) and, for the images, for every Python >= 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-.venv/bin/uv}"
out=requirements
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
common=(--quiet --generate-hashes --no-header --annotation-style line)

echo "lock: $out/dev.lock (bot + dev extras, Python 3.11)" >&2
"$UV" pip compile pyproject.toml --extra bot --extra dev --python-version 3.11 \
    "${common[@]}" -o "$out/dev.lock"

echo "lock: $out/sidecar.lock (the package's dependencies, any Python >= 3.11)" >&2
"$UV" pip compile pyproject.toml --universal --python-version 3.11 \
    "${common[@]}" -o "$out/sidecar.lock"

echo "lock: $out/bot-image.lock (on top of the Freqtrade image)" >&2
freqtrade_pin="$(grep -oE '"freqtrade\[[a-z,]+\]==[^"]+"' pyproject.toml | tr -d '"')"
echo "$freqtrade_pin" > "$tmp/freqtrade.in"
"$UV" pip compile "$tmp/freqtrade.in" --universal --python-version 3.11 --quiet --no-header \
    --no-annotate -o "$tmp/freqtrade.txt"
# The package's dependencies resolved together with Freqtrade, so they agree with its pins ...
"$UV" pip compile pyproject.toml "$tmp/freqtrade.in" --universal --python-version 3.11 \
    --quiet --no-header --no-annotate -o "$tmp/together.txt"
# ... less everything Freqtrade's own image already has.
sed -nE 's/^([A-Za-z0-9._-]+)==.*/\1/p' "$tmp/freqtrade.txt" | tr 'A-Z_.' 'a-z--' | sort -u \
    > "$tmp/image-has.txt"
: > "$tmp/extra.in"
while IFS= read -r line; do
    name="$(printf '%s' "$line" | sed -nE 's/^([A-Za-z0-9._-]+)==.*/\1/p' | tr 'A-Z_.' 'a-z--')"
    [ -n "$name" ] || continue
    grep -qxF "$name" "$tmp/image-has.txt" || printf '%s\n' "$line" >> "$tmp/extra.in"
done < "$tmp/together.txt"
"$UV" pip compile "$tmp/extra.in" --universal --python-version 3.11 --no-deps \
    "${common[@]}" -o "$out/bot-image.lock"
sed -i "s#$tmp/extra.in#bot-image (see scripts/lock.sh)#g" "$out/bot-image.lock"
echo "lock: done ($(grep -c '==' "$out/dev.lock") + $(grep -c '==' "$out/sidecar.lock") +" \
     "$(grep -c '==' "$out/bot-image.lock") pins)" >&2

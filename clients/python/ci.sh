#!/usr/bin/env bash
# Checks the Python client: a venv with the pinned requirements (.peers/python-client, or
# $GAVEL_CLIENT_VENV), the package installed from this checkout, `mypy --strict`, then pytest
# against a real gavel server started from $GAVEL_BIN (default target/debug/gavel, which
# `cargo test` or `cargo build` makes). Idempotent: the venv is rebuilt only when the pins change.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${GAVEL_CLIENT_VENV:-$root/.peers/python-client}"
stamp="$venv/.installed"
want="$(sha256sum "$here/requirements-test.txt" | cut -d' ' -f1)"
export GAVEL_BIN="${GAVEL_BIN:-$root/target/debug/gavel}"

if [[ ! -x "$GAVEL_BIN" ]]; then
  echo "clients/python: no gavel binary at $GAVEL_BIN (run cargo build first)" >&2
  exit 1
fi

if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -x "$venv/bin/python" ]]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-test.txt"
  echo "$want" > "$stamp"
fi
# The package itself, from this checkout, every time (it is small); nothing unpinned comes in.
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
  --force-reinstall "$here"
"$venv/bin/pip" check --disable-pip-version-check

cd "$here"
"$venv/bin/mypy" --strict src tests
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests

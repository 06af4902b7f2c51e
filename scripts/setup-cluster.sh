#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# The Python side of running a batch on a Dask cluster (cluster/redub_dask.py): a venv
# .venv-cluster with dask and distributed at the versions pinned in cluster/requirements.txt.
# Needs python3 with venv (scripts/setup.sh installs it). Idempotent: does nothing when the
# venv already has the pinned versions.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

venv=.venv-cluster
req=cluster/requirements.txt
want() { sed -n "s/^$1==//p" "$req"; }
have_dask() {
    [ -x "$venv/bin/python" ] &&
        [ "$("$venv/bin/python" -c 'import dask, distributed; print(dask.__version__, distributed.__version__)' 2>/dev/null)" = "$(want dask) $(want distributed)" ]
}
if ! have_dask; then
    echo "setup-cluster: installing dask $(want dask) and distributed $(want distributed) into $venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
fi
have_dask || { echo "setup-cluster: dask install failed" >&2; exit 1; }
echo "setup-cluster: ok ($here/$venv/bin/python)"

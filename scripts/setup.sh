#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# One-command setup for a fresh Debian 12 (run as root, or with sudo available).
# Installs the GStreamer development packages and plugins, SoundFonts, and the
# pinned slim libtorch (torch 2.13.0 from PyPI, CPU use) into .venv-torch.
# Idempotent: does nothing that is already done.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

APT_PACKAGES=(
    pkg-config build-essential python3 python3-venv
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
    fluid-soundfont-gm timgm6mb-soundfont
)
TORCH_VERSION=2.13.0
TORCH_PIP=(torch==${TORCH_VERSION} nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85)

# shellcheck source=scripts/apt.sh
source scripts/apt.sh
apt_install setup "${APT_PACKAGES[@]}"

venv=.venv-torch
have_torch() {
    [ -x "$venv/bin/python" ] && [ -f "$venv/torch/lib/libtorch_cpu.so" ] &&
        [ "$(cat "$venv/torch/version.py" 2>/dev/null | sed -n "s/^__version__ = '\([^'+]*\).*/\1/p")" = "$TORCH_VERSION" ]
}
if ! have_torch; then
    echo "setup: installing libtorch (torch ${TORCH_VERSION}, about 540 MB) into $venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "${TORCH_PIP[@]}"
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    ln -sfn "$site/torch" "$venv/torch"
fi
have_torch || { echo "setup: libtorch install failed" >&2; exit 1; }
echo "setup: ok (LIBTORCH=$here/$venv/torch)"

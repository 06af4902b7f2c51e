#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# Workbench only, never needed by the plugin: a Python venv, .venv-label, with
# transkun (Yan & Duan's piano transcription model, PyPI) to transcribe piano
# audio to MIDI on the CPU. The pretrained weights (transkun/pretrained/2.0.pt
# and 2.0.conf) ship inside the transkun wheel: nothing is fetched at run time.
#
# torch is the same pinned wheel as in .venv-torch (2.13.0 from PyPI), installed
# with --no-deps, like every other package here (all versions pinned), so none
# of the nvidia-* CUDA packages (about 3 GB) is downloaded. torch's Python module
# still links cuBLAS, cuDNN, NCCL, ... at load time, so this script compiles tiny
# stand-in libraries for the absent ones (each aborts with a message if a CUDA
# code path ever calls it; CPU inference never does).
#
# Usage afterwards (16-bit PCM WAV; 44.1 kHz avoids a resampling step):
#   OMP_NUM_THREADS=2 .venv-label/bin/transkun in.wav out.mid --device cpu
# Fresh Debian 12, as root or with sudo. Idempotent: does nothing already done.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

APT_PACKAGES=(python3 python3-venv gcc libc6-dev binutils)
PINS=(
    torch==2.13.0 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
    torchaudio==2.11.1 transkun==2.0.1
    setuptools==80.9.0 typing_extensions==4.16.0 sympy==1.14.0 mpmath==1.3.0
    filelock==4.3.2 fsspec==2026.9.0 Jinja2==3.1.6 MarkupSafe==3.0.4 networkx==3.6.1
    numpy==2.4.6 scipy==1.17.1 moduleconf==0.1.4 pydub==0.25.1 soxr==1.1.0
    pretty_midi==0.2.11.post0 mido==1.3.3 packaging==26.4 six==1.17.0
    importlib_resources==7.1.0 mir_eval==0.8.2 decorator==5.3.1
)
venv=.venv-label
stamp=$venv/.pianola-pins

# shellcheck source=scripts/apt.sh
source scripts/apt.sh
apt_install setup-label "${APT_PACKAGES[@]}"

# Imports everything the transkun command needs and multiplies on the CPU.
works() {
    [ -x "$venv/bin/transkun" ] &&
        "$venv/bin/python" -W ignore - <<'PY' >/dev/null 2>&1
import os, torch, torchaudio, pkg_resources, pydub, soxr, moduleconf, pretty_midi
import transkun, transkun.transcribe, transkun.ModelTransformer
d = os.path.join(os.path.dirname(transkun.__file__), "pretrained")
assert os.path.getsize(os.path.join(d, "2.0.pt")) > 50e6 and os.path.isfile(os.path.join(d, "2.0.conf"))
a = torch.randn(64, 64)
assert torch.allclose(a @ torch.eye(64), a) and not torch.cuda.is_available()
PY
}

if [ "$(cat "$stamp" 2>/dev/null)" = "${PINS[*]}" ] && works; then
    echo "setup-label: ok (transkun: $here/$venv/bin/transkun)"
    exit 0
fi

echo "setup-label: installing transkun and torch (about 600 MB) into $venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
rm -f "$stamp"
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps "${PINS[@]}"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')

# Stand-ins for the CUDA libraries that torch's libraries link but that are not
# installed. They go to nvidia/cu13/lib, on torch's RPATH next to the real CUDA
# runtime. Each defines the functions torch imports from it (with the symbol
# version torch asks for); calling one aborts.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$venv/bin/python" - "$site" "$tmp" <<'PY'
import glob, os, re, subprocess, sys

site, outdir = sys.argv[1], sys.argv[2]
torch_dir = os.path.join(site, "torch")
# loaded only on demand (cuSOLVER linear algebra, NVRTC JIT): left alone
lazy = {"libtorch_cuda_linalg.so", "libcaffe2_nvrtc.so"}
libs = [p for p in sorted(glob.glob(os.path.join(torch_dir, "lib", "*.so")) +
                          glob.glob(os.path.join(torch_dir, "_C*.so")))
        if os.path.basename(p) not in lazy]
# libraries whose symbols torch imports without a version, by name prefix
prefixes = [("cusparseLt", "libcusparseLt.so."), ("nccl", "libnccl.so."),
            ("cuFile", "libcufile.so."), ("curand", "libcurand.so."),
            ("nvshmem", "libnvshmem_host.so.")]

def out(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True,
                          env=dict(os.environ, LC_ALL="C")).stdout

stubs = {}
for lib in libs:
    for line in out("ldd", lib).splitlines():
        m = re.match(r"\s*(\S+) => not found", line)
        if m:
            stubs.setdefault(m.group(1), {"version": None, "syms": set()})
for lib in libs:
    ver_file, cur = {}, None
    for line in out("readelf", "-V", "-W", lib).splitlines():
        m = re.search(r"File: (\S+)", line)
        if m:
            cur = m.group(1)
        m = re.search(r"Name: (\S+)\s+Flags", line)
        if m and cur:
            ver_file[m.group(1)] = cur
    for line in out("readelf", "--dyn-syms", "-W", lib).splitlines():
        f = line.split()
        if len(f) < 8 or f[6] != "UND":
            continue
        name, _, ver = f[7].partition("@")
        ver = ver.lstrip("@")
        if ver:
            so = ver_file.get(ver)
            if so in stubs:
                stubs[so]["version"] = ver
                stubs[so]["syms"].add(name)
        else:
            for prefix, so_prefix in prefixes:
                if name.startswith(prefix):
                    for so in stubs:
                        if so.startswith(so_prefix):
                            stubs[so]["syms"].add(name)
for so, st in sorted(stubs.items()):
    base = os.path.join(outdir, so)
    syms = sorted(st["syms"])
    with open(base + ".c", "w") as c:
        c.write("#include <stdio.h>\n#include <stdlib.h>\n"
                "static void stub(const char *f) {\n"
                f'    fprintf(stderr, "{so} is a CPU-only stand-in (no CUDA here): %s called\\n", f);\n'
                "    abort();\n}\n")
        for s in syms:
            c.write(f'void {s}(void) {{ stub("{s}"); }}\n')
    with open(base + ".map", "w") as m:
        body = "{ " + ("global: " + "".join(s + "; " for s in syms) if syms else "") + "local: *; };\n"
        m.write((st["version"] + " " if st["version"] else "") + body)
    print(f"setup-label: CUDA stand-in {so} ({len(syms)} functions)")
PY
stubdir=$site/nvidia/cu13/lib
mkdir -p "$stubdir"
for c in "$tmp"/*.c; do
    [ -e "$c" ] || continue
    so=$(basename "$c" .c)
    gcc -shared -fPIC -O1 -o "$stubdir/$so" -Wl,-soname,"$so" -Wl,--version-script="$tmp/$so.map" "$c"
done
if ldd "$site"/torch/lib/libtorch_python.so | grep "not found"; then
    echo "setup-label: torch still misses libraries (above)" >&2
    exit 1
fi
works || { echo "setup-label: import check failed; run: $venv/bin/python -c 'import torch, transkun.transcribe'" >&2; exit 1; }

# End to end once (about 25 s of CPU): a synthetic C-E-G-C arpeggio through the
# transkun command, on one thread.
"$venv/bin/python" - "$tmp/arpeggio.wav" <<'PY'
import sys, wave
import numpy as np
fs = 44100
y = np.zeros(3 * fs)
t = np.arange(int(1.5 * fs)) / fs
for i, pitch in enumerate([60, 64, 67, 72]):
    f = 440 * 2 ** ((pitch - 69) / 12)
    note = sum(np.sin(2 * np.pi * f * k * np.sqrt(1 + 0.0004 * k * k) * t) / k ** 1.2 * np.exp(-t * (2 + k))
               for k in range(1, 10))
    note[:200] += np.random.default_rng(i).normal(0, 0.3, 200) * np.linspace(1, 0, 200)
    start = int(i * 0.5 * fs)
    y[start:start + len(t)] += note[:len(y) - start]
y = y / np.abs(y).max() * 0.5
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(fs)
    w.writeframes((y * 32767).astype("<i2").tobytes())
PY
if ! OMP_NUM_THREADS=1 "$venv/bin/transkun" "$tmp/arpeggio.wav" "$tmp/arpeggio.mid" --device cpu 2>"$tmp/log"; then
    cat "$tmp/log" >&2
    exit 1
fi
"$venv/bin/python" - "$tmp/arpeggio.mid" <<'PY'
import sys, pretty_midi
notes = [(n.pitch, n.velocity) for i in pretty_midi.PrettyMIDI(sys.argv[1]).instruments for n in i.notes]
print("setup-label: smoke test: C-E-G-C (60 64 67 72) transcribed as (pitch, velocity)", notes)
sys.exit(0 if {p for p, _ in notes} & {60, 64, 67, 72} else "setup-label: smoke test found no note")
PY
echo "${PINS[*]}" > "$stamp"
echo "setup-label: ok (transkun: $here/$venv/bin/transkun)"

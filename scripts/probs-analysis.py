#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Test-time threshold calibration and timing, measured on `pianola eval --save-probs` output.

    python3 scripts/probs-analysis.py DIR [DIR...]
    python3 scripts/probs-analysis.py --mean DIR DIR [DIR...]
    python3 scripts/probs-analysis.py --errors DIR [DIR...]

(numpy; `make label-setup` puts it in .venv-label). For each clip of each DIR
(NAME.probs.npy, .onsets.npy, .truth.npy, .weights.npy) it prints the frame F1 of the
key-down probabilities at the model's threshold and at the best threshold for that clip (an
oracle: it reads the labels), the threshold a label-free rule picks (the one whose count of
notes, runs of two frames or more, is nearest the count of peaks of the onset channel), and
how many frames early or late the probabilities' key-down runs start and end against the
labels' notes (per clip, then all of DIR's clips pooled).

With --mean, the DIRs are the same clips scored by different models: it prints, for each
clip, the frame F1 of each model's key-down probabilities and of their mean (a
probability-averaging ensemble) over the threshold grid.

With --errors, it sorts each clip's false key-down frames (probabilities at the shipped
threshold) by kind: at a note's edge (within 2 frames of a labelled key-down frame of the same
key: timing), near one (3 to 5 frames), beside a key that is down (a key within 2 semitones
down at that moment: the wrong key), or elsewhere; and names the keys with the most
wrong-key frames, each with the key that was down beside it most often.
"""
import glob
import os
import sys

import numpy as np

GRID = [0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97]
SHIPPED = 0.8


def clips(d):
    for f in sorted(glob.glob(os.path.join(d, "*.probs.npy"))):
        b = f[: -len(".probs.npy")]
        yield (
            os.path.basename(b),
            np.load(f),
            np.load(b + ".truth.npy") > 0,
            np.load(b + ".weights.npy") > 0,
            np.load(b + ".onsets.npy"),
        )


def f1(p, t, w, thr):
    pred = p >= thr
    tp = (pred & t & w).sum()
    fp = (pred & ~t & w).sum()
    fn = (~pred & t & w).sum()
    return 2 * tp / max(2 * tp + fp + fn, 1)


def runs(b, minlen):
    n = 0
    for k in range(b.shape[1]):
        d = np.diff(np.concatenate([[0], b[:, k].astype(int), [0]]))
        n += int(((np.where(d == -1)[0] - np.where(d == 1)[0]) >= minlen).sum())
    return n


def peaks(o, thr=0.5):
    m = (o[1:-1] >= thr) & (o[1:-1] >= o[:-2]) & (o[1:-1] > o[2:])
    return int(m.sum())


def edges(p, t, thr):
    """Start and end of the predicted run overlapping each labelled note (frames, + late)."""
    pred = p >= thr
    starts, ends = [], []
    n = len(t)
    for k in range(t.shape[1]):
        d = np.diff(np.concatenate([[0], t[:, k].astype(int), [0]]))
        for s, e in zip(np.where(d == 1)[0], np.where(d == -1)[0]):
            lo, hi = max(0, s - 5), min(n, e + 5)
            idx = np.where(pred[lo:hi, k])[0]
            if len(idx):
                starts.append(lo + idx[0] - s)
                ends.append(lo + idx[-1] + 1 - e)
    return np.array(starts), np.array(ends)


def hist(x):
    v, c = np.unique(np.clip(x, -3, 3), return_counts=True)
    return " ".join(f"{int(a):+d}:{int(b)}" for a, b in zip(v, c))


def mean(dirs):
    runs_by_dir = [{name: (p, t, w) for name, p, t, w, _ in clips(d)} for d in dirs]
    for name in sorted(runs_by_dir[0]):
        if not all(name in r for r in runs_by_dir):
            continue
        n = min(len(r[name][0]) for r in runs_by_dir)
        _, t, w = runs_by_dir[0][name]
        t, w = t[:n], w[:n]
        probs = [r[name][0][:n] for r in runs_by_dir]
        print(name)
        for g in GRID:
            each = " ".join(f"{f1(p, t, w, g):.3f}" for p in probs)
            print(f"  {g}: each {each}; mean {f1(sum(probs) / len(probs), t, w, g):.3f}")


NOTE_NAMES = "C C# D D# E F F# G G# A A# B".split()


def note_name(midi):
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def spread(b, axis, reach, skip_zero=False):
    """b, or b moved by up to +-reach frames (axis 0) or keys (axis 1)."""
    out = np.zeros_like(b)
    for s in range(-reach, reach + 1):
        if not (skip_zero and s == 0):
            out |= np.roll(b, s, axis=axis)
    return out


def errors(dirs, lowest=21):
    for d in dirs:
        for name, p, t, w, _ in clips(d):
            pred = p >= SHIPPED
            fp = pred & ~t & w
            tp, fn = (pred & t & w).sum(), (~pred & t & w).sum()
            edge = fp & spread(t, 0, 2)
            near = fp & spread(t, 0, 5) & ~edge
            beside = fp & ~edge & ~near & spread(t, 1, 2, skip_zero=True)
            other = fp & ~edge & ~near & ~beside
            total = max(int(fp.sum()), 1)
            print(f"{name}: at {SHIPPED}: {int(tp)} true, {int(fp.sum())} false, {int(fn)} missed key-down frames")
            for label, m in [("at a note's edge (<= 2 frames)", edge), ("near one (3-5 frames)", near),
                             ("beside a key that is down (+-2 keys)", beside), ("elsewhere", other)]:
                print(f"  false, {label}: {int(m.sum())} ({m.sum() / total:.0%})")
            by_key = beside.sum(0)
            worst = [k for k in np.argsort(-by_key)[:6] if by_key[k] > 0]
            parts = []
            for k in worst:
                rows = beside[:, k]
                neigh = [(int((t[rows, j]).sum()), j) for j in range(max(k - 2, 0), min(k + 3, t.shape[1])) if j != k]
                j = max(neigh)[1]
                parts.append(f"{note_name(k + lowest)} {int(by_key[k])} (with {note_name(j + lowest)} down)")
            print("  wrong-key frames by key: " + ", ".join(parts))


def main():
    if sys.argv[1:2] == ["--mean"]:
        mean(sys.argv[2:])
        return
    if sys.argv[1:2] == ["--errors"]:
        errors(sys.argv[2:])
        return
    for d in sys.argv[1:]:
        all_s, all_e = [], []
        for name, p, t, w, o in clips(d):
            p, o = p * w, o * w
            best = max((f1(p, t, w, g), g) for g in GRID)
            counts = [runs(p >= g, 2) for g in GRID]
            pick = GRID[int(np.argmin([abs(c - peaks(o)) for c in counts]))]
            s, e = edges(p, t, SHIPPED)
            all_s.append(s)
            all_e.append(e)
            print(
                f"{name}: F1 at {SHIPPED} {f1(p, t, w, SHIPPED):.3f}; oracle {best[0]:.3f} at {best[1]}; "
                f"label-free pick {pick}: {f1(p, t, w, pick):.3f}; "
                f"starts (frames) {hist(s)}; ends {hist(e)}"
            )
            for shift in (-1, 1):
                print(f"  probabilities {shift:+d} frame: F1 {f1(np.roll(p, shift, 0), t, w, SHIPPED):.3f}")
        if all_s:
            # All clips of DIR pooled: where the runs start and end against the labels, on
            # average (frames, each clipped to +-3; + late). Starts and ends early alike
            # point at the labels' timing, not at the net's onsets.
            s, e = np.concatenate(all_s), np.concatenate(all_e)
            print(
                f"{d}: {len(s)} notes; starts (frames) {hist(s)}, mean {np.clip(s, -3, 3).mean():+.2f}; "
                f"ends {hist(e)}, mean {np.clip(e, -3, 3).mean():+.2f}"
            )


if __name__ == "__main__":
    main()

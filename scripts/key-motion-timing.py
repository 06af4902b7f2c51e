#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Where the keys visibly move against a clip's MIDI labels, with no model: a check of two
clips' label alignments against each other.

    python3 scripts/key-motion-timing.py --midi M.mid [--scale A --offset B] STRIPS [STRIPS...]

(numpy and mido; `make label-setup` puts both in .venv-label). STRIPS are `pianola train`'s
strip caches (target/strip-cache/NAME-HASH.strips: the canonical 900x100 keyboard strips of
a clip, with their stream times); each STRIPS file goes with the --midi given before it
(video_t = A * midi_t + B; MTA's files are already in video time: A 1, B 0). For every
white key's note-on and note-off it samples the picture's motion in that key's front band
(rows 62-100, where black keys do not reach; mean absolute difference of consecutive
frames) from -200 to +200 ms around the label, each note's curve scaled to 0..1, and prints
the lag of the mean curve's peak. Hands move too, so a lag alone means little; two clips'
lags compared say whether their labels sit alike against the keys' motion.
"""
import sys

import mido
import numpy as np

W, H = 900, 100
WHITE = [0, 2, 3, 5, 7, 8, 10]  # semitones above A of the white keys
LAGS = np.arange(-0.2, 0.2001, 0.005)


def strips(path):
    with open(path, "rb") as f:
        if f.read(8) != b"PSTRIPS1":
            raise SystemExit(f"{path}: not a strip cache")
        n = int.from_bytes(f.read(8), "little")
        ts, arr = np.empty(n), np.empty((n, H, W), np.uint8)
        for i in range(n):
            ts[i] = int.from_bytes(f.read(8), "little") / 1e9
            f.read(1)
            size = int.from_bytes(f.read(8), "little")
            arr[i] = np.frombuffer(f.read(size), np.uint8).reshape(H, W)
    return ts, arr


def notes(path):
    t, down, out = 0.0, {}, []
    for msg in mido.MidiFile(path):
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            down[msg.note] = t
        elif msg.type in ("note_off", "note_on") and msg.note in down:
            out.append((msg.note, down.pop(msg.note), t))
    return out


def white_index(pitch):
    octave, step = divmod(pitch - 21, 12)
    return octave * 7 + WHITE.index(step) if step in WHITE else None


def profile(ts, arr, events):
    band = arr[:, 62:100, :].astype(np.float32)
    motion = np.abs(np.diff(band, axis=0)).mean(axis=1)
    tm = (ts[:-1] + ts[1:]) / 2
    acc, count = np.zeros(len(LAGS)), 0
    for pitch, t in events:
        wi = white_index(pitch)
        if wi is None or t + LAGS[0] < tm[0] or t + LAGS[-1] > tm[-1]:
            continue
        sig = motion[:, int(wi * W / 52 + 3) : int((wi + 1) * W / 52 - 3)].mean(axis=1)
        v = np.interp(t + LAGS, tm, sig)
        v -= v.min()
        if v.max() > 0:
            acc += v / v.max()
            count += 1
    return acc, count


def main():
    # "--midi M [--scale A] [--offset B] STRIPS..." groups, in order.
    tokens = sys.argv[1:]
    if not tokens or tokens[0] in ("-h", "--help"):
        raise SystemExit(__doc__)
    midi, scale, offset = None, 1.0, 0.0
    on, off = (np.zeros(len(LAGS)), 0), (np.zeros(len(LAGS)), 0)
    it = iter(tokens)
    for tok in it:
        if tok == "--midi":
            midi, scale, offset = next(it), 1.0, 0.0
        elif tok == "--scale":
            scale = float(next(it))
        elif tok == "--offset":
            offset = float(next(it))
        else:
            if midi is None:
                raise SystemExit("give --midi before its strips")
            ts, arr = strips(tok)
            ns = notes(midi)
            a, c = profile(ts, arr, [(p, scale * x + offset) for p, x, _ in ns])
            on = (on[0] + a, on[1] + c)
            a, c = profile(ts, arr, [(p, scale * y + offset) for p, _, y in ns])
            off = (off[0] + a, off[1] + c)
    for name, (acc, count) in (("note-on", on), ("note-off", off)):
        if count:
            print(f"{name}: key-band motion peaks at {LAGS[int(np.argmax(acc))] * 1000:+.0f} ms "
                  f"from the label ({count} notes)")


if __name__ == "__main__":
    main()

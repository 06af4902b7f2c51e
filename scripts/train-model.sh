#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Re-make the shipped video2roll model (models/video2roll.safetensors) from scratch, the way
# models/README.md records it: four runs, each resuming the last, step counts as shipped.
# About 90 minutes of training plus 10 of rendering on 2 CPU cores. Output: $OUT (default
# target/model/video2roll.safetensors, so the shipped files are not overwritten).
#
#   bash scripts/train-model.sh            # or: make model
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/model/video2roll.safetensors}
DATA=${DATA:-target/model-data}
BACH=../shared/data/real/bach
MIDI=../shared/data/midi
P=./target/release/pianola
cargo build --release --bin pianola
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT" "${OUT%.safetensors}.json" "${OUT%.safetensors}.log.tsv"

# Rendered x264 clips of the train split (held-out pieces and seeds go to held-out/, unused).
[ -d "$DATA/tr/train" ] || $P dataset --out "$DATA/tr" --clips 50 --procedural --midi-dir $MIDI --seconds 20 --seed 11 --width 640 --height 360 --fps 25
[ -d "$DATA/tr2/train" ] || $P dataset --out "$DATA/tr2" --clips 8 --procedural --midi-dir $MIDI --seconds 20 --seed 12

common=(--out "$OUT" --batch 16 --minutes 1000 --midi-dir $MIDI --val-every 250 --val-examples 400)
# 1: canonical strips, no augmentation.
$P train "${common[@]}" --lr 1e-3 --seed 1 --max-steps 500 --no-augment
# 2: canonical strips, augmented.
$P train "${common[@]}" --lr 1e-3 --seed 1 --max-steps 2000 --resume
# 3: whole scenes rectified as pianocrop does.
$P train "${common[@]}" --lr 5e-4 --seed 2 --max-steps 1955 --resume --scenes
# 4: scenes, rendered clips through pianocrop, and Bach 0-85 s (85 s to the end held out).
bach="video=$BACH/video.mp4,midi=$BACH/performance.mid,scale=1.0010,offset=-6.145"
$P train "${common[@]}" --lr 1e-3 --seed 2 --max-steps 5429 --resume --scenes \
    --clips "$DATA/tr/train" --clips "$DATA/tr2/train" \
    --real "$bach,from=0,to=85,weight=6" --val-real "$bach,from=85,to=132" --clip-share 0.6
echo "model in $OUT; score it with:"
echo "  $P eval --video $BACH/video.mp4 --midi $BACH/performance.mid --scale 1.0010 --offset -6.145 --from 85 --to 132 --model $OUT"

#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Re-make the shipped models from scratch, the way models/README.md records them: video2roll
# (models/video2roll.safetensors) in four runs, each resuming the last, step counts as shipped;
# then roll2midi's refiner (models/roll2midi.safetensors) on that video2roll's output.
# About 2 hours 15 minutes on 2 CPU cores. Output: $OUT (default
# target/model/video2roll.safetensors, so the shipped files are not overwritten) and $ROUT.
#
#   bash scripts/train-model.sh            # or: make model
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/model/video2roll.safetensors}
DATA=${DATA:-target/model-data}
SHARED=${PIANOLA_SHARED:-../shared}
BACH=$SHARED/data/real/bach
MIDI=$SHARED/data/midi
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

# roll2midi's learned refinement (models/roll2midi.safetensors): its own renders, apart from
# video2roll's (seed 23) and from the evaluation set, through the video2roll just made.
# About 7 minutes of rendering, 7 of probabilities and 20 of training.
ROUT=${ROUT:-$(dirname "$OUT")/roll2midi.safetensors}
rm -f "$ROUT" "${ROUT%.safetensors}.json" "${ROUT%.safetensors}.log.tsv" "${ROUT%.safetensors}.disc.safetensors"
[ -d "$DATA/r2m/train" ] || $P dataset --out "$DATA/r2m" --clips 60 --procedural --midi-dir $MIDI --seconds 20 --seed 23 --width 640 --height 360 --fps 25
$P train-refiner --clips "$DATA/r2m/train" --val "$DATA/r2m/held-out" --model "$OUT" --cache "$DATA/r2m/pairs" \
    --max-steps 1500 --val-every 250 --augment 0.5 --seed 2 --out "$ROUT"
echo "refiner in $ROUT; compare the modes with:"
echo "  PIANOLA_REFINER=$ROUT $P eval --model $OUT --ablation --video $BACH/video.mp4 --midi $BACH/performance.mid --scale 1.0010 --offset -6.145 --from 85 --to 132"

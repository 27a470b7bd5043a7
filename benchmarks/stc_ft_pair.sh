#!/bin/bash
# Issue 13 (docs/stc.md): the STC fine-tuning variant against its own control, from a strong start. Round 0 = the
# supervised control model ~/runs/stc_e6_control (w300/train alone, as many steps as an STC round); every round
# fine-tunes the last (--finetune, the whole 6-epoch schedule again); STC and control round by round, interleaved.
# Needs ~/runs/stc_setting (benchmarks/stc_setting.py) and ~/runs/stc_pool (facetrack harvest); resumable.
set -e
cd "$(dirname "$0")/.."
export FACETRACK_DETECTOR_MODEL=$(realpath ../shared/models/face_landmarker.task)
S=$HOME/runs/stc_setting
INIT=$HOME/runs/stc_e6_control/round1/best.safetensors
COMMON="--labeled csv:../shared/data/w300/train.csv --unlabeled $HOME/runs/stc_pool --epochs 6 --milestones 3,5 \
  --input-size 192 --batch-size 16 --lr 1e-4 --threads 2 --val csv:$S/val.csv \
  --eval csv:../shared/data/ytf68/test.csv --eval csv:../shared/data/w300/test.csv --init $INIT --finetune"
for r in 1 2 3 4 5; do
  .venv/bin/facetrack stc $COMMON --out $HOME/runs/stc_ft --rounds $r
  .venv/bin/facetrack stc $COMMON --out $HOME/runs/stc_ft_control --rounds $r --control
done
echo ALL DONE

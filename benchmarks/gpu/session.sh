#!/usr/bin/env bash
# What a session with the device machine (one NVIDIA GPU) runs, in one call, from the repository root, after
# `python benchmarks/gpu/pack.py` packed the data into .gpu/ (carried): the gpu-marked tests, the training runs
# side by side (benchmarks/gpu/train.py) and, with BENCH=1, the landmark stage against batch size and a many-face
# frame (measured on the first lease, 2026-11-30). PART=checks|train|all.
# Results go to $OUT (8 files at most come back): gpu.tgz (logs, JSON, metrics) and the trained models.
set -u
OUT=${OUT:-out/gpu}
TRAIN_BUDGET=${TRAIN_BUDGET:-330}
L=/tmp/runs/logs
mkdir -p "$OUT" "$L" /tmp/pp
export PYTHONUNBUFFERED=1 FACETRACK_HOME=/tmp/fthome
ln -sfn "$PWD/cli" /tmp/pp/facetrack_cli
export PYTHONPATH="$PWD:/tmp/pp"
[ -f .gpu/data.zip ] && [ ! -d .gpu/shared ] && (cd .gpu && python3 -m zipfile -e data.zip .)
[ -e ../shared ] || ln -s "$PWD/.gpu/shared" ../shared
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python3 -c "import torch, cv2, numpy; print('torch', torch.__version__, 'cv2', cv2.__version__, 'numpy', numpy.__version__)"
} > $L/machine.txt 2>&1
cat $L/machine.txt
FT="python3 -m facetrack_cli.main"
PART=${PART:-all}   # checks | train | all
if [ "$PART" != train ] && [ "${BENCH:-0}" = 1 ]; then
  timeout 90 $FT bench --landmarks --device cuda --batch-sizes 1,8,32,128,512,1024 --seconds 1 --json > $L/bench_landmarks.json 2> $L/bench_landmarks.err
  tail -c 1500 $L/bench_landmarks.json; tail -3 $L/bench_landmarks.err
  timeout 60 python3 benchmarks/gpu/many_faces.py --faces 48 --seconds 2 --json $L/many_faces.json > /dev/null 2> $L/many_faces.err
  head -c 1500 $L/many_faces.json
fi
if [ "$PART" != checks ]; then  # training in the background, the tests beside it (no timing is taken from them)
  timeout $((TRAIN_BUDGET + 60)) python3 benchmarks/gpu/train.py --budget $TRAIN_BUDGET > $L/train_driver.log 2>&1 &
  TR=$!
fi
if [ "$PART" != train ]; then
  FACETRACK_TEST_THREADS=4 FACETRACK_GPU_CLIP=$PWD/.gpu/clip.mp4 timeout 240 python3 -m pytest -q -m gpu tests/test_gpu.py -s -p no:cacheprovider > $L/pytest_gpu.log 2>&1
  tail -25 $L/pytest_gpu.log
fi
if [ "$PART" != checks ]; then
  wait $TR
  cat $L/train_driver.log
  for r in /tmp/runs/*_b*; do n=$(basename $r); cp $r/metrics.jsonl $L/$n.metrics.jsonl 2>/dev/null
    [ -f $r/last.safetensors ] && cp $r/last.safetensors "$OUT/$n.last.safetensors"; tail -1 $r/metrics.jsonl; done
fi
tar czf "$OUT/gpu.tgz" -C /tmp/runs logs
ls -la "$OUT"

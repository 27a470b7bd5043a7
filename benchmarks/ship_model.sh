#!/usr/bin/env bash
# Make a trained model the default and re-measure what depends on it (seventh session's procedure, docs/accuracy.md):
#   bash benchmarks/ship_model.sh RUN_DIR/last.safetensors
# Copies the model into facetrack/models, re-exports ONNX, re-quantizes int8 (calibrated on the three training sets),
# prints stills NME (torch fp32 and OpenVINO int8, label boxes, converted and raw labels), the independent-annotation
# benchmark (docs/independent_faces.json), the 30-face slice figures for tests/test_accuracy.py,
# runs the video ground truth (~/runs/vt_ship), re-fits the head-pose calibration and re-writes docs/pose_eval.json and
# docs/blinks_franck.json. Then: update tests/test_accuracy.py's constants, FACETRACK_REGOLDEN=1 pytest
# tests/test_outputs.py -k golden, and the docs. Needs ../shared and the dev install (.venv).
set -euo pipefail
MODEL=${1:?usage: bash benchmarks/ship_model.sh MODEL.safetensors}
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export FACETRACK_DETECTOR_MODEL=${FACETRACK_DETECTOR_MODEL:-$(realpath ../shared/models/face_landmarker.task)}
cp "$MODEL" facetrack/models/pipnet68_efficientnet_lite0.safetensors
$PY -m facetrack export --model default
$PY -m facetrack quantize --model facetrack/models/pipnet68_efficientnet_lite0.safetensors \
  --data csv:../shared/data/w300/train.csv --data csv:../shared/data/lfpw/train.csv --data csv:../shared/data/ytf68/train.csv
echo "== stills (label boxes; labels converted to 0-based pixel centres, and raw: ?offset=0)"
for p in fp32 int8; do
  b=$([ $p = fp32 ] && echo torch || echo openvino)
  for d in w300 lfpw ytf68; do
    for o in "" "?offset=0"; do
      echo "$p $d$o $($PY -m facetrack eval --data "csv:../shared/data/$d/test.csv$o" --backend $b --precision $p --json 2>/dev/null | tail -1 | cut -c1-60)"
    done
  done
done
echo "== tests/test_accuracy.py slice (first 30 faces of w300/test)"
$PY - <<'PY'
from facetrack import LandmarkPredictor
from pipnet_model.datasets import load_dataset
from pipnet_model.runtime import evaluate
ds = load_dataset("csv:../shared/data/w300/test.csv"); ds.records = ds.records[:30]
for b, p in (("torch", "fp32"), ("openvino", "int8"), ("openvino", "bf16")):
    lp = LandmarkPredictor("default", "cpu", backend=b, precision=p)
    n, _ = evaluate(lp.meta, ds, lp.predict_crops); print(b, p, round(float(n.mean()), 5))
PY
echo "== video ground truth"
$PY benchmarks/video_truth.py run --data csv:../shared/data/w300/test.csv --data csv:../shared/data/lfpw/test.csv \
  --faces 6 --out ~/runs/vt_ship --systems facetrack_kalman,facetrack_no_smoothing,truth_boxes,still_label_boxes \
  2>&1 >/dev/null | cut -c1-160
echo "== head pose"
$PY benchmarks/pose_fit.py --calibrate
$PY benchmarks/pose_eval.py --json docs/pose_eval.json > /dev/null 2>&1
$PY -c "import json; d = json.load(open('docs/pose_eval.json')); [print(k, d[k]) for k in d]"
echo "== blinks"
$PY benchmarks/blinks.py --json docs/blinks_franck.json > /dev/null 2>&1
$PY -c "import json; d = json.load(open('docs/blinks_franck.json')); print({k: v for k, v in d.items() if not isinstance(v, (list, dict))})"
echo "== independent annotations (AFLW2000-3D held-out half, with dlib; yaw with the new calibration)"
$PY benchmarks/independent_faces.py --json docs/independent_faces.json 2>/dev/null

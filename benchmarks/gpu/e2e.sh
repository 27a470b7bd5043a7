#!/usr/bin/env bash
# End to end on the device machine (one NVIDIA GPU): `facetrack bench VIDEO` on a 720p clip, CUDA against the
# machine's CPU, to see whether decoding or the landmark model limits the pipeline. The device image has neither
# PyAV nor MediaPipe: PyAV travels as a wheel in .whl/, the detector is RetinaFace (ONNX Runtime is there; its
# model file comes from this machine's facetrack cache) or the clip's known boxes (--detector truth).
# Prepare here (what the call carries, ~40 MB):
#   echo /.whl/ >> .git/info/exclude; pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 -d .whl av==19.0.2
#   mkdir -p .gpu/fthome && cp ~/.cache/facetrack/retinaface_mnet025.onnx .gpu/fthome/
#   cp ../shared/videos/obama_one_face_1280x720.mp4 .gpu/
#   python -c "from facetrack.samples import ClipSpec, make_clip; make_clip('.gpu/clip720.mp4', ClipSpec(1280, 720, seconds=8))"
# Then on the device: OUT=... bash benchmarks/gpu/e2e.sh
set -u
OUT=${OUT:-out/gpu}
mkdir -p "$OUT" /tmp/pp
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
ln -sfn "$PWD/cli" /tmp/pp/facetrack_cli
export PYTHONPATH="$PWD:/tmp/pp:/tmp/site" PYTHONUNBUFFERED=1 FACETRACK_HOME="$PWD/.gpu/fthome"
FT="python3 -m facetrack_cli.main"
for dev in cuda cpu; do
  timeout 120 $FT bench .gpu/clip720.mp4 --device $dev --detector truth --detector-model .gpu/clip720.mp4.json \
    --runs 2 --backend torch --json > "$OUT/clip720_truth_$dev.json" 2> "$OUT/clip720_truth_$dev.err"
  tail -c 1200 "$OUT/clip720_truth_$dev.json"; tail -3 "$OUT/clip720_truth_$dev.err"
  timeout 120 $FT bench .gpu/obama_one_face_1280x720.mp4 --device $dev --detector retinaface --runs 2 --backend torch --json \
    > "$OUT/obama_retina_$dev.json" 2> "$OUT/obama_retina_$dev.err"
  tail -c 1200 "$OUT/obama_retina_$dev.json"; tail -3 "$OUT/obama_retina_$dev.err"
done

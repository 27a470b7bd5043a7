#!/bin/bash
# Whole-process wall time of `facetrack track CLIP --csv` with two detectors, interleaved, on the shared clips.
#   bash benchmarks/detector_ab.sh [FACETRACK_BIN] [DETECTOR_A] [DETECTOR_B]
# (default: the plain install in /tmp/lean, mediapipe against fallback; 3 runs, franck 1)
set -e
cd "$(dirname "$0")/.."
BIN=${1:-/tmp/lean/bin/facetrack}; A=${2:-mediapipe}; B=${3:-fallback}
export FACETRACK_DETECTOR_MODEL=${FACETRACK_DETECTOR_MODEL:-$(realpath ../shared/models/face_landmarker.task)}
T=$(mktemp -d)
for clip in obama_one_face_1280x720 hamilton_two_faces_640x360 franck_talking_face_360x288; do
  n=3; [ $clip = franck_talking_face_360x288 ] && n=1
  for r in $(seq $n); do
    for d in $A $B; do
      s=$(date +%s.%N)
      "$BIN" track ../shared/videos/$clip.mp4 --csv $T/$d.csv --detector $d --quiet > $T/$d.json 2>/dev/null
      e=$(date +%s.%N)
      python3 -c "import json; d = json.load(open('$T/$d.json')); print('$clip $d run $r: wall %.3f s, faces %d, tracks %d' % ($e - $s, d['faces'], d['tracks']))"
    done
  done
done
rm -rf $T

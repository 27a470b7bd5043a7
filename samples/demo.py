"""The README's main command: generate the demo clip (public-domain photograph from scikit-image, known
motion, a second face entering and leaving) and run `facetrack track` on it.

    python samples/demo.py --out out      ->  out/demo.mp4 (annotated), out/demo.csv, out/demo.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="out")
    a = ap.parse_args()
    out = Path(a.out)
    from facetrack_cli.main import main as cli
    rc = cli(["sample", "--out", str(out / "sample.mp4"), "--audio"])
    if rc:
        return rc
    rc = cli(["track", str(out / "sample.mp4"), "--video", str(out / "demo.mp4"), "--csv", str(out / "demo.csv"),
              "--jsonl", str(out / "demo.jsonl")])
    if rc == 0:
        print(json.dumps({"annotated_video": str(out / "demo.mp4"), "csv": str(out / "demo.csv")}), file=sys.stderr)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())

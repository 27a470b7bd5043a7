"""Shot cuts: where facetrack.cuts finds them in videos, and how far the rest of the frames are from a cut.

For each video: frames, the cuts found (frame number and the frame's difference from the one before: mean absolute
difference of 32 x 18 colour thumbnails, 0-255), and the largest difference of a frame that was not a cut (the
margin to ``facetrack.cuts.MIN_DIFF``). Clips rendered by ``facetrack.scenes`` (``identity.py``) carry their true
scenario in ``CLIP.truth.json`` (its scene changes are the true cuts); for them it prints the true cut frames too. No model, no torch.

    python benchmarks/cuts.py ../shared/videos/*.mp4 runs/identity/*.mp4
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def measure(path: str) -> dict:
    import av

    from facetrack.cuts import ShotCuts
    cuts = ShotCuts()
    found, others = [], 0.0
    n = 0
    with av.open(path) as c:
        for i, f in enumerate(c.decode(video=0)):
            n += 1
            if cuts(f.to_ndarray(format="bgr24")):
                found.append((i, round(cuts.last_diff, 1)))
            else:
                others = max(others, cuts.last_diff)
    res = {"video": Path(path).name, "frames": n, "cuts": found, "largest_other_diff": round(others, 1)}
    truth = Path(path + ".truth.json")
    if truth.is_file():
        t = json.loads(truth.read_text())
        if "scenario" in t:
            from facetrack.scenes import scenario
            res["true_cuts"] = [int(round(t0 * t["fps"])) for t0, _, _ in scenario(t["scenario"])["scenes"][1:]]
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="+")
    a = ap.parse_args()
    out = [measure(v) for v in a.videos]
    for r in out:
        print(json.dumps(r))
    print(json.dumps({"videos": len(out), "cuts": sum(len(r["cuts"]) for r in out),
                      "largest_other_diff": max(r["largest_other_diff"] for r in out)}))


if __name__ == "__main__":
    main()

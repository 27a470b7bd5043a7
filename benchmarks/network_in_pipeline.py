"""Where a clip's landmark time goes: network passes by kind, and what one pass costs inside the pipeline against
the same call in a tight loop (issue 17: hamilton's frames/s against MediaPipe's).

    python benchmarks/network_in_pipeline.py ../shared/videos/hamilton_two_faces_640x360.mp4 [--frames N] [--reps 3]

1. The pipeline (`FaceTracker`, re-identification off, the default detector and engine) over the clip's frames
   decoded into memory: stage seconds, network passes per frame / for the convergence of new tracks, and the
   median time of a network call by batch size.
2. The same engine's calls with random input, back to back ("tight") and with 2 ms between calls: idle (sleep), the
   calling thread busy (spin), or busy reading 8 MB (cache evicted). A gap of any kind makes the next call slower:
   the engine's worker thread has gone to sleep, or the model's weights have left the cache.
3. Batches of 2, 3, 4 and 8 random faces (OpenVINO): split over the per-core single-thread streams against face by
   face through the one-face engine (all threads on each face), interleaved. `run_np` takes the second below two
   faces a core.
"""
from __future__ import annotations

import argparse
import collections
import json
import time

import numpy as np


def pipeline(frames, ft) -> dict:
    runner = ft.predictor.runner
    calls: dict[int, list[float]] = collections.defaultdict(list)
    run_np = runner.run_np

    def timed(x):
        t = time.perf_counter()
        out = run_np(x)
        calls[len(x)].append(time.perf_counter() - t)
        return out

    converge = ft._converge
    kinds = collections.Counter()

    def counted(frame, lms, confs):
        before = ft.predictor.timings["faces"]
        out = converge(frame, lms, confs)
        kinds["convergence_passes"] += ft.predictor.timings["faces"] - before
        kinds["new_tracks"] += len(lms)
        return out

    runner.run_np, ft._converge = timed, counted
    try:
        ft.reset()
        ft.predictor.timings.update(crop=0.0, network=0.0, decode_nrm=0.0, faces=0)
        faces = 0
        t0 = time.perf_counter()
        for img, ts in frames:
            faces += len(ft.update(img, ts).faces)
        total = time.perf_counter() - t0
    finally:
        runner.run_np, ft._converge = run_np, converge
    lt, tt = ft.predictor.timings, ft.timings
    return {"frames": len(frames), "faces_reported": faces, "seconds": round(total, 3),
            "stage_seconds": {"detect": round(tt["detect"], 3), "crop": round(lt["crop"], 3),
                              "network": round(lt["network"], 3), "decode_nrm": round(lt["decode_nrm"], 3),
                              "track": round(tt["track"], 3), "smooth_and_analysers": round(tt["smooth"], 3)},
            "network_passes": lt["faces"], **kinds,
            "calls_by_batch": {b: {"calls": len(v), "median_ms": round(float(np.median(v)) * 1e3, 3)}
                               for b, v in sorted(calls.items())}}


def gaps(runner, reps: int, calls: int = 100) -> dict:
    x = np.random.rand(1, 3, runner_size(runner), runner_size(runner)).astype(np.float32)
    big = np.random.rand(2_000_000).astype(np.float32)

    def spin(work=None):
        t = time.perf_counter()
        while time.perf_counter() - t < 0.002:
            if work is not None:
                work.sum()

    between = {"tight": lambda: None, "idle 2 ms": lambda: time.sleep(0.002), "spin 2 ms": spin,
               "read 8 MB for 2 ms": lambda: spin(big)}
    res: dict[str, list[float]] = {k: [] for k in between}
    for _ in range(10):
        runner.run_np(x)
    for _ in range(reps):  # interleaved
        for k, f in between.items():
            ts = []
            for _ in range(calls):
                f()
                t = time.perf_counter()
                runner.run_np(x)
                ts.append(time.perf_counter() - t)
            res[k].append(float(np.median(ts)) * 1e3)
    return {k: {"median_ms": round(float(np.median(v)), 3), "runs_ms": [round(a, 3) for a in v]} for k, v in res.items()}


def batch_engines(runner, reps: int, sizes=(2, 3, 4, 8), calls: int = 30) -> dict:
    if not hasattr(runner, "run_streams"):
        return {}
    size = runner_size(runner)

    res: dict[str, list[float]] = {}
    for _ in range(reps):
        for b in sizes:
            x = np.random.rand(b, 3, size, size).astype(np.float32)
            for name, f in (("streams", runner.run_streams), ("face_by_face", runner.run_faces)):
                for _ in range(3):
                    f(x)
                ts = []
                for _ in range(calls):
                    t = time.perf_counter()
                    f(x)
                    ts.append(time.perf_counter() - t)
                res.setdefault(f"{b} {name}", []).append(float(np.median(ts)) * 1e3)
    return {k: {"median_ms": round(float(np.median(v)), 3), "runs_ms": [round(a, 3) for a in v]} for k, v in res.items()}


def runner_size(runner) -> int:
    return int(runner.compiled.inputs[0].get_shape()[-1]) if hasattr(runner, "compiled") else 192


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip")
    ap.add_argument("--frames", type=int, default=100000)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    from facetrack.bench import read_frames
    from facetrack.pipeline import FaceTracker, TrackOptions
    frames, _ = read_frames(a.clip, a.frames)
    ft = FaceTracker(TrackOptions(reid=False))
    try:
        out = {"clip": a.clip, "backend": ft.predictor.backend, "precision": ft.predictor.precision,
               "pipeline_runs": [pipeline(frames, ft) for _ in range(a.reps)],
               "one_face_calls": gaps(ft.predictor.runner, a.reps),
               "batch_engines": batch_engines(ft.predictor.runner, max(a.reps, 5))}
    finally:
        ft.close()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

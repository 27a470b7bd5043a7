"""Inference backends for PIPNet: torch (eager), ONNX Runtime, OpenVINO.

A runner takes a normalised float32 batch (B, 3, S, S) and returns the five raw output maps as torch
tensors. ``auto`` picks the fastest one installed for the device: OpenVINO, then ONNX Runtime, then torch on
CPU; torch on CUDA. ONNX files are exported once per model file and cached in ``$FACETRACK_HOME/onnx``.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from pipnet_model.checkpoint import PIPNetModel

from .errors import FacetrackError

BACKENDS = ("auto", "torch", "onnxruntime", "openvino")


def installed(name: str) -> bool:
    import importlib.util
    if name == "torch":
        return True
    mod = {"onnxruntime": "onnxruntime", "openvino": "openvino"}[name]
    if importlib.util.find_spec(mod) is None:
        return False
    return importlib.util.find_spec("onnx") is not None  # exporting needs the onnx package


def pick_backend(backend: str, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise FacetrackError(f"unknown backend {backend!r} (choose {', '.join(BACKENDS)})")
    if backend != "auto":
        if device.type == "cuda" and backend != "torch":
            raise FacetrackError(f"backend {backend} runs on the CPU; use --backend torch with --device cuda")
        if not installed(backend):
            raise FacetrackError(f"backend {backend} is not installed (pip install 'facetrack[{backend if backend == 'openvino' else 'onnx'}]')")
        return backend
    if device.type != "cpu":
        return "torch"
    for b in ("openvino", "onnxruntime"):
        if installed(b):
            return b
    return "torch"


class TorchRunner:
    name = "torch"

    def __init__(self, model: PIPNetModel, device: torch.device, half: bool | None = None):
        self.device = device
        self.half = (device.type == "cuda") if half is None else half
        net = model.net.to(device).eval().to(memory_format=torch.channels_last)
        self.net = net.half() if self.half else net.float()

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = x.to(self.device, non_blocking=True)
        out = self.net(x.half() if self.half else x)
        return tuple(o.float() for o in out)


def _model_key(model: PIPNetModel) -> str:
    h = hashlib.sha256()
    for k, v in model.net.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()[:20]


def onnx_file(model: PIPNetModel) -> Path:
    """The model as ONNX, exported once and cached by content hash."""
    from pipnet_model.export import export_onnx
    from .assets import cache_dir
    d = cache_dir() / "onnx"
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        d = Path(tempfile.mkdtemp(prefix="facetrack-onnx-"))
    p = d / f"pipnet-{_model_key(model)}-{model.meta.input_size}.onnx"
    if not p.is_file():
        tmp = p.with_name(p.name + f".tmp{os.getpid()}")
        export_onnx(model, tmp, check=False)
        os.replace(tmp, p)
    return p


class OnnxRuntimeRunner:
    name = "onnxruntime"

    def __init__(self, model: PIPNetModel, threads: int | None = None):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or torch.get_num_threads()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(str(onnx_file(model)), so, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.sess.run(None, {"image": np.ascontiguousarray(x.cpu().numpy(), dtype=np.float32)})
        return tuple(torch.from_numpy(o) for o in out)


class OpenVINORunner:
    name = "openvino"

    def __init__(self, model: PIPNetModel, threads: int | None = None, precision: str | None = None):
        import openvino as ov
        core = ov.Core()
        cfg = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads or torch.get_num_threads()}
        if precision:
            cfg["INFERENCE_PRECISION_HINT"] = precision
        self.compiled = core.compile_model(str(onnx_file(model)), "CPU", cfg)
        self.req = self.compiled.create_infer_request()

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        res = self.req.infer({0: np.ascontiguousarray(x.cpu().numpy(), dtype=np.float32)})
        return tuple(torch.from_numpy(np.array(res[self.compiled.output(i)])) for i in range(5))


def make_runner(model: PIPNetModel, backend: str = "auto", device: torch.device | str = "cpu"):
    dev = torch.device(device)
    b = pick_backend(backend, dev)
    try:
        if b == "onnxruntime":
            return OnnxRuntimeRunner(model)
        if b == "openvino":
            return OpenVINORunner(model)
    except FacetrackError:
        raise
    except Exception as e:  # noqa: BLE001 - an optional backend that fails falls back only when auto
        if backend != "auto":
            raise FacetrackError(f"backend {b} failed to start: {str(e).splitlines()[0][:160]}") from None
    return TorchRunner(model, dev)

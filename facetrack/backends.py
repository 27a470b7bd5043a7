"""Inference backends for PIPNet: torch (eager), ONNX Runtime, OpenVINO.

A runner takes a normalised float32 batch (B, 3, S, S) and returns the five raw output maps as torch
tensors. ``auto`` picks the fastest one installed for the device: OpenVINO, then ONNX Runtime, then torch on
CPU; torch on CUDA. ONNX files are exported once per model file and cached in ``$FACETRACK_HOME/onnx``.

Precision: ``fp32``, ``fp16`` (torch, for CUDA), ``bf16`` (OpenVINO on CPUs with bf16, torch), ``int8``
(OpenVINO, from a quantized model file made by ``facetrack quantize`` that sits next to the model:
``NAME.int8.xml`` + ``.bin``; the bundled default ships one). ``auto``: int8 when the backend is OpenVINO and
a quantized file made from exactly these weights is there, else the backend's default (fp32; fp16 for torch
on CUDA; OpenVINO's own choice, bf16 on CPUs that have it).
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
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
INT8_KEY = ["facetrack", "source_weights"]  # rt_info path in a quantized model: the hash of its fp32 weights


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

    def __init__(self, model: PIPNetModel, device: torch.device, precision: str | None = None):
        self.device = device
        self.precision = precision or ("fp16" if device.type == "cuda" else "fp32")
        self.dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.precision]
        net = model.net.to(device).eval().to(memory_format=torch.channels_last)
        self.net = net.to(self.dtype)

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = x.to(self.device, non_blocking=True)
        out = self.net(x.to(self.dtype))
        return tuple(o.float() for o in out)


def _model_key(model: PIPNetModel) -> str:
    """A hash of the weights (as fp32)."""
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
    precision = "fp32"

    def __init__(self, model: PIPNetModel, threads: int | None = None):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or torch.get_num_threads()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(str(onnx_file(model)), so, providers=["CPUExecutionProvider"])

    def run_np(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self.sess.run(None, {"image": np.ascontiguousarray(x, dtype=np.float32)}))

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(o) for o in self.run_np(x.cpu().numpy()))


def int8_file(model_path: str | Path | None) -> Path | None:
    """Where the quantized OpenVINO model for a model file lives: NAME.int8.xml beside NAME.safetensors."""
    if model_path is None:
        return None
    p = Path(model_path)
    return p.with_name(p.name.split(".")[0] + ".int8.xml")


def read_int8(model: PIPNetModel, model_path: str | Path | None):
    """The quantized ov.Model for these exact weights, or (None, reason)."""
    f = int8_file(model_path)
    if f is None or not f.is_file() or not f.with_suffix(".bin").is_file():
        return None, f"no quantized model at {f}" if f else "the model has no file to find a quantized one beside"
    import openvino as ov
    try:
        om = ov.Core().read_model(str(f))
        key = om.get_rt_info(INT8_KEY).astype(str) if om.has_rt_info(INT8_KEY) else None
    except Exception as e:  # noqa: BLE001 - a damaged file is reported, not raised from deep inside OpenVINO
        return None, f"{f} could not be read ({str(e).splitlines()[0][:120]})"
    if key != _model_key(model):
        return None, f"{f} was quantized from other weights (re-run facetrack quantize)"
    return om, str(f)


def _use_compile_cache(core) -> None:
    """OpenVINO keeps compiled models in the facetrack cache folder (``ov_cache``): a second run loads them
    instead of compiling again. Optional: a read-only or missing home only costs the compilation."""
    from .assets import cache_dir
    try:
        d = cache_dir() / "ov_cache"
        d.mkdir(parents=True, exist_ok=True)
        core.set_property({"CACHE_DIR": str(d)})
    except Exception:  # noqa: BLE001 - caching is an optimisation, never a reason to fail
        pass


class OpenVINORunner:
    name = "openvino"

    def __init__(self, model: PIPNetModel, threads: int | None = None, precision: str | None = None,
                 int8_model=None):
        """``int8_model``: the quantized ov.Model (from :func:`read_int8`) when ``precision`` is int8."""
        import openvino as ov
        core = ov.Core()
        _use_compile_cache(core)
        cfg = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads or torch.get_num_threads()}
        if precision == "int8":
            om = int8_model
        else:
            if precision:
                cfg["INFERENCE_PRECISION_HINT"] = {"fp32": "f32", "bf16": "bf16"}[precision]
            om = core.read_model(str(onnx_file(model)))
        size = model.meta.input_size
        # one face: a copy with the batch fixed at 1 (static shapes ran 12% faster than the dynamic-batch
        # model in paired runs, int8, 2 threads), one request splitting each layer over the threads
        one = om.clone()
        one.reshape([1, 3, size, size])
        self.compiled = core.compile_model(one, "CPU", cfg)
        self.req = self.compiled.create_infer_request()
        # batches: one stream per core, each a single thread, the batch split between them (on 2 cores,
        # faster than one 2-thread request in 10 of 12 paired runs at batch 8, median 185 vs 179 faces/s)
        n = cfg["INFERENCE_NUM_THREADS"]
        if n > 1:
            tp = core.compile_model(om, "CPU", {**cfg, "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": n})
            self.batch_reqs = [tp.create_infer_request() for _ in range(n)]
        else:
            self.batch_reqs = [core.compile_model(om, "CPU", cfg).create_infer_request()]
        # None: OpenVINO's own choice (bf16 on CPUs that have it, else f32); report what it runs
        self.precision = precision or {"bf16": "bf16", "f16": "fp16"}.get(
            str(self.compiled.get_property("INFERENCE_PRECISION_HINT")), "fp32")

    def run_np(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if len(x) == 1:
            self.req.infer({0: x})
            return tuple(self.req.get_output_tensor(i).data.copy() for i in range(5))
        parts = [p for p in np.array_split(x, len(self.batch_reqs)) if len(p)]
        reqs = self.batch_reqs[:len(parts)]
        for r, p in zip(reqs, parts):
            r.start_async({0: np.ascontiguousarray(p)})
        for r in reqs:
            r.wait()
        return tuple(np.concatenate([r.get_output_tensor(i).data for r in reqs]) for i in range(5))

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(o) for o in self.run_np(x.cpu().numpy()))


def pick_precision(precision: str, backend: str, int8_model=None) -> str | None:
    """``int8_model``: the matching quantized model when there is one (OpenVINO only)."""
    if precision not in PRECISIONS:
        raise FacetrackError(f"unknown precision {precision!r} (choose {', '.join(PRECISIONS)})")
    if precision == "auto":  # None: the backend's own default (fp16 for torch on CUDA, fp32 or bf16 elsewhere)
        return "int8" if int8_model is not None else None
    if precision == "int8" and backend != "openvino":
        raise FacetrackError("int8 runs on the openvino backend (--backend openvino)")
    if precision == "bf16" and backend == "onnxruntime":
        raise FacetrackError("bf16 runs on the openvino or torch backend")
    if precision == "fp16" and backend != "torch":
        raise FacetrackError("fp16 runs on the torch backend (meant for CUDA)")
    return precision


def make_runner(model: PIPNetModel, backend: str = "auto", device: torch.device | str = "cpu",
                precision: str = "auto", model_path: str | Path | None = None):
    """A runner for ``model``; ``model_path`` (the file it came from) is where a quantized copy is looked for."""
    dev = torch.device(device)
    b = pick_backend(backend, dev)
    om = None
    if b == "openvino" and precision in ("auto", "int8"):
        om, why = read_int8(model, model_path)
        if om is None and precision == "int8":
            raise FacetrackError(f"int8: {why}")
    prec = pick_precision(precision, b, om)
    try:
        if b == "onnxruntime":
            return OnnxRuntimeRunner(model)
        if b == "openvino":
            return OpenVINORunner(model, precision=prec, int8_model=om)
    except FacetrackError:
        raise
    except Exception as e:  # noqa: BLE001 - an optional backend that fails falls back only when auto
        if backend != "auto":
            raise FacetrackError(f"backend {b} failed to start: {str(e).splitlines()[0][:160]}") from None
        prec = pick_precision(precision, "torch")
    return TorchRunner(model, dev, prec)

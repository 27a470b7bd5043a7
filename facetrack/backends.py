"""Inference backends for PIPNet: OpenVINO and ONNX Runtime (no torch), torch (eager; CUDA).

A runner takes a normalised float32 batch (B, 3, S, S) as numpy (``run_np``, OpenVINO and ONNX Runtime) or as a
torch tensor (``__call__``, the torch runner) and returns the five raw output maps. ``auto`` picks the fastest one
installed for the device: OpenVINO, then ONNX Runtime, then torch on a CPU; torch on CUDA.

The CPU engines run a model's *runtime files*, written beside the model file by ``facetrack train`` and
``facetrack export`` (the bundled default ships them): ``NAME.onnx`` (fp32 compute; weights stored as in the
checkpoint) and, optionally, ``NAME.int8.xml`` + ``.bin`` (OpenVINO int8 from ``facetrack quantize``). Each is
tagged with the sha256 of the model file it was made from and used only for exactly that file. A model without
them is exported into ``$FACETRACK_HOME/onnx`` once, which needs torch. Nothing in this module imports torch
unless the torch backend, CUDA or such an export is asked for.

Precision: ``fp32``, ``fp16`` (torch, for CUDA), ``bf16`` (OpenVINO on CPUs with bf16, torch), ``int8``
(OpenVINO). ``auto``: int8 when the backend is OpenVINO and a matching quantized file is there, else fp32 (fp16
for torch on CUDA). bf16 is faster still on CPUs with AMX but lost a video clip's convergence
(docs/performance.md): asked for, not automatic (OpenVINO's own default would take it on such CPUs, so fp32 is
asked for by name).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import os
import struct
import sys
import tempfile
from pathlib import Path

import numpy as np

from .errors import FacetrackError

BACKENDS = ("auto", "torch", "onnxruntime", "openvino")
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
INT8_KEY = ["facetrack", "source_sha256"]  # rt_info path in a quantized model: the sha256 of its model file
ONNX_KEY = "source_sha256"  # ONNX metadata property of a runtime file: the same
TRAIN_EXTRA = "pip install 'facetrack[train]'"
_THREADS: int | None = None


# ----------------------------------------------------------------------------------- environment
def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def needs_torch(what: str, extra: str = "train") -> FacetrackError:
    """The one-line error for something that truly needs torch (the CLI prints it and exits 2)."""
    return FacetrackError(f"{what} needs torch, which this install does not have: pip install 'facetrack[{extra}]'")


def installed(name: str) -> bool:
    """torch, onnxruntime or openvino can be imported."""
    return importlib.util.find_spec(name) is not None


def cpu_threads() -> int:
    """Threads for the CPU engines: :func:`set_threads`' value, else the cores this process may use."""
    if _THREADS:
        return _THREADS
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def set_threads(n: int | None) -> None:
    """Cap the engines' threads (batch workers share the cores); torch too, when it is already loaded."""
    global _THREADS
    _THREADS = n or None
    if n and "torch" in sys.modules:
        import torch
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)


def _cuda_driver() -> bool:
    """A CUDA driver library loads (cheap, and without torch: a CPU-only machine never imports torch to learn it)."""
    import ctypes
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when torch with CUDA and a GPU are there, else ``cpu``; ``cuda[:N]`` needs torch."""
    d = str(device)
    if d == "auto":
        if torch_installed() and _cuda_driver():
            import torch
            if torch.cuda.is_available():
                return "cuda"
        return "cpu"
    if d == "cpu":
        return d
    if d == "cuda" or d.startswith("cuda:"):
        if not torch_installed():
            raise needs_torch(f"--device {d}", "gpu")
        import torch
        if not torch.cuda.is_available():
            raise FacetrackError(f"--device {d}: torch sees no CUDA device here")
        return d
    raise FacetrackError(f"unknown device {d!r} (choose auto, cpu, cuda or cuda:N)")


def pick_backend(backend: str, device: str) -> str:
    if backend not in BACKENDS:
        raise FacetrackError(f"unknown backend {backend!r} (choose {', '.join(BACKENDS)})")
    cuda = device != "cpu"
    if backend != "auto":
        if cuda and backend != "torch":
            raise FacetrackError(f"backend {backend} runs on the CPU; use --backend torch with --device cuda")
        if backend == "torch" and not torch_installed():
            raise needs_torch("--backend torch")
        if not installed(backend):
            raise FacetrackError(f"backend {backend} is not installed (pip install "
                                 f"'facetrack[{'onnx' if backend == 'onnxruntime' else backend}]')")
        return backend
    if cuda:
        return "torch"
    for b in ("openvino", "onnxruntime"):
        if installed(b):
            return b
    if torch_installed():
        return "torch"
    raise FacetrackError("no inference engine is installed: pip install openvino (or onnxruntime)")


# --------------------------------------------------------------------------------- runtime files
def onnx_beside(model_path: str | Path) -> Path:
    """NAME.onnx beside NAME.safetensors: the runtime file the CPU engines run."""
    from pipnet_model.meta import runtime_file
    return runtime_file(model_path)


def int8_file(model_path: str | Path | None) -> Path | None:
    """Where the quantized OpenVINO model for a model file lives: NAME.int8.xml beside NAME.safetensors."""
    if model_path is None:
        return None
    p = Path(model_path)
    return p.with_name(p.name.split(".")[0] + ".int8.xml")


def _varint(f) -> int | None:
    shift = value = 0
    while True:
        b = f.read(1)
        if not b:
            return None
        value |= (b[0] & 0x7F) << shift
        if b[0] < 0x80:
            return value
        shift += 7


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """An ONNX file's metadata properties (ModelProto field 14), read from the protobuf wire format directly:
    the weights are skipped, not parsed, and no onnx package is needed."""
    out: dict[str, str] = {}
    with open(path, "rb") as f:
        while (tag := _varint(f)) is not None:
            field, wire = tag >> 3, tag & 7
            if wire == 0:
                _varint(f)
            elif wire == 1:
                f.seek(8, 1)
            elif wire == 5:
                f.seek(4, 1)
            elif wire == 2:
                n = _varint(f) or 0
                if field != 14:
                    f.seek(n, 1)
                    continue
                entry, kv = io.BytesIO(f.read(n)), {}
                while (t := _varint(entry)) is not None:  # StringStringEntryProto: key = 1, value = 2, strings
                    kv[t >> 3] = entry.read(_varint(entry) or 0).decode("utf-8", "replace")
                if 1 in kv:
                    out[kv[1]] = kv.get(2, "")
            else:
                raise FacetrackError(f"{path} is not an ONNX model file")
    return out


def file_key(path: str | Path) -> str:
    """:func:`pipnet_model.meta.file_key`, hashed once per version of the file in a process (the int8 and ONNX
    checks both need it)."""
    st = os.stat(path)
    return _file_key(str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _file_key(path: str, inode: int, size: int, mtime_ns: int) -> str:
    from pipnet_model.meta import file_key as key
    return key(path)


def _onnx_made_from(model_path: Path) -> tuple[Path | None, str]:
    """(the runtime ONNX beside the model when made from exactly this file, else None; why not)."""
    f = onnx_beside(model_path)
    if not f.is_file():
        return None, f"it has no runtime file {f.name}"
    try:
        if onnx_metadata(f).get(ONNX_KEY) == file_key(model_path):
            return f, ""
        return None, f"{f.name} beside it was made from other weights"
    except (OSError, FacetrackError, IndexError, TypeError):
        return None, f"{f.name} beside it is damaged"


def runtime_files(model_path: str | Path) -> dict:
    """What the torch-free engines find beside a model file: {"onnx": PATH or why not, "int8": PATH or why not}."""
    onnx, why = _onnx_made_from(Path(model_path))
    om, why8 = read_int8(model_path)
    return {"onnx": str(onnx) if onnx else why, "int8": why8 if om is not None else f"{why8} (facetrack quantize)"}


def runtime_onnx(model_path: Path | None, torch_model=None) -> Path:
    """The ONNX file the CPU engines run for a model: its runtime file beside it when made from exactly this
    file, else one exported into the cache (once per model; needs torch)."""
    why = "the model has no file"
    if model_path is not None:
        f, why = _onnx_made_from(Path(model_path))
        if f is not None:
            return f
    if not torch_installed():
        raise FacetrackError(f"{model_path}: {why}; make it with `facetrack export --model {model_path}`, which "
                             f"needs torch ({TRAIN_EXTRA}), or use a model made by facetrack train")
    return _cached_export(model_path, torch_model)


def _cached_export(model_path: Path | None, torch_model=None) -> Path:
    from .assets import cache_dir
    if torch_model is None:
        from pipnet_model.checkpoint import load_model
        torch_model = load_model(model_path)
    key = file_key(model_path) if model_path is not None else _weights_key(torch_model)
    d = cache_dir() / "onnx"
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        d = Path(tempfile.mkdtemp(prefix="facetrack-onnx-"))
    p = d / f"pipnet-{key[:20]}-{torch_model.meta.input_size}.onnx"
    if not p.is_file():
        from pipnet_model.export import export_onnx
        export_onnx(torch_model, p, check=False)
    return p


def _weights_key(model) -> str:
    """A hash of an in-memory model's weights (as fp32), for models that have no file."""
    h = hashlib.sha256()
    for k, v in sorted(model.net.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()


def read_int8(model_path: str | Path | None):
    """The quantized ov.Model for exactly this model file, or (None, reason)."""
    f = int8_file(model_path)
    if f is None or not f.is_file() or not f.with_suffix(".bin").is_file():
        return None, f"no quantized model at {f}" if f else "the model has no file to find a quantized one beside"
    ov = import_openvino()
    try:
        om = ov.Core().read_model(str(f))
        key = om.get_rt_info(INT8_KEY).astype(str) if om.has_rt_info(INT8_KEY) else None
    except Exception as e:  # noqa: BLE001 - a damaged file is reported, not raised from deep inside OpenVINO
        return None, f"{f} could not be read ({str(e).splitlines()[0][:120]})"
    if key != file_key(model_path):
        return None, f"{f} was quantized from another model file (re-run facetrack quantize)"
    return om, str(f)


def import_openvino():
    """``import openvino`` without its model converter: the package's ``__init__`` imports ``openvino.tools.ovc``
    (~0.1 s, a tenth of a 1-frame job's start-up) inside ``try/except ImportError``, and facetrack only reads ONNX
    and OpenVINO files, so ``None`` stands in ``sys.modules`` for the converter during the import (Python's way
    of making an import fail). ``openvino.convert_model`` is then a function that imports the converter when
    called: code that uses it (NNCF, a user's script) still works. An OpenVINO whose ``__init__`` does not
    tolerate the missing converter is imported the plain way."""
    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    key = "openvino.tools.ovc"
    blocked = key not in sys.modules
    if blocked:
        sys.modules[key] = None
    try:
        import openvino as ov
    except ImportError:
        if not blocked:
            raise
        del sys.modules[key]
        blocked = False
        import openvino as ov
    finally:
        if blocked and key in sys.modules and sys.modules[key] is None:
            del sys.modules[key]
    if not hasattr(ov, "convert_model"):
        def convert_model(*args, **kwargs):
            from openvino.tools.ovc import convert_model as convert
            return convert(*args, **kwargs)
        ov.convert_model = convert_model
    return ov


# ------------------------------------------------------------------------------------------ runners
class TorchRunner:
    name = "torch"

    def __init__(self, model, device: str, precision: str | None = None):
        import torch
        self.device = torch.device(device)
        self.precision = precision or ("fp16" if self.device.type == "cuda" else "fp32")
        self.dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.precision]
        net = model.net.to(self.device).eval().to(memory_format=torch.channels_last)
        self.net = net.to(self.dtype)

    def __call__(self, x):
        import torch
        with torch.inference_mode():
            x = x.to(self.device, non_blocking=True)
            out = self.net(x.to(self.dtype))
            return tuple(o.float() for o in out)


class OnnxRuntimeRunner:
    name = "onnxruntime"
    precision = "fp32"

    def __init__(self, onnx_path: Path, threads: int | None = None):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or cpu_threads()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])

    def run_np(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self.sess.run(None, {"image": np.ascontiguousarray(x, dtype=np.float32)}))


def use_compile_cache(core) -> None:
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

    def __init__(self, input_size: int, onnx_path: Path | None = None, threads: int | None = None,
                 precision: str | None = None, int8_model=None):
        """``int8_model``: the quantized ov.Model (from :func:`read_int8`) when ``precision`` is int8, else the
        network is read from ``onnx_path``."""
        ov = import_openvino()
        self.core = core = ov.Core()
        use_compile_cache(core)
        self.cfg = cfg = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads or cpu_threads()}
        if precision == "int8":
            om = int8_model
        else:  # named even for auto (None): OpenVINO's own default is bf16 on CPUs with AMX
            cfg["INFERENCE_PRECISION_HINT"] = {"fp32": "f32", "bf16": "bf16"}[precision or "fp32"]
            om = core.read_model(str(onnx_path))
        self.model = om
        # one face: a copy with the batch fixed at 1 (static shapes ran 12% faster than the dynamic-batch
        # model in paired runs, int8, 2 threads), one request splitting each layer over the threads
        one = om.clone()
        one.reshape([1, 3, input_size, input_size])
        self.compiled = core.compile_model(one, "CPU", cfg)
        self.req = self.compiled.create_infer_request()
        self._batch_reqs = None  # compiled on the first batch of two or more faces, not before
        self.precision = precision or "fp32"

    @property
    def batch_reqs(self) -> list:
        # batches: one stream per core, each a single thread, the batch split between them (on 2 cores,
        # faster than one 2-thread request in 10 of 12 paired runs at batch 8, median 185 vs 179 faces/s)
        if self._batch_reqs is None:
            n, cfg = self.cfg["INFERENCE_NUM_THREADS"], self.cfg
            if n > 1:
                tp = self.core.compile_model(self.model, "CPU", {**cfg, "PERFORMANCE_HINT": "THROUGHPUT",
                                                                 "NUM_STREAMS": n})
                self._batch_reqs = [tp.create_infer_request() for _ in range(n)]
            else:
                self._batch_reqs = [self.core.compile_model(self.model, "CPU", cfg).create_infer_request()]
        return self._batch_reqs

    def run_np(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        # fewer faces than two a core: face by face (split over the single-thread streams, 3 faces on 2 cores put 2
        # on one stream: 6.2 ms against 3.6 face by face; 2 faces level; 4 and 8 faces: streams level or ahead;
        # int8, Zen 5, benchmarks/network_in_pipeline.py, retired: benchmarks/README.md)
        return self.run_faces(x) if len(x) < 2 * self.cfg["INFERENCE_NUM_THREADS"] else self.run_streams(x)

    def run_faces(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """Face by face through the one-face engine (every thread on each face)."""
        outs = []
        for face in x:
            self.req.infer({0: face[None]})
            outs.append([self.req.get_output_tensor(i).data.copy() for i in range(5)])
        return tuple(outs[0]) if len(outs) == 1 else tuple(np.concatenate(o) for o in zip(*outs))

    def run_streams(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """The batch split over the per-core single-thread streams, run at once."""
        parts = [p for p in np.array_split(x, len(self.batch_reqs)) if len(p)]
        reqs = self.batch_reqs[:len(parts)]
        for r, p in zip(reqs, parts):
            r.start_async({0: np.ascontiguousarray(p)})
        for r in reqs:
            r.wait()
        return tuple(np.concatenate([r.get_output_tensor(i).data for r in reqs]) for i in range(5))


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


def make_runner(meta, backend: str = "auto", device: str = "cpu", precision: str = "auto",
                model_path: Path | None = None, torch_model=None, load_torch=None):
    """A runner for the model described by ``meta``: from the file ``model_path`` (its runtime files are
    looked for beside it) or the in-memory ``torch_model``; ``load_torch()`` gives the torch model on demand."""
    b = pick_backend(backend, device)
    om = None
    if b == "openvino" and precision in ("auto", "int8"):
        om, why = read_int8(model_path) if model_path is not None else (None, "the model has no file")
        if om is None and precision == "int8":
            raise FacetrackError(f"int8: {why}")
    prec = pick_precision(precision, b, om)
    if b != "torch":
        try:
            if b == "onnxruntime":
                return OnnxRuntimeRunner(runtime_onnx(model_path, torch_model))
            onnx = None if prec == "int8" else runtime_onnx(model_path, torch_model)
            return OpenVINORunner(meta.input_size, onnx, precision=prec, int8_model=om)
        except FacetrackError:
            raise
        except Exception as e:  # noqa: BLE001 - an optional backend that fails falls back only when auto
            if backend != "auto" or not torch_installed():
                raise FacetrackError(f"backend {b} failed to start: {str(e).splitlines()[0][:160]}") from None
            prec = pick_precision(precision, "torch")
    return TorchRunner(load_torch() if torch_model is None else torch_model, device, prec)

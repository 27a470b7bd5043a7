"""Model metadata without torch: the description stored in a model file's safetensors header, and the header
reader. The torch-free runtime (facetrack's OpenVINO / ONNX Runtime path) needs only this from a model file.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import PIPNetError
from .schemes import Scheme

STRIDE = 32  # PIPNet's output map stride
FORMAT = "facetrack-pipnet"
VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ModelMeta:
    backbone: str
    scheme: Scheme
    mean_face: list[list[float]]
    nb_idx: list[list[int]]
    input_size: int = 256
    stride: int = STRIDE
    num_nb: int = 10
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    color: str = "RGB"
    # crop convention: square box around the landmark box's centre, side = max(w, h) * scale
    crop_scale: float = 1.1
    nrm: str = "cyclic"
    recipe: dict = field(default_factory=dict)

    @property
    def num_points(self) -> int:
        return self.scheme.num_points

    def to_json(self) -> dict:
        d = asdict(self)
        d["scheme"] = self.scheme.to_json()
        return {"format": FORMAT, "version": VERSION, **d}

    @staticmethod
    def from_json(d: dict) -> "ModelMeta":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise PIPNetError(f"metadata is not a {FORMAT} description")
        if int(d.get("version", 0)) > VERSION:
            raise PIPNetError(f"model file version {d.get('version')} is newer than this facetrack understands")
        try:
            m = ModelMeta(
                backbone=str(d["backbone"]), scheme=Scheme.from_json(d["scheme"]),
                mean_face=[[float(a), float(b)] for a, b in d["mean_face"]],
                nb_idx=[[int(i) for i in row] for row in d["nb_idx"]],
                input_size=int(d["input_size"]), stride=int(d.get("stride", STRIDE)), num_nb=int(d["num_nb"]),
                mean=tuple(float(x) for x in d.get("mean", IMAGENET_MEAN)),
                std=tuple(float(x) for x in d.get("std", IMAGENET_STD)),
                color=str(d.get("color", "RGB")), crop_scale=float(d.get("crop_scale", 1.1)),
                nrm=str(d.get("nrm", "cyclic")), recipe=dict(d.get("recipe", {})))
        except PIPNetError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise PIPNetError(f"malformed model metadata: {type(e).__name__}: {e}") from None
        m.validate()
        return m

    def validate(self) -> None:
        n, c = self.num_points, self.num_nb
        if self.stride != STRIDE:
            raise PIPNetError(f"model metadata: stride {self.stride} unsupported (PIPNet uses {STRIDE})")
        if self.input_size <= 0 or self.input_size % STRIDE:
            raise PIPNetError(f"model metadata: input size {self.input_size} is not a multiple of {STRIDE}")
        if len(self.mean_face) != n or not all(len(p) == 2 and all(math.isfinite(v) for v in p) for p in self.mean_face):
            raise PIPNetError(f"model metadata: mean face must be {n} finite (x, y) pairs")
        if not 1 <= c < n or len(self.nb_idx) != n or any(len(r) != c for r in self.nb_idx):
            raise PIPNetError(f"model metadata: neighbour table must be {n} x {c}")
        for i, row in enumerate(self.nb_idx):
            if any(not 0 <= j < n or j == i for j in row):
                raise PIPNetError(f"model metadata: neighbour index out of range or self-reference for point {i}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise PIPNetError("model metadata: normalisation needs 3 means and 3 positive stds")
        if self.color not in ("RGB", "BGR"):
            raise PIPNetError(f"model metadata: color must be RGB or BGR, got {self.color!r}")
        if not 0.5 <= self.crop_scale <= 4:
            raise PIPNetError(f"model metadata: crop scale {self.crop_scale} out of range")
        if self.nrm not in ("cyclic", "exact", "none"):
            raise PIPNetError(f"model metadata: nrm must be cyclic, exact or none, got {self.nrm!r}")

    def nb_tensor(self):
        """The neighbour table as a torch tensor (training and the torch backend; imports torch)."""
        import torch
        return torch.tensor(self.nb_idx, dtype=torch.long)


def _check_header(p: Path) -> None:
    """Refuse anything that is not a safetensors file before any parser sees it (pickles are named as such)."""
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(9)
    if len(head) == 9:
        (n,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and n <= size - 8:
            return
    if head[:2] == b"PK":
        raise PIPNetError(f"{p} is a zip/PyTorch pickle archive; facetrack loads only .safetensors model files "
                          "and never unpickles")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise PIPNetError(f"{p} is a Python pickle; facetrack loads only .safetensors model files and never unpickles")
    if len(head) < 9:
        raise PIPNetError(f"{p} is too short to be a safetensors model file ({size} bytes)")
    raise PIPNetError(f"{p} is not a valid safetensors file (bad or truncated header)")


def read_header(path: str | Path) -> dict:
    """The JSON header of a safetensors file (tensor names, dtypes, shapes, offsets, ``__metadata__``), read
    directly (8-byte little-endian length, then JSON): no tensor library is imported."""
    p = Path(path)
    if not p.is_file():
        raise PIPNetError(f"model file not found: {p}")
    _check_header(p)
    try:
        with open(p, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            head = json.loads(f.read(n))
        if not isinstance(head, dict):
            raise ValueError("the header is not a JSON object")
    except (ValueError, UnicodeDecodeError) as e:
        raise PIPNetError(f"{p} is not a readable safetensors file: {str(e).splitlines()[0][:200]}") from None
    return head


def read_meta(path: str | Path) -> ModelMeta:
    p = Path(path)
    md = read_header(p).get("__metadata__") or {}
    if "pipnet" not in md:
        raise PIPNetError(f"{p} has no PIPNet metadata (not a facetrack model file)")
    try:
        d = json.loads(md["pipnet"])
    except (TypeError, ValueError) as e:
        raise PIPNetError(f"{p}: metadata is not valid JSON: {e}") from None
    return ModelMeta.from_json(d)


def file_key(path: str | Path) -> str:
    """What files derived from a model file (its ONNX and int8 copies) are tagged with: the sha256 of the
    model file's bytes, weights and metadata together, so a derived file is never used for other weights."""
    import hashlib
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def runtime_file(path: str | Path) -> Path:
    """NAME.onnx beside NAME.safetensors: the network as ONNX, tagged with :func:`file_key` of the model file,
    which torch-free runtimes run (written by :func:`export.write_runtime_file`)."""
    p = Path(path)
    return p.with_name(p.name.split(".")[0] + ".onnx")

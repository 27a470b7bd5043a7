"""Batched inference on crops, and evaluation on a labelled dataset (boxes from the labelled landmarks)."""
from __future__ import annotations

import numpy as np
import torch

from . import evaluation
from .checkpoint import PIPNetModel
from .codec import decode, reverse_index_of
from .datasets import LandmarkSet


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def to_input(crops: np.ndarray | torch.Tensor, model: PIPNetModel, bgr: bool = True,
             device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 crops (B, S, S, 3) -> normalised float tensor (B, 3, S, S) in the model's colour order."""
    t = torch.as_tensor(crops).to(device, non_blocking=True)
    want_rgb = model.meta.color == "RGB"
    if bgr == want_rgb:
        t = t.flip(-1)
    t = t.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(model.meta.mean, device=t.device).view(1, 3, 1, 1)
    std = torch.tensor(model.meta.std, device=t.device).view(1, 3, 1, 1)
    return ((t - mean) / std).contiguous(memory_format=torch.channels_last)


class CropPredictor:
    """Runs a model on ready-made crops: (B, S, S, 3) uint8 -> normalised points (B, N, 2), confidence (B, N).

    ``runner`` (optional) replaces the eager torch network: any callable taking the normalised float batch
    and returning the five output maps (facetrack uses it for ONNX Runtime and OpenVINO)."""

    def __init__(self, model: PIPNetModel, device: str | torch.device = "auto", runner=None):
        self.model = model
        self.device = resolve_device(device)
        self.runner = runner
        self.net = model.net.to(self.device).eval() if runner is None else None
        self.nb = model.meta.nb_tensor()
        self.rev = reverse_index_of(model.meta)
        self.nrm = model.meta.nrm != "none"

    @torch.inference_mode()
    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.runner is not None and hasattr(self.runner, "run_np"):  # an engine that takes numpy
            return tuple(torch.from_numpy(o) for o in self.runner.run_np(x.cpu().numpy()))
        return tuple(o.float() for o in (self.runner(x) if self.runner is not None else self.net(x)))

    @torch.inference_mode()
    def __call__(self, crops: np.ndarray | torch.Tensor, bgr: bool = True) -> tuple[np.ndarray, np.ndarray]:
        if len(crops) == 0:
            n = self.model.meta.num_points
            return np.zeros((0, n, 2), np.float32), np.zeros((0, n), np.float32)
        return self.decode(self.outputs(to_input(crops, self.model, bgr, self.device)))

    def decode(self, out: tuple[torch.Tensor, ...]) -> tuple[np.ndarray, np.ndarray]:
        dev = out[0].device
        pts, conf = decode(out, self.nb.to(dev), self.rev, nrm=self.nrm)
        return pts.cpu().numpy(), conf.cpu().numpy()


def predict_dataset(model: PIPNetModel, ds: LandmarkSet, batch_size: int = 32, device: str = "auto",
                    predictor: CropPredictor | None = None) -> np.ndarray:
    """Predictions in source-image pixels for every record, crops from the labelled landmarks."""
    return evaluation.predict_dataset(model.meta, ds, predictor or CropPredictor(model, device), batch_size)


def evaluate(model: PIPNetModel, ds: LandmarkSet, batch_size: int = 32, device: str = "auto",
             predictor: CropPredictor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(per-face NME, predictions in pixels) with the torch network (or ``predictor``, any crops -> points
    callable); `evaluation.evaluate` is the same without torch."""
    return evaluation.evaluate(model.meta, ds, predictor or CropPredictor(model, device), batch_size)

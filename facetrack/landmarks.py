"""LandmarkPredictor: frame + face boxes -> crops -> one batched PIPNet call -> landmarks in frame pixels."""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
import torch

from pipnet_model.augment import (apply_affine, crop_matrix, from_unit, invert_affine, landmark_box,
                                  square_from_box, warp)
from pipnet_model.checkpoint import PIPNetModel
from pipnet_model.checkpoint import load_model as _load_file
from pipnet_model.inference import CropPredictor, to_input, to_input_np

from .assets import resolve_model_path
from .detectors import IDENTITY, BoxAdapter
from .errors import FacetrackError


def load_model(model: str | Path | PIPNetModel = "default", device: str = "cpu") -> PIPNetModel:
    """The bundled default model (``"default"``), a model file, or a training run folder."""
    if isinstance(model, PIPNetModel):
        return model
    return _load_file(resolve_model_path(model), device=device)


class LandmarkPredictor:
    """Predict landmarks for faces in a frame.

    ``boxes`` are (x0, y0, x1, y1) face boxes in frame pixels, in the model's box convention (the box of
    the landmarks); ``box_adapter`` maps another convention onto it (a detector's ``box_adapter``, for boxes
    straight from that detector). Boxes may extend past the frame (the crop is padded). Frames are H x W x 3
    uint8 in ``color`` order ("BGR", as OpenCV and PyAV's bgr24, or "RGB").
    """

    def __init__(self, model: str | Path | PIPNetModel = "default", device: str = "auto",
                 box_adapter: BoxAdapter | None = None, backend: str = "auto",
                 device_crops: bool | None = None, precision: str = "auto"):
        from pipnet_model.inference import resolve_device

        from .backends import make_runner
        path = None if isinstance(model, PIPNetModel) else resolve_model_path(model)
        self.model = load_model(model if path is None else path)
        dev = resolve_device(device)
        runner = make_runner(self.model, backend, dev, precision, model_path=path)
        self.backend = runner.name
        self.precision = runner.precision
        # OpenVINO / ONNX Runtime keep their own worker threads on the cores; torch's OpenMP team spinning
        # beside them on the small tensors around the network (input scaling, NRM decode) slowed the landmark
        # stage 1.6x on 2 cores (11.7 vs 7.2 ms per face), so that glue runs on one thread there
        self._glue_threads = 1 if (dev.type == "cpu" and runner.name != "torch") else None
        self.predictor = CropPredictor(self.model, dev, runner=runner)
        self.device = dev
        self.size = self.model.meta.input_size
        self.box_adapter = box_adapter or IDENTITY
        # on a GPU the crops are cut there: one upload per frame and one batched affine warp (grid_sample)
        self.device_crops = (dev.type == "cuda") if device_crops is None else device_crops
        self.timings = {"crop": 0.0, "network": 0.0, "decode_nrm": 0.0, "faces": 0}

    @contextlib.contextmanager
    def _glue(self):
        if self._glue_threads is None:
            yield
            return
        n = torch.get_num_threads()
        torch.set_num_threads(self._glue_threads)
        try:
            yield
        finally:
            torch.set_num_threads(n)

    @property
    def num_points(self) -> int:
        return self.model.meta.num_points

    def crop_matrices(self, boxes: np.ndarray, adapt: bool = True) -> list[np.ndarray]:
        """Source->crop matrices; ``adapt=False`` for boxes already in the landmark-box convention."""
        mats = []
        for box in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
            if adapt:
                box = self.box_adapter(box)
            cx, cy, side = square_from_box(box, self.model.meta.crop_scale)
            mats.append(crop_matrix(cx, cy, side, self.size))
        return mats

    def crops(self, frame: np.ndarray, boxes: np.ndarray, adapt: bool = True) -> tuple[np.ndarray, list[np.ndarray]]:
        mats = self.crop_matrices(boxes, adapt)
        out = np.empty((len(mats), self.size, self.size, 3), np.uint8)
        for i, m in enumerate(mats):
            out[i] = warp(frame, m, self.size)
        return out, mats

    def predict(self, frame: np.ndarray, boxes, color: str = "BGR", refine: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """-> (landmarks (F, N, 2) float32 frame pixels, confidence (F, N) float32 in [0, 1]).

        ``refine`` > 0 crops again around the predicted landmarks that many times (the crop then matches
        the training convention exactly; on ytf68 test with dlib's HOG boxes, NME 6.10% -> 5.49% -> 5.35%)."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise FacetrackError(f"frame must be H x W x 3 uint8, got shape {frame.shape} dtype {frame.dtype}")
        if color not in ("BGR", "RGB"):
            raise FacetrackError(f"color must be 'BGR' or 'RGB', got {color!r}")
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if not np.isfinite(boxes).all() or ((boxes[:, 2] - boxes[:, 0]) <= 0).any() or ((boxes[:, 3] - boxes[:, 1]) <= 0).any():
            raise FacetrackError("face boxes must be finite (x0, y0, x1, y1) with x1 > x0 and y1 > y0")
        lms, conf = self.predict_batch([(frame, boxes)], color)[0]
        for _ in range(refine):
            if not len(lms):
                break
            lb = np.array([landmark_box(p) for p in lms], dtype=np.float64)
            lms, conf = self.predict_batch([(frame, lb)], color, adapt=False)[0]  # landmark boxes: no adaptation
        return lms, conf

    def predict_batch(self, items: list[tuple[np.ndarray, np.ndarray]], color: str = "BGR",
                      adapt: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
        """Several frames' faces in one network call: [(frame, boxes)] -> [(landmarks, confidence)].
        ``adapt=False``: the boxes are landmark boxes already (no box adapter)."""
        t0 = time.perf_counter()
        all_crops, all_mats, counts = [], [], []
        for frame, boxes in items:
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            if self.device_crops:
                m = self.crop_matrices(boxes, adapt)
                if m:
                    all_crops.append(self.device_crop_tensor(frame, m, color))
            else:
                c, m = self.crops(frame, boxes, adapt)
                all_crops.append(c)
            all_mats += m
            counts.append(len(m))
        n = self.num_points
        if not all_mats:
            return [(np.zeros((0, n, 2), np.float32), np.zeros((0, n), np.float32)) for _ in items]
        if not self.device_crops and self.predictor.numpy_path:  # ONNX Runtime / OpenVINO: no torch on the way
            x = to_input_np(np.concatenate(all_crops), self.model, color == "BGR")
            self.timings["crop"] += time.perf_counter() - t0
            pts, conf = self.infer_np(x)
        else:
            with self._glue():
                x = (torch.cat(all_crops) if self.device_crops
                     else to_input(np.concatenate(all_crops), self.model, color == "BGR", self.device))
            self.timings["crop"] += time.perf_counter() - t0
            pts, conf = self.infer(x)
        t2 = time.perf_counter()
        lms = np.stack([apply_affine(from_unit(p.astype(np.float64), self.size), invert_affine(m))
                        for p, m in zip(pts, all_mats)]).astype(np.float32)
        self.timings["decode_nrm"] += time.perf_counter() - t2
        out, k = [], 0
        for c in counts:
            out.append((lms[k:k + c], conf[k:k + c].astype(np.float32)))
            k += c
        return out

    def infer(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Normalised input batch (B, 3, S, S) -> (points in crop units (B, N, 2), confidence (B, N))."""
        with self._glue():
            t1 = time.perf_counter()
            out = self.predictor.outputs(x)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            pts, conf = self.predictor.decode(out)
        self.timings["network"] += t2 - t1
        self.timings["decode_nrm"] += time.perf_counter() - t2
        self.timings["faces"] += len(x)
        return pts, conf

    def infer_np(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The numpy path of :meth:`infer` (engines that take numpy): network, then the numpy NRM decode."""
        t1 = time.perf_counter()
        out = self.predictor.outputs_np(x)
        t2 = time.perf_counter()
        pts, conf = self.predictor.decode_np(out)
        self.timings["network"] += t2 - t1
        self.timings["decode_nrm"] += time.perf_counter() - t2
        self.timings["faces"] += len(x)
        return pts, conf

    @torch.inference_mode()
    def device_crop_tensor(self, frame: np.ndarray, mats: list[np.ndarray], color: str = "BGR") -> torch.Tensor:
        """Normalised network input for the crops of one frame, cut on ``self.device`` with one batched
        bilinear warp (zeros outside the frame), matching OpenCV's warpAffine convention."""
        dev = self.device
        src = torch.from_numpy(np.ascontiguousarray(frame))
        if dev.type == "cuda":
            src = src.pin_memory()
        src = src.to(dev, non_blocking=True).permute(2, 0, 1).float()  # (3, H, W)
        h, w = frame.shape[:2]
        s = self.size
        inv = torch.tensor(np.stack([invert_affine(m) for m in mats]), dtype=torch.float32, device=dev)  # (K,2,3)
        ys, xs = torch.meshgrid(torch.arange(s, device=dev, dtype=torch.float32),
                                torch.arange(s, device=dev, dtype=torch.float32), indexing="ij")
        pix = torch.stack([xs, ys, torch.ones_like(xs)], -1).view(1, s * s, 3)
        srcxy = pix @ inv.transpose(1, 2)  # (K, S*S, 2) source pixel centres
        grid = torch.stack([(2 * srcxy[..., 0] + 1) / w - 1, (2 * srcxy[..., 1] + 1) / h - 1], -1).view(-1, s, s, 2)
        crops = torch.nn.functional.grid_sample(src.unsqueeze(0).expand(len(mats), -1, -1, -1), grid,
                                                mode="bilinear", padding_mode="zeros", align_corners=False)
        meta = self.model.meta
        if (color == "BGR") == (meta.color == "RGB"):
            crops = crops.flip(1)
        mean = torch.tensor(meta.mean, device=dev).view(1, 3, 1, 1) * 255
        std = torch.tensor(meta.std, device=dev).view(1, 3, 1, 1) * 255
        return ((crops - mean) / std).contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def warmup(self) -> None:
        """One face and two faces (OpenVINO runs batches on other streams) through the engine once."""
        for n in (1, 2):
            self.predictor(np.zeros((n, self.size, self.size, 3), np.uint8))

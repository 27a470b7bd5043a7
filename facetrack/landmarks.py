"""LandmarkPredictor: frame + face boxes -> crops -> one batched PIPNet call -> landmarks in frame pixels."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pipnet_model.geometry import crop_matrix, from_unit, invert_affine, square_from_box, warp
from pipnet_model.meta import ModelMeta, read_meta
from pipnet_model.runtime import decode_np, reverse_index_of, to_input_np

from .assets import resolve_model_path
from .crop_policy import crops_around, recrop
from .detectors import IDENTITY, BoxAdapter
from .errors import FacetrackError


def load_model(model="default", device: str = "cpu"):
    """The bundled default model (``"default"``), a model file, or a training run folder, as a torch
    ``PIPNetModel`` (training, export, the torch backend). Needs torch."""
    if not isinstance(model, (str, Path)):
        return model
    from .backends import needs_torch, torch_installed
    if not torch_installed():
        raise needs_torch("loading a model into torch")
    from pipnet_model.checkpoint import load_model as load_file
    return load_file(resolve_model_path(model), device=device)


class LandmarkPredictor:
    """Predict landmarks for faces in a frame.

    ``boxes`` are (x0, y0, x1, y1) face boxes in frame pixels, in the model's box convention (the box of
    the landmarks); ``box_adapter`` maps another convention onto it (a detector's ``box_adapter``, for boxes
    straight from that detector). Boxes may extend past the frame (the crop is padded). Frames are H x W x 3
    uint8 in ``color`` order ("BGR", as OpenCV and PyAV's bgr24, or "RGB").

    ``model``: ``"default"``, a model file or run folder, or an in-memory torch ``PIPNetModel``. On a CPU with
    OpenVINO or ONNX Runtime nothing here imports torch: crops are cut with OpenCV, the network runs from the
    model's runtime files, the NRM decode runs in numpy. The torch backend and CUDA load the model into torch.

    ``upright`` (default): a crop cut around predicted landmarks (``refine``, and the tracker's next-frame crops)
    is turned so that the eye line is level, with the landmark box of the upright face: a tilted head reaches the
    network as an upright one (the model's landmarks lag a tilt otherwise: docs/pose.md). A box from a detector
    is cut level. The video pipeline turns it off by default (``TrackOptions.upright``).
    """

    def __init__(self, model="default", device: str = "auto", box_adapter: BoxAdapter | None = None,
                 backend: str = "auto", device_crops: bool | None = None, precision: str = "auto",
                 upright: bool = True):
        from .backends import make_runner, resolve_device
        if isinstance(model, (str, Path)):
            self.path: Path | None = resolve_model_path(model)
            self.meta: ModelMeta = read_meta(self.path)
            self._model = None
        else:  # an in-memory PIPNetModel
            self.path, self.meta, self._model = None, model.meta, model
        self.device = resolve_device(device)
        self.runner = make_runner(self.meta, backend, self.device, precision, model_path=self.path,
                                  torch_model=self._model, load_torch=lambda: self.model)
        self.backend = self.runner.name
        self.precision = self.runner.precision
        self.numpy_path = hasattr(self.runner, "run_np")  # OpenVINO / ONNX Runtime: no torch on the way
        self._torch = None  # the torch crop predictor (torch backend only), made on first use
        self._rev_np = reverse_index_of(self.meta)
        self._nrm = self.meta.nrm != "none"
        self.size = self.meta.input_size
        self.box_adapter = box_adapter or IDENTITY
        self.upright = upright
        # on a GPU the crops are cut there: one upload per frame and one batched affine warp (grid_sample)
        self.device_crops = (self.device != "cpu") if device_crops is None else device_crops
        if self.device_crops and self.numpy_path:
            raise FacetrackError("device crops need the torch backend")
        self.timings = {"crop": 0.0, "network": 0.0, "decode_nrm": 0.0, "faces": 0}

    @property
    def model(self):
        """The model as a torch ``PIPNetModel`` (loaded on first use; needs torch)."""
        if self._model is None:
            self._model = load_model(self.path)
        return self._model

    @property
    def predictor(self):
        """The torch crop predictor around this predictor's runner (torch paths only)."""
        if self._torch is None:
            from pipnet_model.inference import CropPredictor
            self._torch = CropPredictor(self.model, self.device, runner=self.runner)
        return self._torch

    @property
    def num_points(self) -> int:
        return self.meta.num_points

    def crop_matrices(self, boxes: np.ndarray, adapt: bool = True, angles=None) -> list[np.ndarray]:
        """Source->crop matrices; ``adapt=False`` for boxes already in the landmark-box convention. ``angles``
        (degrees, one per box, clockwise on screen): each box is the face's box in its own frame turned by that
        angle about the box's centre, and the crop is turned upright (:meth:`landmark_crops`)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        angles = np.zeros(len(boxes)) if angles is None else np.asarray(angles, dtype=np.float64).reshape(-1)
        mats = []
        for box, a in zip(boxes, angles):
            if adapt:
                box = self.box_adapter(box)
            cx, cy, side = square_from_box(box, self.meta.crop_scale)
            mats.append(crop_matrix(cx, cy, side, self.size, float(a)))
        return mats

    def landmark_crops(self, lms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(boxes (F, 4), angles (F,)) to crop again around landmarks (F, N, 2): the upright box and the eye line's
        angle with ``upright``, else the plain landmark box at angle 0."""
        lms = np.asarray(lms, dtype=np.float64).reshape(-1, self.num_points, 2)
        return crops_around(lms, self.meta.scheme.eye_corners if self.upright else None)

    def crops(self, frame: np.ndarray, boxes: np.ndarray, adapt: bool = True,
              angles=None) -> tuple[np.ndarray, list[np.ndarray]]:
        mats = self.crop_matrices(boxes, adapt, angles)
        out = np.empty((len(mats), self.size, self.size, 3), np.uint8)
        for i, m in enumerate(mats):
            out[i] = warp(frame, m, self.size)
        return out, mats

    def predict(self, frame: np.ndarray, boxes, color: str = "BGR", refine: int = 0,
                angles=None) -> tuple[np.ndarray, np.ndarray]:
        """-> (landmarks (F, N, 2) float32 frame pixels, confidence (F, N) float32 in [0, 1]).

        ``refine`` > 0 crops again around the predicted landmarks that many times (the crop then matches
        the training convention exactly; on ytf68 test with dlib's HOG boxes, NME 6.10% -> 5.49% -> 5.35%),
        turned upright by their eye line (``upright``). ``angles``: see :meth:`crop_matrices`."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise FacetrackError(f"frame must be H x W x 3 uint8, got shape {frame.shape} dtype {frame.dtype}")
        if color not in ("BGR", "RGB"):
            raise FacetrackError(f"color must be 'BGR' or 'RGB', got {color!r}")
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if not np.isfinite(boxes).all() or ((boxes[:, 2] - boxes[:, 0]) <= 0).any() or ((boxes[:, 3] - boxes[:, 1]) <= 0).any():
            raise FacetrackError("face boxes must be finite (x0, y0, x1, y1) with x1 > x0 and y1 > y0")
        lms, conf = self.predict_batch([(frame, boxes) if angles is None else (frame, boxes, angles)], color)[0]
        if refine > 0 and len(lms):  # landmark boxes: no box adaptation (facetrack.crop_policy.recrop)
            lms, conf = recrop(lambda b, a: self.predict_batch([(frame, b, a)], color, adapt=False)[0],
                               self.landmark_crops, lms, conf, refine, refine)
        return lms, conf

    def predict_batch(self, items: list[tuple[np.ndarray, np.ndarray]], color: str = "BGR",
                      adapt: bool = True) -> list[tuple[np.ndarray, np.ndarray]]:
        """Several frames' faces in one network call: [(frame, boxes)] or [(frame, boxes, angles)] ->
        [(landmarks, confidence)]. ``adapt=False``: the boxes are landmark boxes already (no box adapter)."""
        t0 = time.perf_counter()
        all_crops, all_mats, counts = [], [], []
        for frame, boxes, *rest in items:
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            angles = rest[0] if rest else None
            if self.device_crops:
                m = self.crop_matrices(boxes, adapt, angles)
                if m:
                    all_crops.append(self.device_crop_tensor(frame, m, color))
            else:
                c, m = self.crops(frame, boxes, adapt, angles)
                all_crops.append(c)
            all_mats += m
            counts.append(len(m))
        n = self.num_points
        if not all_mats:
            return [(np.zeros((0, n, 2), np.float32), np.zeros((0, n), np.float32)) for _ in items]
        if self.numpy_path:  # ONNX Runtime / OpenVINO: no torch on the way
            x = to_input_np(np.concatenate(all_crops), self.meta, color == "BGR")
            self.timings["crop"] += time.perf_counter() - t0
            pts, conf = self.infer_np(x)
        else:
            import torch

            from pipnet_model.inference import to_input
            x = (torch.cat(all_crops) if self.device_crops
                 else to_input(np.concatenate(all_crops), self.model, color == "BGR", self.device))
            self.timings["crop"] += time.perf_counter() - t0
            pts, conf = self.infer(x)
        t2 = time.perf_counter()
        inv = np.stack([invert_affine(m) for m in all_mats])  # (K, 2, 3) crop -> frame
        lms = (from_unit(pts.astype(np.float64), self.size) @ inv[:, :, :2].transpose(0, 2, 1)
               + inv[:, None, :, 2]).astype(np.float32)
        self.timings["decode_nrm"] += time.perf_counter() - t2
        out, k = [], 0
        for c in counts:
            out.append((lms[k:k + c], conf[k:k + c].astype(np.float32)))
            k += c
        return out

    def infer(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Normalised input batch (B, 3, S, S), a torch tensor -> (points in crop units (B, N, 2), confidence
        (B, N)); numpy input goes to :meth:`infer_np`."""
        if isinstance(x, np.ndarray):
            return self.infer_np(x)
        import torch
        t1 = time.perf_counter()
        out = self.predictor.outputs(x)
        if self.device != "cpu":
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
        out = self.runner.run_np(x)
        t2 = time.perf_counter()
        pts, conf = decode_np(out, *self._rev_np, nrm=self._nrm)
        self.timings["network"] += t2 - t1
        self.timings["decode_nrm"] += time.perf_counter() - t2
        self.timings["faces"] += len(x)
        return pts, conf

    def predict_crops(self, crops: np.ndarray, bgr: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Ready-made uint8 crops (B, S, S, 3) -> (points normalised to the crop (B, N, 2), confidence (B, N))."""
        if len(crops) == 0:
            n = self.num_points
            return np.zeros((0, n, 2), np.float32), np.zeros((0, n), np.float32)
        if self.numpy_path:
            return self.infer_np(to_input_np(np.asarray(crops), self.meta, bgr))
        from pipnet_model.inference import to_input
        return self.infer(to_input(crops, self.model, bgr, self.device))

    def device_crop_tensor(self, frame: np.ndarray, mats: list[np.ndarray], color: str = "BGR"):
        """Normalised network input for the crops of one frame, cut on ``self.device`` with one batched
        bilinear warp (zeros outside the frame), matching OpenCV's warpAffine convention."""
        import torch
        with torch.inference_mode():
            return self._device_crops(torch, frame, mats, color)

    def _device_crops(self, torch, frame, mats, color):
        dev = torch.device(self.device)
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
        meta = self.meta
        if (color == "BGR") == (meta.color == "RGB"):
            crops = crops.flip(1)
        mean = torch.tensor(meta.mean, device=dev).view(1, 3, 1, 1) * 255
        std = torch.tensor(meta.std, device=dev).view(1, 3, 1, 1) * 255
        return ((crops - mean) / std).contiguous(memory_format=torch.channels_last)

    def warmup(self) -> None:
        """One face through the engine once (a batch engine is made when the first batch comes)."""
        self.predict_crops(np.zeros((1, self.size, self.size, 3), np.uint8))

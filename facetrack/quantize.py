"""Post-training int8 quantization of a PIPNet model for the OpenVINO backend (NNCF).

Calibration crops come from a labelled dataset, cut as at inference (the box of the landmarks), half of them
plain and half with the training augmentation, so the activation ranges cover moved, scaled and rotated faces.
The stem convolution (the first layer, which sees the normalised image) stays in floating point: quantizing it
cost 0.1 NME points on ytf68 test, everything else quantized costs ~0.02 (docs/performance.md).
The result is NAME.int8.xml + NAME.int8.bin beside the model (where the backend looks for it), tagged with a
sha256 of the model file so a stale file is never used for other weights. Needs NNCF and OpenVINO, not torch
(the network comes from the model's runtime ONNX file).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .backends import INT8_KEY, file_key, int8_file, runtime_onnx
from .errors import FacetrackError


def calibration_inputs(meta, dataset, samples: int = 300, seed: int = 0) -> list[np.ndarray]:
    """Normalised (1, 3, S, S) float32 inputs: crops from ``samples`` records, alternately plain and augmented."""
    from pipnet_model.augment import Augmenter
    from pipnet_model.datasets import read_image
    from pipnet_model.runtime import to_input_np
    if dataset.scheme.num_points != meta.num_points:
        raise FacetrackError(f"the model predicts {meta.num_points} points, the calibration data has "
                             f"{dataset.scheme.num_points}")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(dataset), min(samples, len(dataset)), replace=False)
    aug = Augmenter(dataset.scheme, meta.input_size, meta.crop_scale)
    out = []
    for j, i in enumerate(idx):
        r = dataset.records[i]
        img = read_image(r)
        crop = aug.plain(img, r.points)[0] if j % 2 == 0 else aug(img, r.points, rng)[0]
        out.append(to_input_np(crop[None], meta))
    return out


def quantize(model_path: str | Path, dataset, out: str | Path | None = None, samples: int = 300,
             seed: int = 0) -> Path:
    """Quantize the model file ``model_path`` with calibration crops from ``dataset`` (a LandmarkSet)."""
    try:
        import nncf
        import openvino as ov
    except ImportError:
        raise FacetrackError("quantizing needs NNCF and OpenVINO: pip install 'facetrack[quantize]'") from None
    from pipnet_model.meta import read_meta

    from .assets import resolve_model_path
    path = resolve_model_path(model_path)
    meta = read_meta(path)
    out = Path(out) if out else int8_file(path)
    if out.suffix != ".xml":
        raise FacetrackError(f"the output must be an .xml path (OpenVINO IR), got {out}")
    calib = calibration_inputs(meta, dataset, samples, seed)
    if not calib:
        raise FacetrackError("the calibration dataset is empty")
    om = ov.Core().read_model(str(runtime_onnx(path)))
    try:  # fold the runtime file's fp16 weight casts and batch norms first: NNCF then quantizes the network as
        # it runs (on the unfolded graph it placed 123 quantizers instead of 74 and the int8 copy drifted from
        # fp32: 0.48 px mean on the sample photograph against 0.30, and batches disagreed with single faces)
        from openvino._offline_transformations import apply_moc_transformations
        apply_moc_transformations(om, cf=True)
    except ImportError:  # pragma: no cover - an OpenVINO without the offline transformations
        pass
    convs = [op for op in om.get_ordered_ops() if op.get_type_name() in ("Convolution", "GroupConvolution")]
    nncf.set_log_level(40)  # errors only: progress bars and info lines are not the CLI's output
    qm = nncf.quantize(om, nncf.Dataset(calib), preset=nncf.QuantizationPreset.MIXED, subset_size=len(calib),
                       ignored_scope=nncf.IgnoredScope(names=[convs[0].get_friendly_name()]))
    qm.set_rt_info(file_key(path), INT8_KEY)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.xml")
    ov.save_model(qm, str(tmp), compress_to_fp16=False)
    tmp.with_suffix(".bin").replace(out.with_suffix(".bin"))
    tmp.replace(out)
    return out

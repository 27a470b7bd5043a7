"""ONNX export with a dynamic batch axis; outputs are the five raw maps (decode with codec.decode)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .checkpoint import PIPNetModel
from .errors import PIPNetError

OUTPUT_NAMES = ["score", "offset_x", "offset_y", "nb_x", "nb_y"]


def export_onnx(model: PIPNetModel, path: str | Path, opset: int = 17, check: bool = True, atol: float = 1e-4) -> Path:
    """Write the network as ONNX (input ``image``: B x 3 x S x S normalised float32). The model's metadata is
    stored as the ONNX metadata property ``pipnet``. With ``check`` (needs onnxruntime) the outputs are
    compared with torch on a batch of 3 and must agree within ``atol``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    net = model.net.float().cpu().eval()
    s = model.meta.input_size
    dummy = torch.randn(2, 3, s, s)
    axes = {"image": {0: "batch"}, **{n: {0: "batch"} for n in OUTPUT_NAMES}}
    try:
        torch.onnx.export(net, (dummy,), str(p), input_names=["image"], output_names=OUTPUT_NAMES,
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    except Exception as e:  # noqa: BLE001
        raise PIPNetError(f"ONNX export failed: {str(e).splitlines()[0][:200]}") from None
    try:
        import onnx
        m = onnx.load(str(p))
        prop = m.metadata_props.add()
        prop.key, prop.value = "pipnet", json.dumps(model.meta.to_json())
        onnx.save(m, str(p))
    except ImportError:
        pass
    if check:
        err = max_abs_diff(model, p)
        if err is not None and err > atol:
            raise PIPNetError(f"ONNX outputs differ from torch by {err:.2e} (> {atol:g})")
    return p


def max_abs_diff(model: PIPNetModel, onnx_path: str | Path, batch: int = 3, seed: int = 0) -> float | None:
    """Largest absolute difference between torch and ONNX Runtime outputs on random input; None without onnxruntime."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    s = model.meta.input_size
    x = torch.randn(batch, 3, s, s, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        ref = [o.numpy() for o in model.net.float().cpu().eval()(x)]
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x.numpy()})
    return float(max(np.abs(a - b).max() for a, b in zip(ref, got)))

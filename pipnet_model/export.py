"""ONNX export with a dynamic batch axis; outputs are the five raw maps (decode with codec.decode)."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .checkpoint import PIPNetModel
from .errors import PIPNetError

OUTPUT_NAMES = ["score", "offset_x", "offset_y", "nb_x", "nb_y"]


def export_onnx(model: PIPNetModel, path: str | Path, opset: int = 17, check: bool = True, atol: float = 1e-4,
                source_key: str | None = None, compact: bool = True) -> Path:
    """Write the network as ONNX (input ``image``: B x 3 x S x S normalised float32), atomically. The model's
    metadata is stored as the ONNX metadata property ``pipnet`` and ``source_key`` (the hash of the model file it
    was made from) as ``source_sha256``. ``compact``: batch norms are left unfolded and every weight that is
    exactly a float16 number (all of them for a checkpoint saved in half precision) is stored as float16 with a
    Cast to float32, so the file is half the size and computes with exactly the checkpoint's weights in fp32
    (runtimes fold both at load). With ``check`` (needs onnxruntime) the outputs are compared with torch on a
    batch of 3 and must agree within ``atol``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + f".tmp{os.getpid()}")
    net = model.net.float().cpu().eval()
    s = model.meta.input_size
    dummy = torch.randn(2, 3, s, s)
    axes = {"image": {0: "batch"}, **{n: {0: "batch"} for n in OUTPUT_NAMES}}
    keep = {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False} if compact else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice is not the user's concern
            torch.onnx.export(net, (dummy,), str(tmp), input_names=["image"], output_names=OUTPUT_NAMES,
                              dynamic_axes=axes, opset_version=opset, dynamo=False, **keep)
    except Exception as e:  # noqa: BLE001
        tmp.unlink(missing_ok=True)
        raise PIPNetError(f"ONNX export failed: {str(e).splitlines()[0][:200]}") from None
    try:
        import onnx
    except ImportError:
        if source_key is not None:
            tmp.unlink(missing_ok=True)
            raise PIPNetError("writing a runtime ONNX file needs the onnx package (pip install onnx)") from None
    else:
        m = onnx.load(str(tmp))
        if compact:
            _store_half(m)
        props = {"pipnet": json.dumps(model.meta.to_json()), **({"source_sha256": source_key} if source_key else {})}
        for k, v in props.items():
            prop = m.metadata_props.add()
            prop.key, prop.value = k, v
        onnx.save(m, str(tmp))
    if check:
        err = max_abs_diff(model, tmp)
        if err is not None and err > atol:
            tmp.unlink(missing_ok=True)
            raise PIPNetError(f"ONNX outputs differ from torch by {err:.2e} (> {atol:g})")
    os.replace(tmp, p)
    return p


def _store_half(m) -> None:
    """Float32 initializers that are exactly float16 numbers -> float16 initializers + Cast nodes (lossless)."""
    from onnx import TensorProto, helper, numpy_helper
    g = m.graph
    inits, casts = [], []
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.size > 1 and np.array_equal(a.astype(np.float16).astype(np.float32), a):
            h = numpy_helper.from_array(a.astype(np.float16), t.name + "__fp16")
            inits.append(h)
            casts.append(helper.make_node("Cast", [h.name], [t.name], to=TensorProto.FLOAT, name=t.name + "__cast"))
        else:
            inits.append(t)
    nodes = casts + list(g.node)
    del g.initializer[:]
    g.initializer.extend(inits)
    del g.node[:]
    g.node.extend(nodes)


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


def write_runtime_file(model_path: str | Path) -> Path:
    """Write NAME.onnx beside the model file NAME.safetensors, made from the file's own weights and tagged with
    the file's hash: what the torch-free runtimes run."""
    from .checkpoint import load_model
    from .meta import file_key, runtime_file
    p = Path(model_path)
    return export_onnx(load_model(p), runtime_file(p), check=False, source_key=file_key(p))

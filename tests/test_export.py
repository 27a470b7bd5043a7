import numpy as np
import pytest
import torch

from pipnet_model.export import export_onnx, max_abs_diff


def test_onnx_matches_torch_with_dynamic_batch(tmp_path, tiny_model):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    for p in tiny_model.net.parameters():
        p.data.normal_(0, 0.05)
    f = export_onnx(tiny_model, tmp_path / "m.onnx", check=False)
    assert max_abs_diff(tiny_model, f, batch=3) < 1e-4
    sess = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
    for b in (1, 5):
        x = torch.randn(b, 3, 64, 64)
        out = sess.run(None, {"image": x.numpy()})
        with torch.inference_mode():
            ref = tiny_model.net.eval()(x)
        assert [o.shape for o in out] == [tuple(r.shape) for r in ref]
        assert max(np.abs(o - r.numpy()).max() for o, r in zip(out, ref)) < 1e-4
    import onnx
    props = {p.key for p in onnx.load(str(f)).metadata_props}
    assert "pipnet" in props

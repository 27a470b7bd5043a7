import json
import os
import pickle

import pytest
import torch

from pipnet_model import PIPNetError, load_model, read_meta, save_model


def _same(a, b):
    sa, sb = a.net.state_dict(), b.net.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_round_trip_is_bit_exact(tmp_path, tiny_model):
    for p in tiny_model.net.parameters():  # non-trivial values everywhere
        p.data.normal_()
    f = save_model(tiny_model, tmp_path / "m.safetensors")
    back = load_model(f)
    assert _same(tiny_model, back)
    assert back.meta.to_json() == tiny_model.meta.to_json()
    assert not list(tmp_path.glob("*.tmp*"))  # written via a temporary file, renamed


def test_fp16_file_loads_to_fp32(tmp_path, tiny_model):
    f = save_model(tiny_model, tmp_path / "h.safetensors", half=True)
    back = load_model(f)
    w = back.net.cls_layer.weight
    assert w.dtype == torch.float32
    assert torch.equal(w, tiny_model.net.cls_layer.weight.half().float())
    assert f.stat().st_size < save_model(tiny_model, tmp_path / "f.safetensors").stat().st_size * 0.6


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['EVIL_MARKER']}",))


@pytest.mark.parametrize("kind", ["pickle", "torch_zip"])
def test_pickle_files_are_refused_without_unpickling(tmp_path, tiny_model, monkeypatch, kind):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EVIL_MARKER", str(marker))
    f = tmp_path / "model.pth"
    if kind == "pickle":
        f.write_bytes(pickle.dumps({"state": _Evil()}))
    else:
        torch.save({"evil": _Evil(), **tiny_model.net.state_dict()}, f)
    with pytest.raises(PIPNetError, match="never unpickles"):
        load_model(f)
    assert not marker.exists()


def test_truncated_file_is_refused(tmp_path, tiny_model):
    f = save_model(tiny_model, tmp_path / "m.safetensors")
    data = f.read_bytes()
    for cut in (4, 100, len(data) // 2, len(data) - 10):
        g = tmp_path / f"cut{cut}.safetensors"
        g.write_bytes(data[:cut])
        with pytest.raises(PIPNetError) as e:
            load_model(g)
        assert "\n" not in str(e.value)


def test_wrong_shapes_are_refused(tmp_path, tiny_model):
    from safetensors.torch import save_file
    sd = dict(tiny_model.net.state_dict())
    sd["cls_layer.weight"] = torch.zeros(67, 1280, 1, 1)
    f = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, str(f), metadata={"pipnet": json.dumps(tiny_model.meta.to_json())})
    with pytest.raises(PIPNetError, match="cls_layer.weight has shape"):
        load_model(f)


def test_bad_metadata_is_refused(tmp_path, tiny_model):
    from safetensors.torch import save_file
    sd = {k: v.contiguous() for k, v in tiny_model.net.state_dict().items()}
    cases = {
        "neighbour index": lambda m: m["nb_idx"][3].__setitem__(0, 99),
        "mean face": lambda m: m["mean_face"].pop(),
        "input size": lambda m: m.__setitem__("input_size", 100),
        "not a facetrack-pipnet": lambda m: m.__setitem__("format", "other"),
    }
    for msg, change in cases.items():
        meta = tiny_model.meta.to_json()
        change(meta)
        f = tmp_path / "m.safetensors"
        save_file(sd, str(f), metadata={"pipnet": json.dumps(meta)})
        with pytest.raises(PIPNetError, match=msg):
            read_meta(f)
    save_file(sd, str(f))
    with pytest.raises(PIPNetError, match="no PIPNet metadata"):
        load_model(f)


def test_missing_file(tmp_path):
    with pytest.raises(PIPNetError, match="not found"):
        load_model(tmp_path / "nope.safetensors")


def test_weight_average_is_the_mean_of_the_models(tmp_path, tiny_model):
    """python -m pipnet_model.checkpoint (average_models): every float tensor the mean of the models' (to fp16),
    integer buffers the first's."""
    import subprocess
    import sys
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_model(tiny_model, a)
    with torch.no_grad():
        for t in tiny_model.net.state_dict().values():
            if t.is_floating_point():
                t.add_(torch.randn_like(t))
    save_model(tiny_model, b)
    r = subprocess.run([sys.executable, "-m", "pipnet_model.checkpoint", str(tmp_path / "avg.safetensors"), str(a),
                        str(b)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    avg, ma, mb = (load_model(p).net.state_dict() for p in (tmp_path / "avg.safetensors", a, b))
    moved = 0
    for k, v in avg.items():
        if v.is_floating_point():
            want = ((ma[k] + mb[k]) / 2).half().float()
            assert torch.allclose(v, want, atol=1e-3, rtol=1e-3), k
            moved += int(not torch.equal(ma[k], mb[k]))
        else:
            assert torch.equal(v, ma[k]), k
    assert moved > 10
    assert read_meta(tmp_path / "avg.safetensors").recipe["weight_average"] == [str(a), str(b)]

import json
import subprocess
import sys

import numpy as np
import pytest

from pipnet_model import PIPNetError, SCHEMES, load_model
from pipnet_model.metrics import auc, ced_plot, failure_rate, nme_per_face, summary
from pipnet_model.train import TrainConfig, train

from conftest import ROOT, synthetic_faces, write_csv_dataset


def _cfg(tmp_path, data, **kw):
    base = dict(data=[f"csv:{data}"], val=f"csv:{data}", backbone="mobilenet_v2", out=str(tmp_path / "run"),
                epochs=2, batch_size=4, input_size=64, pretrained=False, milestones=(1,), threads=1)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture
def data(tmp_path):
    return write_csv_dataset(tmp_path / "ds", synthetic_faces(8, size=120, seed=7))


def test_two_epoch_run_writes_checkpoints_and_resumes(tmp_path, data):
    res = train(_cfg(tmp_path, data, epochs=1), log=lambda s: None)
    run = tmp_path / "run"
    for f in ("best.safetensors", "last.safetensors", "train_state.safetensors", "metrics.jsonl", "curves.png"):
        assert (run / f).is_file(), f
    assert res["epochs_run"] == 1
    first = load_model(run / "last.safetensors")
    res2 = train(_cfg(tmp_path, data, epochs=2), resume=True, log=lambda s: None)
    assert res2["epochs_run"] == 1  # only epoch 2 ran
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["lr"] == pytest.approx(1e-5)  # milestone at epoch 1 applied after resuming
    second = load_model(run / "last.safetensors")
    assert not np.allclose(first.net.cls_layer.weight.detach(), second.net.cls_layer.weight.detach())
    assert second.meta.recipe["epochs"] == 2 and second.meta.input_size == 64
    with pytest.raises(PIPNetError, match="different configuration: input_size"):
        train(_cfg(tmp_path, data, epochs=3, input_size=96), resume=True, log=lambda s: None)


def test_resume_without_state_is_refused(tmp_path, data):
    with pytest.raises(PIPNetError, match="nothing to resume"):
        train(_cfg(tmp_path, data), resume=True, log=lambda s: None)


def test_metrics_known_answers():
    s = SCHEMES["68"]
    gt = np.random.default_rng(0).uniform(0, 100, (4, 68, 2))
    assert np.all(nme_per_face(gt, gt, s) == 0)
    shifted = gt + [3.0, 4.0]  # every point off by 5 px
    iod = np.linalg.norm(gt[:, 36] - gt[:, 45], axis=-1)
    np.testing.assert_allclose(nme_per_face(shifted, gt, s), 5 / iod)
    e = np.array([0.0, 0.05, 0.2, 0.1])
    assert failure_rate(e) == 0.25
    assert auc(np.zeros(3)) == pytest.approx(1.0) and auc(np.full(3, 0.5)) == 0.0
    assert auc(e) == pytest.approx(np.mean([1.0, 0.5, 0.0, 0.0]))
    assert summary(e)["count"] == 4


def test_ced_plot_is_a_png(tmp_path):
    f = ced_plot({"a": np.linspace(0, 0.12, 50)}, tmp_path / "ced.png")
    assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_of_a_perfect_predictor_is_zero(tmp_path, data, monkeypatch):
    """Replace the network's prediction with the ground truth: NME 0, FR 0, AUC 1 through the eval path."""
    from pipnet_model import inference
    from pipnet_model.datasets import load_dataset
    ds = load_dataset(f"csv:{data}")
    gt = np.stack([r.points for r in ds.records])
    monkeypatch.setattr(inference, "predict_dataset", lambda *a, **k: gt.astype(np.float64))
    res = train(_cfg(tmp_path, data, epochs=1, val=None), log=lambda s: None)
    nmes, _ = inference.evaluate(load_model(res["last"]), ds)
    s = summary(nmes)
    assert s["nme"] == 0.0 and s["fr"] == 0.0 and s["auc"] == pytest.approx(1.0) and s["count"] == 8


def test_cli_train_then_eval_json(tmp_path, data):
    run = tmp_path / "cli_run"
    cmd = [sys.executable, "-m", "facetrack", "train", "--data", f"csv:{data}", "--backbone", "mobilenet_v2",
           "--no-pretrained", "--epochs", "1", "--batch-size", "4", "--input-size", "64", "--out", str(run),
           "--threads", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["epochs_run"] == 1
    r = subprocess.run([sys.executable, "-m", "facetrack", "eval", "--data", f"csv:{data}", "--model", str(run),
                        "--json", "--plot", str(tmp_path / "ced.png")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["count"] == 8 and 0 <= out["nme"] and 0 <= out["fr"] <= 1 and 0 <= out["auc"] <= 1
    assert (tmp_path / "ced.png").is_file()


@pytest.mark.parametrize("args,msg", [
    (["eval", "--data", "csv:/nonexistent.csv", "--model", "default"], "not found"),
    (["info", "--model", "/nonexistent.safetensors"], "model file not found"),
    (["info", "--model", "pyproject.toml"], "not a valid safetensors"),
])
def test_cli_errors_are_one_line(args, msg):
    r = subprocess.run([sys.executable, "-m", "facetrack", *args], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1

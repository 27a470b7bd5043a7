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
    with pytest.raises(PIPNetError, match="different configuration: flip was 0.5, now 0.0"):
        train(_cfg(tmp_path, data, epochs=3, flip=0.0), resume=True, log=lambda s: None)


def test_init_model_fine_tuned_at_another_input_size(tmp_path, data):
    train(_cfg(tmp_path, data, epochs=1), log=lambda s: None)
    first = tmp_path / "run" / "last.safetensors"
    train(_cfg(tmp_path, data, epochs=1, init=str(first), init_input_size=96, out=str(tmp_path / "ft")),
          log=lambda s: None)
    m = load_model(tmp_path / "ft" / "last.safetensors")
    assert m.meta.input_size == 96 and m.net.map_size == 3  # 96 px crops on a 3 x 3 map
    with pytest.raises(PIPNetError, match="multiple of 32"):
        train(_cfg(tmp_path, data, epochs=1, init=str(first), init_input_size=100, out=str(tmp_path / "bad")),
              log=lambda s: None)


def test_flip_share_reaches_the_augmentation_and_the_recipe(tmp_path, data):
    from pipnet_model.augment import AugmentConfig, Augmenter
    rng = np.random.default_rng(0)
    img = np.zeros((120, 120, 3), np.uint8)
    pts = np.random.default_rng(1).uniform(30, 90, (68, 2))
    plain = dict(p_translate=0, p_occlusion=0, p_rotate=0, p_blur=0, p_gray=0)
    never = Augmenter(SCHEMES["68"], 64, 1.1, AugmentConfig(p_flip=0.0, **plain))
    always = Augmenter(SCHEMES["68"], 64, 1.1, AugmentConfig(p_flip=1.0, **plain))
    want = never.plain(img, pts)[1]
    assert all(np.allclose(never(img, pts, rng)[1], want) for _ in range(20))
    perm = list(SCHEMES["68"].flip_perm)
    mirrored = np.stack([63 - want[perm, 0], want[perm, 1]], 1)  # the exact mirror of a 64 px crop
    np.testing.assert_allclose(always(img, pts, rng)[1], mirrored, atol=1e-9)
    shifted = Augmenter(SCHEMES["68"], 64, 1.1, AugmentConfig(p_flip=1.0, flip_shift=0.01, **plain))
    np.testing.assert_allclose(shifted(img, pts, rng)[1], mirrored + [2 * 0.01 * 64, 0], atol=1e-9)
    train(_cfg(tmp_path, data, epochs=1, flip=0.0), log=lambda s: None)
    assert load_model(tmp_path / "run" / "last.safetensors").meta.recipe["flip"] == 0.0


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


def test_eval_scores_known_errors_exactly(tmp_path, data, monkeypatch):
    """Predictions = ground truth moved by a known amount per face: the eval path returns exactly that error
    over the outer-eye-corner distance (points 36, 45), and FR/AUC from those."""
    from pipnet_model import evaluation, inference
    from pipnet_model.datasets import load_dataset
    ds = load_dataset(f"csv:{data}")
    gt = np.stack([r.points for r in ds.records]).astype(np.float64)
    iod = np.linalg.norm(gt[:, 36] - gt[:, 45], axis=1)
    want = np.array([0.0, 0.02, 0.05, 0.08, 0.12, 0.2, 0.04, 0.09])  # NME per face
    moved = gt + (want * iod)[:, None, None] * np.array([0.6, 0.8])  # a shift of length want * iod
    monkeypatch.setattr(evaluation, "predict_dataset", lambda *a, **k: moved)
    res = train(_cfg(tmp_path, data, epochs=1, val=None), log=lambda s: None)
    nmes, _ = inference.evaluate(load_model(res["last"]), ds)
    np.testing.assert_allclose(nmes, want, atol=1e-9)
    s = summary(nmes)
    assert s["nme"] == pytest.approx(want.mean()) and s["fr"] == pytest.approx(2 / 8) and s["count"] == 8
    # AUC at 0.1 (area under the CED up to 0.1, over 0.1) = mean(max(0, 0.1 - e)) / 0.1 = 0.32 / 8 / 0.1
    assert s["auc"] == pytest.approx(0.4)


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


def test_weighted_datasets_draw_their_share_each_epoch():
    from pipnet_model.datasets import split_weight
    from pipnet_model.train import epoch_order
    assert split_weight("csv:a.csv@0.25") == ("csv:a.csv", 0.25)
    assert split_weight("csv:me@home/a.csv") == ("csv:me@home/a.csv", 1.0)  # an '@' of the path stays
    with pytest.raises(PIPNetError):
        split_weight("csv:a.csv@-1")
    parts = [(10, 1.0), (20, 0.25), (4, 2.5)]  # 10 once, 5 of 20, each of 4 twice plus 2 more
    e0, e1 = epoch_order(parts, 0, 0), epoch_order(parts, 0, 1)
    for e in (e0, e1):
        assert sorted(e[:10]) == list(range(10))
        assert len(e[10:15]) == len(set(e[10:15])) == 5 and all(10 <= i < 30 for i in e[10:15])
        counts = np.bincount(e[15:] - 30, minlength=4)
        assert len(e) == 10 + 5 + 10 and counts.sum() == 10 and counts.min() >= 2
    assert set(e0[10:15]) != set(e1[10:15])          # a fresh subset each epoch ...
    assert np.array_equal(e0, epoch_order(parts, 0, 0))  # ... the same one for the same seed and epoch

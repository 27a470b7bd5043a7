"""Harvest and self-training with curriculum."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from pipnet_model import SCHEMES, PIPNetModel
from pipnet_model.losses import coarse_score_loss
from pipnet_model.train import TrainConfig, step_loss

from conftest import ROOT, synthetic_faces, template_68, write_csv_dataset


def test_coarse_targets_are_one_hot_at_the_coarse_cell():
    pts = torch.tensor([[[0.10, 0.10], [0.60, 0.20], [0.99, 0.99], [0.49, 0.51]]])
    for hw in (2, 4):
        score = torch.zeros(1, 4, hw, hw, requires_grad=True)
        loss = coarse_score_loss(score, pts)
        loss.backward()
        g = -score.grad[0]  # the gradient of MSE at zero points at the target: positive exactly at target cells
        for k, (x, y) in enumerate(pts[0].tolist()):
            cell = (min(int(y * hw), hw - 1), min(int(x * hw), hw - 1))
            assert g[k][cell] > 0 and (g[k] > 0).sum() == 1


@pytest.mark.parametrize("task,trained", [("cls3", {"cls_layer"}), ("cls2", {"cls_layer"}),
                                          ("std", {"cls_layer", "x_layer", "y_layer", "nb_x_layer", "nb_y_layer"})])
def test_each_task_supervises_exactly_its_maps(task, trained):
    from pipnet_model.train import TASKS
    torch.manual_seed(0)
    mf = torch.tensor(template_68() * 0.8 + 0.1, dtype=torch.float32)
    model = PIPNetModel.create("mobilenet_v2", SCHEMES["68"], mf, 10, 64)
    x = torch.randn(2, 3, 64, 64)
    pts = torch.rand(2, 68, 2)
    loss, parts = step_loss(model, x, pts, torch.full((2,), TASKS[task]), TrainConfig(), model.meta.nb_tensor())
    loss.backward()
    for name in ("cls_layer", "x_layer", "y_layer", "nb_x_layer", "nb_y_layer"):
        g = getattr(model.net, name).weight.grad
        has = g is not None and float(g.abs().sum()) > 0
        assert has == (name in trained), (task, name)
    if task != "std":
        assert set(parts) == {task}


def test_harvest_boxes_contain_the_faces(tmp_path, detector_model, monkeypatch):
    pytest.importorskip("skimage")
    from facetrack.harvest import harvest
    from facetrack.samples import ClipSpec, load_truth, make_clip
    monkeypatch.setenv("FACETRACK_DETECTOR_MODEL", str(detector_model))
    clip = make_clip(tmp_path / "clip.mp4", ClipSpec(seconds=3.0, second_face=False))
    res = harvest([str(clip)], tmp_path / "pool", every=3, progress=False)
    truth = load_truth(clip)
    lines = [json.loads(line) for line in (tmp_path / "pool" / "manifest.jsonl").read_text().splitlines()]
    assert res["kept"] == len(lines) > 5 and res["skipped_dup"] > 0  # the still start repeats itself
    for d in lines:
        m = np.array(truth["frames"][d["frame"]]["faces"][0]["matrix"])
        eye_mid = np.array([105.0, 95.0]) @ m[:, :2].T + m[:, 2]  # between the eyes, in the photograph's patch
        x0, y0, x1, y1 = d["box"]
        assert x0 < eye_mid[0] < x1 and y0 < eye_mid[1] < y1
        assert (tmp_path / "pool" / d["file"]).is_file()
    again = harvest([str(clip)], tmp_path / "pool", every=3, progress=False)
    assert again["entries"] == len(lines) and again["kept"] == 0  # a re-run adds nothing twice


def test_harvest_keeps_soft_footage_and_drops_its_blurriest_frames(tmp_path, detector_model, monkeypatch):
    """Blur is judged against the video: a clip whose every frame is soft (an ordinary low-bit-rate webcam) keeps
    most of its faces, and the frames blurred far more than the rest are the ones dropped. The old absolute
    threshold (sharpness 30) dropped nearly all of this clip."""
    pytest.importorskip("skimage")
    import av
    import cv2
    from facetrack.harvest import harvest
    from facetrack.samples import ClipSpec, make_clip
    monkeypatch.setenv("FACETRACK_DETECTOR_MODEL", str(detector_model))
    clip = make_clip(tmp_path / "clip.mp4", ClipSpec(seconds=4.0, second_face=False))
    soft = tmp_path / "soft.mp4"
    very = {i for i in range(0, 120, 3) if i % 27 == 0}  # noqa: C416  # a few frames far more blurred (sampled: every 3rd)
    with av.open(str(clip)) as src, av.open(str(soft), "w") as dst:
        st = None
        for i, fr in enumerate(src.decode(video=0)):
            img = fr.to_ndarray(format="bgr24")
            if st is None:
                st = dst.add_stream("libx264", rate=30)
                st.width, st.height, st.pix_fmt = img.shape[1], img.shape[0], "yuv420p"
            img = cv2.GaussianBlur(img, (0, 0), 6.0 if i in very else 2.0)
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                dst.mux(p)
        for p in st.encode():
            dst.mux(p)
    res = harvest([str(soft)], tmp_path / "pool", every=3, progress=False, dup_diff=0.0)
    lines = [json.loads(line) for line in (tmp_path / "pool" / "manifest.jsonl").read_text().splitlines()]
    faces = res["kept"] + res["skipped_blur"]
    assert faces >= 20 and res["kept"] >= 0.75 * faces, res
    kept = {d["frame"] for d in lines}
    late_very = {i for i in very if i > 3 * 10}  # after the warm-up the video's own scale is known
    assert late_very and not (late_very & kept), (sorted(late_very), sorted(kept))
    old = harvest([str(soft)], tmp_path / "old", every=3, progress=False, dup_diff=0.0, min_sharpness=30.0,
                  blur_drop=0.0)
    assert old["kept"] < 0.5 * res["kept"], (old, res)


def test_tiny_stc_run_writes_pseudo_labels_and_resumes(tmp_path):
    import cv2
    data = write_csv_dataset(tmp_path / "lab", synthetic_faces(8, size=120, seed=5))
    pool = tmp_path / "pool"
    (pool / "crops").mkdir(parents=True)
    with open(pool / "manifest.jsonl", "w") as f:
        for i, (img, p) in enumerate(synthetic_faces(6, size=120, seed=6)):
            cv2.imwrite(str(pool / "crops" / f"{i}.jpg"), img)
            box = [float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())]
            f.write(json.dumps({"file": f"crops/{i}.jpg", "crop_box": box}) + "\n")
    base = [sys.executable, "-m", "facetrack", "stc", "--labeled", f"csv:{data}", "--unlabeled", str(pool),
            "--out", str(tmp_path / "stc"), "--curriculum", "cls3,std", "--epochs", "2", "--milestones", "1",
            "--backbone", "mobilenet_v2", "--input-size", "64", "--batch-size", "4", "--no-pretrained",
            "--threads", "1", "--val", f"csv:{data}"]
    r = subprocess.run(base + ["--rounds", "1"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-1500:]
    assert (tmp_path / "stc" / "round1" / "pseudo" / "labels.csv").is_file()
    first = (tmp_path / "stc" / "round1" / "best.safetensors").stat().st_mtime
    r = subprocess.run(base + ["--rounds", "2", "--translate-ensemble"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-1500:]
    m = json.loads((tmp_path / "stc" / "metrics.json").read_text())
    assert [x["round"] for x in m["rounds"]] == [0, 1, 2] and [x["task"] for x in m["rounds"]] == ["std", "cls3", "std"]
    assert all("val" in x for x in m["rounds"])
    assert (tmp_path / "stc" / "round1" / "best.safetensors").stat().st_mtime == first  # round 1 was not redone
    labels = (tmp_path / "stc" / "round2" / "pseudo" / "labels.csv").read_text().splitlines()
    assert len(labels) == 7 and labels[0].startswith("image,x0,y0")
    # the supervised control: the labelled set alone, drawn (8 + 6) / 8 times an epoch; one run stands for every
    # re-initialised round
    ctl = [a if a != str(tmp_path / "stc") else str(tmp_path / "ctl") for a in base]
    r = subprocess.run(ctl + ["--rounds", "2", "--control"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-1500:]
    m = json.loads((tmp_path / "ctl" / "metrics.json").read_text())
    assert [(x["round"], x["task"]) for x in m["rounds"]] == [(0, "std"), (1, "control")]
    assert m["rounds"][1]["weight"] == 1.75 and not (tmp_path / "ctl" / "round1" / "pseudo").exists()
    rows = [json.loads(ln) for ln in (tmp_path / "ctl" / "round1" / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in rows] == [1e-4, 1e-5]  # the whole schedule, decay included


def test_mixed_batch_loss_is_the_reference_normalisation():
    """One squared error over every supervised score cell divided by their count (a coarse cell weighs what a
    full-map cell weighs), offsets and neighbours over the 'std' samples only, unscaled by their share."""
    from pipnet_model.codec import encode
    from pipnet_model.losses import coarse_target, pipnet_loss
    from pipnet_model.train import TASKS
    torch.manual_seed(1)
    mf = torch.tensor(template_68() * 0.8 + 0.1, dtype=torch.float32)
    model = PIPNetModel.create("mobilenet_v2", SCHEMES["68"], mf, 10, 192)
    model.net.eval()  # no batch-norm statistics moving between the two forward passes
    x = torch.randn(3, 3, 192, 192)
    pts = torch.rand(3, 68, 2)
    tasks = torch.tensor([TASKS["std"], TASKS["cls3"], TASKS["cls2"]])
    cfg = TrainConfig()
    nb = model.meta.nb_tensor()
    loss, _ = step_loss(model, x, pts, tasks, cfg, nb)
    with torch.no_grad():
        full, cls2, cls3 = model.net.forward_with_coarse(x)
        assert full[0].shape[-1] == 6 and cls2.shape[-1] == 3 and cls3.shape[-1] == 2  # 192 px: 6x6, 3x3, 2x2
        t = encode(pts[:1], (6, 6), nb)
        sq = ((full[0][:1] - t.score_map()) ** 2).sum()
        sq += ((cls3[1:2] - coarse_target(pts[1:2], 2, 2)) ** 2).sum()
        sq += ((cls2[2:3] - coarse_target(pts[2:3], 3, 3)) ** 2).sum()
        cells = 68 * (36 + 4 + 9)
        reg, _ = pipnet_loss(tuple(o[:1] for o in full), t, 0.0, cfg.reg_weight, cfg.nb_weight)
        want = cfg.cls_weight * sq / cells + reg
    assert abs(float(loss.detach()) - float(want)) < 1e-4 * float(want)
    # the old share-of-batch weighting would differ: regression scaled by 1/3
    assert abs(float(loss.detach()) - float(cfg.cls_weight * sq / cells + reg / 3)) > 1e-3


def test_harvest_takes_photos_from_an_image_list_csv(tmp_path, detector_model, monkeypatch):
    """ytf68 frames listed in a CSV (labels ignored): each photo's face found by the detector, the crop box around
    the labelled face."""
    from facetrack.harvest import harvest
    from pipnet_model.datasets import read_csv
    monkeypatch.setenv("FACETRACK_DETECTOR_MODEL", str(detector_model))
    src = ROOT.parent / "shared" / "data" / "ytf68" / "test.csv"
    if not src.is_file():
        pytest.skip("../shared/data/ytf68 not present")
    lines = src.read_text().splitlines()
    lst = tmp_path / "list.csv"
    images = src.parent / "images"
    lst.write_text("\n".join([lines[0]] + [",".join([str(images / ln.split(",")[0])] + ln.split(",")[1:])
                                            for ln in lines[1:13]]) + "\n")
    res = harvest([str(lst)], tmp_path / "pool", min_face=32, blur_drop=0.0, progress=False)
    assert res["images"] == 12 and res["image_groups"] == 1 and res["videos"] == 0
    assert res["kept"] >= 9, res
    truth = {str(r.image.resolve()): r.points for r in read_csv(lst).records}
    for line in (tmp_path / "pool" / "manifest.jsonl").read_text().splitlines():
        d = json.loads(line)
        pts = truth[d["source"]]
        x0, y0, x1, y1 = d["box"]
        cx, cy = pts[:, 0].mean(), pts[:, 1].mean()
        assert x0 < cx < x1 and y0 < cy < y1
    again = harvest([str(lst)], tmp_path / "pool", min_face=32, blur_drop=0.0, progress=False)
    assert again["kept"] == 0 and again["entries"] == res["entries"]

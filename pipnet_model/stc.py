"""Self-training with curriculum (STC), after the PIPNet paper.

Round 0 trains on the labelled data (or starts from a given model). Each later round pseudo-labels every
pool image with the current model (NRM-merged; optionally averaged over 8 translated copies, 20 and 30 px in
four directions), then trains on labelled + pseudo-labelled data with that round's task: ``cls3`` supervises
only the 2x2 score map of pseudo-labelled images, ``cls2`` only the 4x4 map, ``std`` the full target;
labelled images always train the full task. Rounds fine-tune from the previous round (default) or restart
from ImageNet (``reinit``). Each round's folder holds its pseudo-labels, checkpoints and metrics; a finished
round is skipped when the run is started again (resume).

The pool is a folder with ``manifest.jsonl`` (one JSON object per crop: ``file`` relative to the pool,
``crop_box`` = the face box in the crop's pixels), as written by ``facetrack harvest``.
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .augment import apply_affine, crop_matrix, from_unit, invert_affine, square_from_box, warp
from .checkpoint import PIPNetModel, load_model
from .datasets import LandmarkSet, Record, load_dataset, read_image
from .errors import PIPNetError
from .inference import CropPredictor, evaluate
from .metrics import summary
from .train import TASKS, TrainConfig, train

SHIFTS = [(dx * s, dy * s) for s in (20, 30) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))]


@dataclass
class STCConfig:
    labeled: list[str]
    unlabeled: str
    out: str = "runs/stc"
    rounds: int = 5
    curriculum: tuple[str, ...] = ("cls3", "cls2", "std", "std", "std")
    reinit: bool = False
    epochs_per_round: int = 2
    translate_ensemble: bool = False
    val: str | None = None
    init: str | None = None          # start from this model instead of training round 0
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        bad = [t for t in self.curriculum if t not in TASKS]
        if bad:
            raise PIPNetError(f"unknown curriculum task(s) {bad} (use cls3, cls2, std)")
        if self.rounds > len(self.curriculum):
            raise PIPNetError(f"{self.rounds} rounds need {self.rounds} curriculum tasks, got {len(self.curriculum)}")


def read_pool(pool: str | Path) -> list[dict]:
    p = Path(pool)
    m = p / "manifest.jsonl"
    if not m.is_file():
        raise PIPNetError(f"no pool manifest at {m} (make one with 'facetrack harvest')")
    out = []
    for line in m.read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            d["path"] = str(p / d["file"])
            out.append(d)
    if not out:
        raise PIPNetError(f"the pool {p} is empty")
    return out


def pseudo_label(model: PIPNetModel, pool: list[dict], translate_ensemble: bool = False, device: str = "auto",
                 batch_size: int = 32) -> np.ndarray:
    """Landmarks (M, N, 2) in crop-image pixels for every pool entry."""
    pred = CropPredictor(model, device)
    s = model.meta.input_size
    shifts = [(0.0, 0.0)] + ([(dx * s / 256, dy * s / 256) for dx, dy in SHIFTS] if translate_ensemble else [])
    out = []
    for i in range(0, len(pool), batch_size):
        chunk = pool[i:i + batch_size]
        imgs = [read_image(Path(d["path"])) for d in chunk]
        acc = [np.zeros((model.meta.num_points, 2)) for _ in chunk]
        for sh in shifts:
            crops, mats = [], []
            for img, d in zip(imgs, chunk):
                cx, cy, side = square_from_box(d["crop_box"], model.meta.crop_scale)
                m = crop_matrix(cx, cy, side, s, 0.0, sh)
                crops.append(warp(img, m, s))
                mats.append(m)
            pts, _ = pred(np.stack(crops))
            for k, (p, m) in enumerate(zip(pts, mats)):
                acc[k] += apply_affine(from_unit(p.astype(np.float64), s), invert_affine(m))
        out += [a / len(shifts) for a in acc]
    return np.stack(out).astype(np.float32)


def write_pseudo_set(folder: Path, pool: list[dict], points: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "labels.csv"
    n = points.shape[1]
    tmp = f.with_suffix(".csv.part")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image"] + [c for k in range(n) for c in (f"x{k}", f"y{k}")])
        for d, p in zip(pool, points):
            w.writerow([str(Path(d["path"]).resolve())] + [f"{v:.3f}" for v in p.reshape(-1)])
    tmp.replace(f)
    return f


def stc(cfg: STCConfig, log=print) -> dict:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    labeled = None
    for spec in cfg.labeled:
        ds = load_dataset(spec, cfg.train.images)
        labeled = ds if labeled is None else labeled + ds
    val = load_dataset(cfg.val, cfg.train.images) if cfg.val else None
    pool = read_pool(cfg.unlabeled)
    metrics_file = out / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {"rounds": []}
    done = {r["round"] for r in metrics["rounds"]}

    def record(r: int, task: str, model_path: Path, seconds: float, extra: dict) -> None:
        row = {"round": r, "task": task, "model": str(model_path), "seconds": round(seconds, 1), **extra}
        if val is not None:
            nmes, _ = evaluate(load_model(model_path), val, device=cfg.train.device)
            row["val"] = summary(nmes)
        metrics["rounds"] = [x for x in metrics["rounds"] if x["round"] != r] + [row]
        metrics["rounds"].sort(key=lambda x: x["round"])
        tmp = metrics_file.with_suffix(".json.part")
        tmp.write_text(json.dumps(metrics, indent=1))
        tmp.replace(metrics_file)
        log(json.dumps(row))

    # round 0
    r0 = out / "round0"
    if 0 in done and (r0 / "best.safetensors").is_file():
        current = r0 / "best.safetensors"
    elif cfg.init:
        current = Path(cfg.init)
        record(0, "init", current, 0.0, {})
    else:
        t = time.time()
        res = train(replace(cfg.train, out=str(r0), data=list(cfg.labeled), val=cfg.val), resume=(r0 / "train_state.safetensors").is_file(),
                    train_set=labeled, val_set=val, log=log)
        current = Path(res["best"])
        record(0, "std", current, time.time() - t, {"labeled": len(labeled)})
    for r in range(1, cfg.rounds + 1):
        task = cfg.curriculum[r - 1]
        rd = out / f"round{r}"
        if r in done and (rd / "best.safetensors").is_file():
            current = rd / "best.safetensors"
            continue
        t = time.time()
        model = load_model(current)
        labels = rd / "pseudo" / "labels.csv"
        if not labels.is_file():
            pts = pseudo_label(model, pool, cfg.translate_ensemble, cfg.train.device)
            write_pseudo_set(rd / "pseudo", pool, pts)
        pseudo = load_dataset(f"pseudo:{rd / 'pseudo'}")
        pseudo = LandmarkSet([Record(rec.image, rec.points, {"task": task}) for rec in pseudo.records],
                             labeled.scheme, pseudo.source)
        tcfg = replace(cfg.train, out=str(rd), epochs=cfg.epochs_per_round, milestones=(),
                       init=None if cfg.reinit else str(current), data=list(cfg.labeled) + [f"pseudo:{rd / 'pseudo'}"],
                       val=cfg.val)
        res = train(tcfg, resume=(rd / "train_state.safetensors").is_file(), train_set=labeled + pseudo,
                    val_set=val, log=log)
        current = Path(res["best"])
        record(r, task, current, time.time() - t, {"pseudo": len(pseudo), "labeled": len(labeled)})
    return {"out": str(out), "final": str(current), "metrics": str(metrics_file), "rounds": metrics["rounds"]}

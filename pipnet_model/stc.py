"""Self-training with curriculum (STC), after the PIPNet paper and its reference code.

Round 0 trains on the labelled data (or starts from a given model). Each later round pseudo-labels every
pool image with the model the previous round selected (NRM-merged; optionally averaged over 8 translated copies,
20 and 30 px in four directions at 256 px input), then trains on labelled + pseudo-labelled data with that
round's task: ``cls3`` supervises only the 4x-coarser score map of pseudo-labelled images, ``cls2`` only the
2x-coarser map, ``std`` the full target; labelled images always train the full task. Default curriculum:
cls3, cls2, std, std, std (plain self-training: std x3).

As the reference does, every round starts from a fresh ImageNet-initialised network with a new optimiser and
runs the whole schedule (``train.epochs`` with its lr decays); ``reinit=False`` fine-tunes the previous round's
model with the same schedule instead (an ablation). ``control=True`` is the supervised control: each round trains
on the labelled set alone, drawn as often per epoch as the labelled + pool set of a real round (same steps, same
schedule, same start), so a difference is the pseudo-labels', not the extra steps'. With re-initialised rounds
every control round is the same run, so only round 1 is trained.

A validation set (``val``; labels used only to choose) picks each round's best epoch and the final round;
``evals`` are scored after every round for the report and never used to choose. Each round's folder holds its
pseudo-labels, checkpoints and metrics; a finished round is skipped when the run is started again (resume).

The pool is a folder with ``manifest.jsonl`` (one JSON object per crop: ``file`` relative to the pool,
``crop_box`` = the face box in the crop's pixels), as written by ``facetrack harvest`` (from videos, image
folders or image-list CSVs).
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .geometry import apply_affine, crop_matrix, from_unit, invert_affine, square_from_box, warp
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
    reinit: bool = True              # every round from ImageNet (the reference); False: fine-tune the last round
    translate_ensemble: bool = False
    val: str | None = None
    evals: list[str] = field(default_factory=list)
    control: bool = False
    init: str | None = None          # start from this model instead of training round 0
    train: TrainConfig = field(default_factory=TrainConfig)  # its epochs/milestones are every round's schedule

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
    evals = {spec: load_dataset(spec, cfg.train.images) for spec in cfg.evals}
    pool = read_pool(cfg.unlabeled)
    metrics_file = out / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {"rounds": []}
    metrics.update(setting={"labeled": cfg.labeled, "pool": str(cfg.unlabeled), "pool_size": len(pool),
                            "labeled_size": len(labeled), "reinit": cfg.reinit, "control": cfg.control,
                            "translate_ensemble": cfg.translate_ensemble, "curriculum": list(cfg.curriculum),
                            "epochs": cfg.train.epochs, "milestones": list(cfg.train.milestones),
                            "lr": cfg.train.lr, "batch_size": cfg.train.batch_size,
                            "input_size": cfg.train.input_size, "backbone": cfg.train.backbone})
    done = {r["round"] for r in metrics["rounds"]}

    def record(r: int, task: str, model_path: Path, seconds: float, extra: dict) -> None:
        row = {"round": r, "task": task, "model": str(model_path), "seconds": round(seconds, 1), **extra}
        model = load_model(model_path)
        if val is not None:
            row["val"] = summary(evaluate(model, val, device=cfg.train.device)[0])
        for spec, ds in evals.items():
            row.setdefault("eval", {})[spec] = summary(evaluate(model, ds, device=cfg.train.device)[0])
        metrics["rounds"] = [x for x in metrics["rounds"] if x["round"] != r] + [row]
        metrics["rounds"].sort(key=lambda x: x["round"])
        tmp = metrics_file.with_suffix(".json.part")
        tmp.write_text(json.dumps(metrics, indent=1))
        tmp.replace(metrics_file)
        log(json.dumps(row))

    # round 0: supervised on the labelled set (the teacher of round 1)
    r0 = out / "round0"
    if 0 in done and (r0 / "best.safetensors").is_file():
        current = r0 / "best.safetensors"
    elif cfg.init:
        current = Path(cfg.init)
        record(0, "init", current, 0.0, {})
    else:
        t = time.time()
        res = train(replace(cfg.train, out=str(r0), data=list(cfg.labeled), val=cfg.val, init=None),
                    resume=(r0 / "train_state.safetensors").is_file(), train_set=labeled, val_set=val, log=log)
        current = Path(res["best"])
        record(0, "std", current, time.time() - t, {"labeled": len(labeled)})
    for r in range(1, cfg.rounds + 1):
        task = "control" if cfg.control else cfg.curriculum[r - 1]
        rd = out / f"round{r}"
        if r in done and (rd / "best.safetensors").is_file():
            current = rd / "best.safetensors"
            continue
        if cfg.control and cfg.reinit and r > 1:
            log(f"control round {r}: the same run as round 1 (re-initialised rounds do not depend on the last one)")
            break
        t = time.time()
        init = None if cfg.reinit else str(current)
        if cfg.control:
            # the labelled set alone, drawn as often per epoch as labelled + pool in a real round
            weight = (len(labeled) + len(pool)) / len(labeled)
            tcfg = replace(cfg.train, out=str(rd), init=init, val=cfg.val,
                           data=[f"{spec}@{weight:.4f}" for spec in cfg.labeled])
            res = train(tcfg, resume=(rd / "train_state.safetensors").is_file(), train_set=labeled, val_set=val,
                        log=log, parts=[(len(labeled), weight)])
            current = Path(res["best"])
            record(r, task, current, time.time() - t, {"labeled": len(labeled), "weight": round(weight, 4)})
            continue
        labels = rd / "pseudo" / "labels.csv"
        if not labels.is_file():
            pts = pseudo_label(load_model(current), pool, cfg.translate_ensemble, cfg.train.device)
            write_pseudo_set(rd / "pseudo", pool, pts)
        pseudo = load_dataset(f"pseudo:{rd / 'pseudo'}")
        pseudo = LandmarkSet([Record(rec.image, rec.points, {"task": task}) for rec in pseudo.records],
                             labeled.scheme, pseudo.source)
        tcfg = replace(cfg.train, out=str(rd), init=init, val=cfg.val,
                       data=list(cfg.labeled) + [f"pseudo:{rd / 'pseudo'}"])
        res = train(tcfg, resume=(rd / "train_state.safetensors").is_file(), train_set=labeled + pseudo,
                    val_set=val, log=log)
        current = Path(res["best"])
        record(r, task, current, time.time() - t, {"pseudo": len(pseudo), "labeled": len(labeled)})
    final = current
    if val is not None:  # the round the validation set prefers (its labels choose, never train)
        scored = [x for x in metrics["rounds"] if "val" in x]
        if scored:
            final = Path(min(scored, key=lambda x: x["val"]["nme"])["model"])
    return {"out": str(out), "final": str(final), "last": str(current), "metrics": str(metrics_file),
            "rounds": metrics["rounds"]}

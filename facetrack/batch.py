"""Process a video archive: every input gets its own outputs and one final line in ``manifest.jsonl``.

Local mode runs a process pool (one FaceTracker per worker, loaded once); Ray mode runs one task per video,
or per time chunk of a long video (cut at keyframes; track IDs offset per chunk and stitched across chunk
borders by box overlap, and with re-identification a person who comes back in a later chunk takes their ID back
by appearance). Outputs are written under temporary names and renamed when complete, so a crash
never leaves a half file under a final name; ``resume`` skips videos whose outputs are complete.
"""
from __future__ import annotations

import csv
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import FacetrackError
from .inputs import expand_inputs
from .pipeline import TrackOptions

KILL_HOOK = "FACETRACK_TEST_KILL_FIRST_ATTEMPT"  # tests: path of a marker; the first attempt dies mid-video


@dataclass
class Job:
    source: str
    rel: str                      # output path stem relative to the output folder
    chunk: int = -1               # -1: whole video
    start_s: float | None = None
    end_s: float | None = None
    frame_offset: int = 0


@dataclass
class BatchOptions:
    out: str
    outputs: tuple[str, ...] = ("csv",)   # output formats per video (names of facetrack.sinks.FORMATS)
    workers: int | None = None
    ray: str | None = None        # None: local pool; "local": embedded Ray; "auto" / "ray://host:port": a cluster
    resume: bool = False
    retry_partial: bool = False   # with resume: run truncated ("partial") videos again too
    chunk_seconds: float | None = None
    max_retries: int = 2
    threads_per_worker: int | None = None  # default: the cores shared out among the workers
    track: TrackOptions = field(default_factory=TrackOptions)


def output_paths(out: Path, rel: str, o: BatchOptions) -> dict[str, Path]:
    from .sinks import FORMATS
    base = out / rel
    return {k: base.with_name(base.name + FORMATS[k].suffix) for k in o.outputs}


def _part(p: Path, tag: str = "") -> Path:
    return p.with_name(f".{p.name}{tag}.part" + (p.suffix if p.suffix == ".mp4" else ""))


def _identities_file(out: Path, rel: str, chunk: int) -> Path:
    """A chunk's re-identification views (JSON), kept for the merger to link identities across chunks."""
    base = out / rel
    return base.with_name(f".{base.name}.chunk{chunk}.identities.json")


def _started_marker(out: Path, job: "Job") -> Path:
    """Exists while a worker runs the job: after a pool breaks it tells the job that was running (and killed
    its worker) from the ones that were only queued."""
    base = out / job.rel
    return base.with_name(f".{base.name}.chunk{job.chunk}.started")


# ---------------------------------------------------------------------------------------- one job
class _WorkerTracker:
    """The tracker a worker process keeps loaded between its jobs (one per process: the worker's own state,
    made on its first job; a job with other options replaces it)."""
    ft = None
    key = None

    @classmethod
    def get(cls, track: TrackOptions, threads: int | None = None):
        from .backends import set_threads
        from .pipeline import FaceTracker
        if threads:
            set_threads(threads)  # workers must not oversubscribe the cores
        key = json.dumps(asdict(track), sort_keys=True)
        if cls.key != key:
            if cls.ft is not None:
                cls.ft.close()
            cls.ft, cls.key = FaceTracker(TrackOptions(**asdict(track))), key
        return cls.ft


class _DieAfter:
    """Fault injection for the retry tests (``KILL_HOOK``): the worker process dies after ``n`` frames, leaving
    partial temporary files, as a crashed worker would."""
    kind, path = "fault", None

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def start(self, info) -> None:
        pass

    def write(self, result) -> None:
        self.seen += 1
        if self.seen >= self.n:
            os._exit(17)

    def close(self) -> None:
        pass


def run_job(job: Job, o: BatchOptions) -> dict:
    """Process one video (or chunk) into temporary files; whole videos are renamed into place here,
    chunks by the merger. Returns a manifest record."""
    from .pipeline import run
    from .sinks import make_sink
    from .video import VideoSource
    out = Path(o.out)
    finals = output_paths(out, job.rel, o)
    tag = f".chunk{job.chunk}" if job.chunk >= 0 else ""
    parts = {k: _part(v, tag) for k, v in finals.items()}
    t0 = time.time()
    rec = {"input": job.source, "rel": job.rel, "chunk": job.chunk, "status": "failed", "frames": 0, "faces": 0,
           "tracks": 0, "seconds": 0.0, "fps": 0.0, "error": None, "pid": os.getpid()}
    marker = _started_marker(out, job)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(os.getpid()))
    try:
        sinks = [make_sink(k, p) for k, p in parts.items()]
        hook = os.environ.get(KILL_HOOK)
        if hook and not Path(hook).exists():
            Path(hook).write_text(str(os.getpid()))
            sinks.append(_DieAfter(5))
        ft = _WorkerTracker.get(o.track, o.threads_per_worker)
        ft.reset(job.frame_offset)
        reid = ft.identifier  # the re-identifier (facetrack.reid) when the reid extra is on
        if reid is not None:
            reid.unseen_past = job.chunk > 0  # people may return from earlier chunks: young tracks take their looks
        with VideoSource(job.source, start_s=job.start_s, end_s=job.end_s) as src:
            s = run(src, sinks, ft, progress=False)
        if s["interrupted"]:
            raise FacetrackError(f"interrupted ({s['interrupted']})")
        if job.chunk < 0:
            for k, p in parts.items():
                os.replace(p, finals[k])
        elif reid is not None:  # the chunk's identities, for the merger to link across chunks
            f = _identities_file(out, job.rel, job.chunk)
            tmp = f.with_name(f.name + ".part")
            tmp.write_text(json.dumps(reid.identities()))
            os.replace(tmp, f)
        rec.update(status="partial" if s.get("truncated") else "done", frames=s["frames"], faces=s["faces"],
                   tracks=s["tracks"])
        if s.get("truncated"):  # outputs hold what decoded; the file promised more
            rec["expected_frames"] = s["expected_frames"]
    except Exception as e:  # noqa: BLE001 - one bad video must not stop the batch
        rec["error"] = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        for p in parts.values():
            p.unlink(missing_ok=True)
        _identities_file(out, job.rel, job.chunk).unlink(missing_ok=True)
    marker.unlink(missing_ok=True)
    rec["seconds"] = round(time.time() - t0, 3)
    rec["fps"] = round(rec["frames"] / max(rec["seconds"], 1e-9), 2)
    return rec


# ------------------------------------------------------------------------------------ chunking
def keyframe_times(source: str) -> tuple[list[float], list[int], float]:
    """Times of keyframes, the number of frames before each, and the duration (demux only, no decoding)."""
    import av
    try:
        with av.open(source) as c:
            st = c.streams.video[0]
            tb, t0 = st.time_base, st.start_time or 0
            times, counts, n, last = [], [], 0, 0.0
            for pkt in c.demux(st):
                if pkt.pts is None or pkt.size == 0:
                    continue
                t = float((pkt.pts - t0) * tb)
                if pkt.is_keyframe:
                    times.append(t)
                    counts.append(n)
                n += 1
                last = max(last, t)
    except Exception as e:  # noqa: BLE001
        raise FacetrackError(f"cannot read {source}: {e}") from None
    return times, counts, last


def plan_jobs(source: str, rel: str, chunk_seconds: float | None) -> list[Job]:
    if not chunk_seconds or "://" in source or source.startswith("lavfi:") or not Path(source).is_file():
        return [Job(source, rel)]
    try:
        times, counts, duration = keyframe_times(source)
    except FacetrackError:
        return [Job(source, rel)]
    cuts = [0]
    for i, t in enumerate(times):
        if t - times[cuts[-1]] >= chunk_seconds:
            cuts.append(i)
    if len(cuts) == 1:
        return [Job(source, rel)]
    jobs = []
    for k, i in enumerate(cuts):
        end = times[cuts[k + 1]] if k + 1 < len(cuts) else None
        jobs.append(Job(source, rel, k, times[i] if k else None, end, counts[i]))
    return jobs


ID_STRIDE = 1_000_000  # chunk k's track ids start at k * ID_STRIDE before stitching


def merge_chunks(rel: str, n_chunks: int, o: BatchOptions) -> dict:
    """Concatenate the chunk CSV/JSONL files in order, make track IDs unique per video (chunk offset) and stitch
    a track across a chunk border to the track it continues (best box IoU >= 0.3 between the last frame of
    one chunk and the first frame of the next). Writes the final files atomically."""
    from .tracking import iou_matrix
    import numpy as np
    out = Path(o.out)
    finals = output_paths(out, rel, o)
    rows_by_chunk: list[list[dict]] = []
    header = None
    for k in range(n_chunks):
        p = _part(finals["csv"], f".chunk{k}")
        with open(p, newline="") as f:
            r = csv.DictReader(f)
            header = r.fieldnames
            rows_by_chunk.append(list(r))
    mapping: list[dict[str, int]] = []
    for k, rows in enumerate(rows_by_chunk):
        m = {tid: k * ID_STRIDE + int(tid) for tid in {r["track_id"] for r in rows}}
        if k and rows and rows_by_chunk[k - 1]:
            prev = rows_by_chunk[k - 1]
            last_f = max(int(r["frame"]) for r in prev)
            first_f = min(int(r["frame"]) for r in rows)
            a = [r for r in prev if int(r["frame"]) == last_f]
            b = [r for r in rows if int(r["frame"]) == first_f]

            def box(r):
                x, y, w, h = (float(r[c]) for c in ("box_x", "box_y", "box_w", "box_h"))
                return [x, y, x + w, y + h]
            if a and b and first_f - last_f <= 2:
                iou = iou_matrix(np.array([box(r) for r in a]), np.array([box(r) for r in b]))
                used = set()
                for j in np.argsort(-iou.max(0)):
                    i = int(iou[:, j].argmax())
                    if iou[i, j] >= 0.3 and i not in used:
                        used.add(i)
                        m[b[j]["track_id"]] = mapping[k - 1][a[i]["track_id"]]
        mapping.append(m)
    _link_identities(out, rel, rows_by_chunk, mapping)
    tracks = set()
    tmp = _part(finals["csv"])
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        for k, rows in enumerate(rows_by_chunk):
            for r in rows:
                r["track_id"] = mapping[k][r["track_id"]]
                tracks.add(r["track_id"])
                w.writerow(r)
    os.replace(tmp, finals["csv"])
    if "jsonl" in finals:
        tmp = _part(finals["jsonl"])
        with open(tmp, "w") as f:
            for k in range(n_chunks):
                p = _part(finals["jsonl"], f".chunk{k}")
                for line in open(p):
                    d = json.loads(line)
                    d["track_id"] = mapping[k][str(d["track_id"])]
                    f.write(json.dumps(d) + "\n")
        os.replace(tmp, finals["jsonl"])
    if "parquet" in finals:
        import pyarrow as pa
        import pyarrow.parquet as pq
        tables = []
        for k in range(n_chunks):
            t = pq.read_table(_part(finals["parquet"], f".chunk{k}"))
            ids = pa.array([mapping[k][str(v)] for v in t.column("track_id").to_pylist()], pa.int64())
            tables.append(t.set_column(t.schema.get_field_index("track_id"), "track_id", ids))
        tmp = _part(finals["parquet"])
        pq.write_table(pa.concat_tables(tables), tmp)
        os.replace(tmp, finals["parquet"])
    for k in range(n_chunks):
        for p in finals.values():
            _part(p, f".chunk{k}").unlink(missing_ok=True)
    return {"tracks": len(tracks)}


def _link_identities(out: Path, rel: str, rows_by_chunk: list[list[dict]], mapping: list[dict[str, int]]) -> None:
    """Re-identification across chunks (when every chunk kept its identities' views): an ID that began inside a
    later chunk takes an earlier chunk's ID by appearance (:func:`facetrack.reid.link_across_chunks`); ``mapping``
    is updated in place. Without the views (no ``reid`` extra) the IDs stay as the box stitching left them."""
    files = [_identities_file(out, rel, k) for k in range(len(rows_by_chunk))]
    try:
        if not all(f.is_file() for f in files):
            return
        from .reid import link_across_chunks
        spans: dict[int, list[float]] = {}
        for k, rows in enumerate(rows_by_chunk):
            for r in rows:
                t, i = float(r["time_s"]), mapping[k][r["track_id"]]
                sp = spans.setdefault(i, [t, t])
                sp[0], sp[1] = min(sp[0], t), max(sp[1], t)
        views: dict[int, list] = {}
        seen: dict[int, float] = {}
        for k, f in enumerate(files):
            for ident, d in json.loads(f.read_text()).items():
                i = mapping[k].get(ident)
                if i is None:  # described, but no row carries it (it took another ID back)
                    continue
                views.setdefault(i, []).extend(d["views"])
                seen[i] = seen.get(i, 0.0) + d["last_s"] - d["first_s"]
        # IDs of later chunks that no box stitching continued: a person who appeared (or came back) there
        new = [i for k, m in enumerate(mapping) if k for local, i in m.items()
               if i == k * ID_STRIDE + int(local) and i in spans]
        links = link_across_chunks(spans, views, seen, new)
        for m in mapping:
            for local, i in m.items():
                while i in links:
                    i = links[i]
                m[local] = i
    finally:
        for f in files:
            f.unlink(missing_ok=True)


# -------------------------------------------------------------------------------------- manifest
def read_manifest(out: Path) -> dict[str, dict]:
    m = out / "manifest.jsonl"
    recs: dict[str, dict] = {}
    if m.is_file():
        for line in m.read_text().splitlines():
            try:
                d = json.loads(line)
                recs[d["rel"]] = d
            except (ValueError, KeyError):
                continue  # a line cut by a crash
    return recs


def outcome(rec: dict) -> str | None:
    """What the last real run of a video gave (a 'skipped' line carries it as previous_status)."""
    return rec.get("previous_status") if rec.get("status") == "skipped" else rec.get("status")


def complete(rec: dict | None, out: Path, rel: str, o: BatchOptions) -> bool:
    """Done before (or partial: a truncated file, whose outputs hold what decoded, unless ``retry_partial``)."""
    ok = ("done",) if o.retry_partial else ("done", "partial")
    return bool(rec and outcome(rec) in ok and all(p.is_file() for p in output_paths(out, rel, o).values()))


# ------------------------------------------------------------------------------------------ driver
def run_batch(inputs: list[str], o: BatchOptions, progress: bool = True) -> dict:
    out = Path(o.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FacetrackError(f"cannot create output folder {out}: {e.strerror or e}") from None
    from .sinks import FORMATS
    bad = [k for k in o.outputs if k not in FORMATS]
    if bad:
        raise FacetrackError(f"unknown output format {bad[0]!r} (choose {', '.join(FORMATS)})")
    if "video" in o.outputs and o.chunk_seconds:
        raise FacetrackError("--video cannot be combined with --chunk-seconds (annotated videos are per whole video)")
    if not o.outputs:
        raise FacetrackError(f"choose at least one output: {', '.join('--' + k for k in FORMATS)}")
    if o.chunk_seconds and "csv" not in o.outputs:
        raise FacetrackError("--chunk-seconds needs --csv (chunks are stitched from the CSV rows)")
    items = expand_inputs(inputs)
    if not items:
        raise FacetrackError("no video found in the inputs")
    if o.threads_per_worker is None and not (o.ray and o.ray not in ("local", "")):
        o.threads_per_worker = max(1, (os.cpu_count() or 1) // max(1, o.workers or os.cpu_count() or 1))
    old = read_manifest(out) if o.resume else {}
    manifest = out / "manifest.jsonl"
    if not o.resume:
        manifest.unlink(missing_ok=True)
    final: dict[str, dict] = {}
    todo = []
    for src, rel in items:
        if o.resume and complete(old.get(rel), out, rel, o):
            final[rel] = {**old[rel], "status": "skipped", "previous_status": outcome(old[rel])}
        else:
            for p in output_paths(out, rel, o).values():
                p.parent.mkdir(parents=True, exist_ok=True)
            todo.append((src, rel))
    t0 = time.time()
    mf = open(manifest, "a")

    def record(rec: dict) -> None:
        final[rec["rel"]] = rec
        mf.write(json.dumps(rec) + "\n")
        mf.flush()
        if progress:
            done = sum(1 for r in final.values())
            frames = sum(r.get("frames", 0) for r in final.values() if r["status"] in ("done", "partial"))
            el = time.time() - t0
            eta = el / max(done - (len(items) - len(todo)), 1) * (len(items) - done)
            print(f"batch | videos {done}/{len(items)} | frames {frames} | {frames / max(el, 1e-9):.1f} frames/s | "
                  f"ETA {int(eta)}s | {rec['rel']}: {rec['status']}", file=sys.stderr, flush=True)

    try:
        if o.ray:
            _run_ray(todo, o, record)
        else:
            _run_local(todo, o, record)
    finally:
        mf.close()
    # one final line per video, in input order (rewritten atomically)
    tmp = manifest.with_name(".manifest.jsonl.part")
    with open(tmp, "w") as f:
        for _, rel in items:
            if rel in final:
                f.write(json.dumps(final[rel]) + "\n")
    os.replace(tmp, manifest)
    counts = {s: sum(1 for r in final.values() if r["status"] == s) for s in ("done", "partial", "failed", "skipped")}
    return {"out": str(out), "videos": len(items), **counts, "frames": sum(r.get("frames", 0) for r in final.values()
            if r["status"] in ("done", "partial")), "seconds": round(time.time() - t0, 2), "manifest": str(manifest)}


def _video_record(rel: str, src: str, parts: list[dict], o: BatchOptions) -> dict:
    """Fold chunk records into one video record (merging the chunk files when all are done)."""
    failed = [p for p in parts if p["status"] != "done"]
    rec = {"input": src, "rel": rel, "chunk": -1, "chunks": len(parts), "status": "done" if not failed else "failed",
           "frames": sum(p["frames"] for p in parts), "faces": sum(p["faces"] for p in parts), "tracks": 0,
           "seconds": round(max(p["seconds"] for p in parts), 3), "error": failed[0]["error"] if failed else None}
    if not failed:
        try:
            rec["tracks"] = merge_chunks(rel, len(parts), o)["tracks"]
        except (OSError, ValueError, KeyError) as e:
            rec.update(status="failed", error=f"merging chunks failed: {e}")
    rec["fps"] = round(rec["frames"] / max(rec["seconds"], 1e-9), 2)
    return rec


def _run_local(todo, o: BatchOptions, record) -> None:
    """A process pool; a worker that dies takes its job back to the queue (up to max_retries times)."""
    import concurrent.futures as cf
    import multiprocessing as mp
    jobs = {rel: plan_jobs(src, rel, o.chunk_seconds) for src, rel in todo}
    pending = [(j, 0) for src, rel in todo for j in jobs[rel]]
    results: dict[str, list] = {rel: [None] * len(jobs[rel]) for _, rel in todo}
    workers = o.workers or os.cpu_count() or 1
    ctx = mp.get_context("spawn")
    while pending:
        retry = []
        with cf.ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=ctx) as pool:
            futs = {pool.submit(run_job, j, o): (j, a) for j, a in pending}
            for fut in cf.as_completed(futs):
                j, attempts = futs[fut]
                try:
                    rec = fut.result()
                except Exception as e:  # noqa: BLE001 - a worker died (BrokenProcessPool) or similar
                    marker = _started_marker(Path(o.out), j)
                    was_running = marker.exists()
                    marker.unlink(missing_ok=True)
                    for p in output_paths(Path(o.out), j.rel, o).values():  # its partial temporary files
                        _part(p, f".chunk{j.chunk}" if j.chunk >= 0 else "").unlink(missing_ok=True)
                    if not was_running:  # only queued when another job broke the pool: not its fault
                        retry.append((j, attempts))
                        continue
                    if attempts < o.max_retries:
                        retry.append((j, attempts + 1))
                        continue
                    rec = {"input": j.source, "rel": j.rel, "chunk": j.chunk, "status": "failed", "frames": 0,
                           "faces": 0, "tracks": 0, "seconds": 0.0, "fps": 0.0,
                           "error": f"worker died: {type(e).__name__}"}
                _collect(rec, j, jobs, results, o, record)
        pending = retry


def _collect(rec, j: Job, jobs, results, o, record) -> None:
    if j.chunk < 0:
        record(rec)
        return
    results[j.rel][j.chunk] = rec
    if all(r is not None for r in results[j.rel]):
        record(_video_record(j.rel, j.source, results[j.rel], o))


def _run_ray(todo, o: BatchOptions, record) -> None:
    try:
        import ray
    except ImportError:
        raise FacetrackError("Ray mode needs: pip install 'facetrack[ray]'") from None
    started = False
    if not ray.is_initialized():
        addr = None if o.ray in ("local", "") else o.ray
        kw = {"num_cpus": o.workers or os.cpu_count()} if addr is None else {}
        ray.init(address=addr, include_dashboard=False, log_to_driver=False, **kw)
        started = True
    try:
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        task = ray.remote(num_cpus=1, num_gpus=1 if has_gpu else 0, max_retries=o.max_retries)(run_job)
        if has_gpu:
            o.track.device = "cuda"
        jobs = {rel: plan_jobs(src, rel, o.chunk_seconds) for src, rel in todo}
        results: dict[str, list] = {rel: [None] * len(jobs[rel]) for _, rel in todo}
        refs = {}
        for _, rel in todo:
            for j in jobs[rel]:
                refs[task.remote(j, o)] = j
        remaining = list(refs)
        while remaining:
            ready, remaining = ray.wait(remaining, num_returns=1)
            j = refs[ready[0]]
            try:
                rec = ray.get(ready[0])
            except Exception as e:  # noqa: BLE001 - retries exhausted
                rec = {"input": j.source, "rel": j.rel, "chunk": j.chunk, "status": "failed", "frames": 0,
                       "faces": 0, "tracks": 0, "seconds": 0.0, "fps": 0.0,
                       "error": f"task failed after retries: {type(e).__name__}"}
            _collect(rec, j, jobs, results, o, record)
    finally:
        if started:
            ray.shutdown()

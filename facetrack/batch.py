"""Process a video archive: every input gets its own outputs and one final line in ``manifest.jsonl``.

Work is a list of jobs: one per video, or per time chunk of a long video (``chunk_seconds``: cut at keyframes).
Each worker keeps one FaceTracker loaded between its jobs (:class:`JobRunner`): locally a worker process fed one job at
a time (a worker that dies has its job run again, ``max_retries`` times), on Ray an actor (restarted by Ray). A chunk
job writes its faces' records (JSON Lines, lossless); the merger reads them back (twice, streaming: memory does not
grow with the video), offsets track IDs per chunk, stitches a track across a chunk border by box overlap, links a
person who comes back in a later chunk by appearance (re-identification), and writes every requested format from the
records with the formats' own writers. Outputs are written under temporary names and renamed when complete, so a
crash never leaves a half file under a final name; ``resume`` skips videos whose outputs are complete.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import FacetrackError
from .inputs import expand_inputs
from .pipeline import TrackOptions


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
    people: bool = False          # link people across the videos (OUT/people.csv, OUT/people/), by appearance
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


def _records_part(out: Path, rel: str, chunk: int) -> Path:
    """A chunk's faces as records (JSON Lines, every field): what the merger writes every format from."""
    base = out / rel
    return base.with_name(f".{base.name}.chunk{chunk}.records.jsonl.part")


def _running_marker(out: Path, job: Job) -> Path:
    """Exists while a worker runs the job and holds its process ID: which worker has which video, for whoever
    watches a batch (and for the tests that kill a worker mid-job)."""
    base = out / job.rel
    return base.with_name(f".{base.name}.chunk{job.chunk}.running")


def _job_files(out: Path, job: Job, o: BatchOptions) -> list[Path]:
    """The temporary files a job writes (removed when it fails or its worker dies)."""
    if job.chunk >= 0:
        return [_records_part(out, job.rel, job.chunk), _identities_file(out, job.rel, job.chunk)]
    return [_part(p) for p in output_paths(out, job.rel, o).values()]


def manifest_record(job: Job, status: str = "failed", *, frames: int = 0, faces: int = 0, tracks: int = 0,
                    seconds: float = 0.0, error: str | None = None, **extra) -> dict:
    """The one shape of a ``manifest.jsonl`` line: ``input, rel, chunk`` (-1: the whole video), ``status`` (done,
    partial: a truncated file, failed, skipped), ``frames, faces, tracks, seconds, fps, error``, then what the
    status adds (``expected_frames``, ``chunks``, ``previous_status``, ``pid``)."""
    return {"input": job.source, "rel": job.rel, "chunk": job.chunk, "status": status, "frames": frames,
            "faces": faces, "tracks": tracks, "seconds": round(seconds, 3),
            "fps": round(frames / max(seconds, 1e-9), 2), "error": error, **extra}


class JobRunner:
    """Runs jobs in one worker (a local worker process or a Ray actor), keeping its FaceTracker loaded between
    them; the tracker is this object's, made on the first job."""

    def __init__(self, o: BatchOptions):
        from .backends import set_threads
        self.o, self.ft = o, None
        if o.threads_per_worker:
            set_threads(o.threads_per_worker)  # workers must not oversubscribe the cores

    def tracker(self):
        if self.ft is None:
            from .pipeline import FaceTracker
            self.ft = FaceTracker(TrackOptions(**asdict(self.o.track)))
        return self.ft

    def run(self, job: Job) -> dict:
        """Process one video (or chunk) into temporary files; whole videos are renamed into place here, chunks by
        the merger. Returns the job's manifest record."""
        from .pipeline import run
        from .sinks import JSONLSink, make_sink
        from .video import VideoSource
        o, out = self.o, Path(self.o.out)
        t0 = time.time()
        marker = _running_marker(out, job)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
        try:
            if job.chunk >= 0:
                sinks = [JSONLSink(_records_part(out, job.rel, job.chunk))]
            else:
                finals = output_paths(out, job.rel, o)
                sinks = [make_sink(k, _part(p)) for k, p in finals.items()]
            ft = self.tracker()
            ft.reset(job.frame_offset)
            reid = ft.identifier  # the re-identifier (facetrack.reid) when the reid extra is on
            if reid is not None:
                reid.unseen_past = job.chunk > 0  # people may return from earlier chunks: young tracks take their looks
            with VideoSource(job.source, start_s=job.start_s, end_s=job.end_s) as src:
                s = run(src, sinks, ft, progress=False)
            if s["interrupted"]:
                raise FacetrackError(f"interrupted ({s['interrupted']})")
            if job.chunk < 0:
                if o.people:
                    _write_video_people(out, job.rel, ft, src.info.fps)
                for k, p in finals.items():
                    os.replace(_part(p), p)
            elif reid is not None:  # the chunk's identities, for the merger to link across chunks
                if o.people:
                    _write_thumbs(_chunk_people_dir(out, job.rel, job.chunk), reid.thumbnails())
                f = _identities_file(out, job.rel, job.chunk)
                tmp = f.with_name(f.name + ".part")
                tmp.write_text(json.dumps(reid.identities()))
                os.replace(tmp, f)
            extra = {"expected_frames": s["expected_frames"]} if s.get("truncated") else {}
            rec = manifest_record(job, "partial" if s.get("truncated") else "done", frames=s["frames"],
                                  faces=s["faces"], tracks=s["tracks"], seconds=time.time() - t0, pid=os.getpid(),
                                  **extra)
        except Exception as e:  # noqa: BLE001 - one bad video must not stop the batch
            for p in _job_files(out, job, o):
                p.unlink(missing_ok=True)
            rec = manifest_record(job, seconds=time.time() - t0, pid=os.getpid(),
                                  error=str(e).splitlines()[0][:300] if str(e) else type(e).__name__)
        marker.unlink(missing_ok=True)
        return rec

    def close(self) -> None:
        if self.ft is not None:
            self.ft.close()


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


def _records(path: Path):
    with open(path) as f:
        for line in f:
            yield json.loads(line)


def _box(r: dict) -> list[float]:
    return [r["box_x"], r["box_y"], r["box_x"] + r["box_w"], r["box_y"] + r["box_h"]]


def merge_chunks(rel: str, n_chunks: int, o: BatchOptions) -> dict:
    """A chunked video's outputs from its chunks' records, in order: track IDs made unique per video (chunk offset),
    a track across a chunk border stitched to the track it continues (best box IoU >= 0.3 between the last frame of
    one chunk and the first frame of the next), people linked across chunks by appearance (re-identification), then
    every requested format written from the records by its own writer. Two streaming passes; the final files are
    written atomically."""
    import numpy as np

    from .sinks import SinkInfo, make_sink
    from .tracking import iou_matrix
    out = Path(o.out)
    parts = [_records_part(out, rel, k) for k in range(n_chunks)]
    # pass 1: each chunk's IDs, the faces of its first and last frames, and every ID's time on screen
    chunks = []
    step = _FrameStep()
    for p in parts:
        ids, first, last, spans = set(), [], [], {}
        for r in _records(p):
            tid, f, t = r["track_id"], r["frame"], r["time_s"]
            ids.add(tid)
            sp = spans.setdefault(tid, [t, t, 0])
            sp[0], sp[1], sp[2] = min(sp[0], t), max(sp[1], t), sp[2] + 1  # first, last second, rows (frames)
            step.add(f, t)
            if not first or f == first[0]["frame"]:
                first.append(r)
            if not last or f > last[0]["frame"]:
                last = [r]
            elif f == last[0]["frame"]:
                last.append(r)
        chunks.append({"ids": ids, "first": first, "last": last, "spans": spans})
    mapping: list[dict[int, int]] = []
    for k, c in enumerate(chunks):
        m = {tid: k * ID_STRIDE + tid for tid in c["ids"]}
        a, b = (chunks[k - 1]["last"], c["first"]) if k else ([], [])
        if a and b and b[0]["frame"] - a[0]["frame"] <= 2:
            iou = iou_matrix(np.array([_box(r) for r in a]), np.array([_box(r) for r in b]))
            used = set()
            for j in np.argsort(-iou.max(0)):
                i = int(iou[:, j].argmax())
                if iou[i, j] >= 0.3 and i not in used:
                    used.add(i)
                    m[b[j]["track_id"]] = mapping[k - 1][a[i]["track_id"]]
        mapping.append(m)
    described = _link_identities(out, rel, [c["spans"] for c in chunks], mapping)
    if o.people:
        _write_chunked_people(out, rel, len(parts), [c["spans"] for c in chunks], mapping, described or {},
                              step.fps())
    # pass 2: every format from the records
    finals = output_paths(out, rel, o)
    info = SinkInfo(rel, 0.0, 0, 0, False, _num_points(o))
    sinks = {k: make_sink(k, _part(p)) for k, p in finals.items()}
    tracks = set()
    try:
        for s in sinks.values():
            s.start(info)
        for k, p in enumerate(parts):
            batch: list[dict] = []
            for r in _records(p):
                r["track_id"] = mapping[k][r["track_id"]]
                tracks.add(r["track_id"])
                batch.append(r)
                if len(batch) >= 4096:
                    for s in sinks.values():
                        s.write_records(batch)
                    batch = []
            for s in sinks.values():
                s.write_records(batch)
    finally:
        for s in sinks.values():
            s.close()
    for k, p in finals.items():
        os.replace(_part(p), p)
    for p in parts:
        p.unlink(missing_ok=True)
    return {"tracks": len(tracks)}


def _num_points(o: BatchOptions) -> int:
    from .assets import resolve_model_path
    from pipnet_model.meta import read_meta
    return read_meta(resolve_model_path(o.track.model)).num_points


def _final_spans(spans_by_chunk: list[dict[int, list]], mapping: list[dict[int, int]]) -> dict[int, list]:
    """Each video-wide ID's first and last second and rows, from its chunks' (``mapping``: chunk ID -> video ID)."""
    spans: dict[int, list] = {}
    for k, chunk_spans in enumerate(spans_by_chunk):
        for local, (t0, t1, n) in chunk_spans.items():
            sp = spans.setdefault(mapping[k][local], [t0, t1, 0])
            sp[0], sp[1], sp[2] = min(sp[0], t0), max(sp[1], t1), sp[2] + n
    return spans


class _FrameStep:
    """The frame rate of a chunked video from its records (frame numbers and seconds), first and last seen."""

    def __init__(self):
        self.lo = self.hi = None

    def add(self, frame: int, t: float) -> None:
        if self.lo is None or frame < self.lo[0]:
            self.lo = (frame, t)
        if self.hi is None or frame > self.hi[0]:
            self.hi = (frame, t)

    def fps(self) -> float:
        if self.lo is None or self.hi[1] <= self.lo[1]:
            return 25.0
        return (self.hi[0] - self.lo[0]) / (self.hi[1] - self.lo[1])


def _link_identities(out: Path, rel: str, spans_by_chunk: list[dict[int, list[float]]],
                     mapping: list[dict[int, int]]) -> dict[tuple[int, int], dict] | None:
    """Re-identification across chunks (when every chunk kept its identities' views): an ID that began inside a
    later chunk takes an earlier chunk's ID by appearance (:func:`facetrack.reid.link_across_chunks`); ``mapping``
    is updated in place. Without the views (no ``reid`` extra) the IDs stay as the box stitching left them.
    Returns what each chunk's re-identifier described, by (chunk, its ID) (None without the views)."""
    files = [_identities_file(out, rel, k) for k in range(len(spans_by_chunk))]
    try:
        if not all(f.is_file() for f in files):
            return None
        described = {(k, int(ident)): d for k, f in enumerate(files) for ident, d in json.loads(f.read_text()).items()}
        from .reid import link_across_chunks
        spans = {i: sp[:2] for i, sp in _final_spans(spans_by_chunk, mapping).items()}
        views: dict[int, list] = {}
        seen: dict[int, float] = {}
        for (k, ident), d in described.items():
            i = mapping[k].get(ident)
            if i is None:  # described, but no row carries it (it took another ID back)
                continue
            views.setdefault(i, []).extend(d["views"])
            seen[i] = seen.get(i, 0.0) + d["last_s"] - d["first_s"]
        # IDs of later chunks that no box stitching continued: a person who appeared (or came back) there
        new = [i for k, m in enumerate(mapping) if k for local, i in m.items()
               if i == k * ID_STRIDE + local and i in spans]
        links = link_across_chunks(spans, views, seen, new)
        for m in mapping:
            for local, i in m.items():
                while i in links:
                    i = links[i]
                m[local] = i
        return described
    finally:
        for f in files:
            f.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------- people
def _people_file(out: Path, rel: str) -> Path:
    return out / ".people" / (rel + ".json")


def _thumbs_dir(out: Path, rel: str) -> Path:
    """A video's people's pictures (``ID.jpg``), beside its people file."""
    return _people_file(out, rel).parent / Path(rel).name


def _chunk_people_dir(out: Path, rel: str, chunk: int) -> Path:
    """A chunk's people's pictures, kept for the merger to pick each person's best."""
    return out / ".people" / f"{rel}.chunk{chunk}"


def _write_thumbs(d: Path, thumbs: dict) -> None:
    import cv2
    d.mkdir(parents=True, exist_ok=True)
    for pid, im in thumbs.items():
        cv2.imwrite(str(d / f"{pid}.jpg"), im)


def _finish_people_file(out: Path, rel: str, recs: dict) -> None:
    f = _people_file(out, rel)
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f.name + ".part")
    tmp.write_text(json.dumps(recs))
    os.replace(tmp, f)


def _write_video_people(out: Path, rel: str, ft, fps) -> None:
    """A video's people, kept beside its outputs for the linking across videos: per ID its rows carry, the
    re-identifier's views (descriptors of good views), first and last second on screen, seconds on screen, and its
    best view as ``.people/REL/ID.jpg``."""
    ident = ft.identifier
    views = ident.identities()
    recs = {}
    for pid, p in ft.people().items():
        if pid not in views:  # never seen well enough to be described: not linkable
            continue
        recs[str(pid)] = {"views": views[pid]["views"], "first_s": round(p["first_s"], 3), "last_s": round(p["last_s"], 3),
                          "seconds": round(p["frames"] / float(fps or 25), 3)}
    _write_thumbs(_thumbs_dir(out, rel), {pid: im for pid, im in ident.thumbnails().items() if str(pid) in recs})
    _finish_people_file(out, rel, recs)


PEOPLE_VIEWS = 8  # views a chunked video keeps per ID for the people index: spread over its time on screen


def _write_chunked_people(out: Path, rel: str, n_chunks: int, spans_by_chunk: list[dict], mapping: list[dict],
                          described: dict[tuple[int, int], dict], fps: float) -> None:
    """A chunked video's people file, as :func:`_write_video_people` writes a whole video's: per final ID (after
    stitching and re-identification across chunks) the views its chunks described (``PEOPLE_VIEWS`` at most, spread
    in time), its first and last second, seconds on screen (its rows over the frame rate) and its best picture of
    all its chunks'; the chunks' pictures are removed."""
    import shutil
    spans = _final_spans(spans_by_chunk, mapping)
    views: dict[int, list] = {}
    best: dict[int, tuple[float, Path]] = {}
    for (k, local), d in sorted(described.items()):
        i = mapping[k].get(local)
        if i is None:
            continue
        views.setdefault(i, []).extend(d["views"])
        pic = _chunk_people_dir(out, rel, k) / f"{local}.jpg"
        if pic.is_file() and d.get("quality", 0.0) > best.get(i, (-1.0, None))[0]:
            best[i] = (d.get("quality", 0.0), pic)
    recs = {}
    for i, v in views.items():
        if i not in spans or not v:
            continue
        keep = v if len(v) <= PEOPLE_VIEWS else [v[round(j * (len(v) - 1) / (PEOPLE_VIEWS - 1))]
                                                   for j in range(PEOPLE_VIEWS)]
        t0, t1, n = spans[i]
        recs[str(i)] = {"views": keep, "first_s": round(t0, 3), "last_s": round(t1, 3), "seconds": round(n / fps, 3)}
    d = _thumbs_dir(out, rel)
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True, exist_ok=True)
    for i, (_, pic) in best.items():
        if str(i) in recs:
            shutil.copyfile(pic, d / f"{i}.jpg")
    for k in range(n_chunks):
        shutil.rmtree(_chunk_people_dir(out, rel, k), ignore_errors=True)
    _finish_people_file(out, rel, recs)


PEOPLE_COLUMNS = ("person_id", "video", "track_id", "first_s", "last_s", "seconds")


def cluster_people(views: list[list], videos: list[str], threshold: float) -> list[int]:
    """Group described IDs into people: average-linkage clustering of the IDs' distances (the closest pair of their
    views, as :func:`facetrack.reid.nearest_clear` measures), never two IDs of one video in one group, merging while
    the nearest two groups are on average closer than ``threshold``. Returns each ID's group (0, 1, ... in the order
    of the IDs). On the identity benchmark's 30-clip archive it links 0.76 of the pairs of one person where linking
    each ID in turn to the nearest person found so far (the rule inside a video) linked 0.52, both at precision 1.0:
    a person split early stays split in turn, and their later views then sit near two people at once. Memory and
    time grow as the square and cube of the IDs (0.4 s for 1,000 IDs, 2.6 s for 2,000 on the 2-core VM): for
    archives of up to a few thousand described IDs."""
    import numpy as np
    n = len(views)
    if n == 0:
        return []
    flat = np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1, 128) for v in views])
    counts = np.array([len(v) for v in views])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sq = (flat ** 2).sum(1)
    d = np.empty((n, n))
    for a in range(0, n, 256):  # ID x ID: their closest views, 256 IDs' views against all at a time
        b = min(n, a + 256)
        rows = flat[starts[a]:starts[b - 1] + counts[b - 1]]
        dd = np.sqrt(np.maximum((rows ** 2).sum(1)[:, None] + sq[None] - 2 * rows @ flat.T, 0.0))
        d[a:b] = np.minimum.reduceat(np.minimum.reduceat(dd, starts, axis=1), starts[a:b] - starts[a], axis=0)
    d[np.array(videos)[:, None] == np.array(videos)[None]] = np.inf  # one video's IDs (and each ID itself)
    size = np.ones(n)
    group = np.arange(n)
    while True:
        i, j = np.unravel_index(np.argmin(d), d.shape)
        if not d[i, j] < threshold:
            break
        i, j = min(i, j), max(i, j)
        d[i] = d[:, i] = (size[i] * d[i] + size[j] * d[j]) / (size[i] + size[j])  # inf stays inf: never one video
        d[i, i] = np.inf
        d[j] = d[:, j] = np.inf  # j is gone into i
        size[i] += size[j]
        group[group == j] = i
    order = {g: k for k, g in enumerate(dict.fromkeys(group.tolist()))}
    return [order[g] for g in group.tolist()]


def link_people(out: Path, rels: list[str], threshold: float = 0.5) -> dict:
    """The people index of a batch: every video's described IDs (``rels`` in input order, those with a people file)
    grouped into people by :func:`cluster_people` at ``threshold`` 0.5 (inside a video a returning face takes an ID
    back at 0.6: an archive holds many more people to be confused with). Chosen on the identity benchmark's seeds 0-2
    (15 clips: every pair of different people >= 0.557 apart, 9 of 10 pairs of one person under 0.5), measured on
    seeds 6-14 (docs/tracking.md). Never two IDs of one video into one person (the video's own tracking kept them
    apart). Person IDs count from 1 in the order people first appear in the input order, so a re-run with more videos
    after the old ones keeps the old IDs (unless a new video's views join two people the old ones kept apart).
    Writes ``people.csv`` (one row per person per ID: ``person_id, video, track_id, first_s, last_s, seconds``) and
    ``people/PERSON.jpg`` (the best view of their first ID)."""
    import csv
    import shutil
    ids = []
    for rel in rels:
        f = _people_file(out, rel)
        if f.is_file():
            for tid, d in sorted(json.loads(f.read_text()).items(), key=lambda kv: kv[1]["first_s"]):
                if d["views"]:
                    ids.append((rel, int(tid), d))
    group = cluster_people([d["views"] for _, _, d in ids], [rel for rel, _, _ in ids], threshold)
    n_people = max(group, default=-1) + 1
    faces = out / "people"
    shutil.rmtree(faces, ignore_errors=True)
    faces.mkdir(parents=True, exist_ok=True)
    rows, pictured = [], set()
    for (rel, tid, d), g in zip(ids, group):
        thumb = _thumbs_dir(out, rel) / f"{tid}.jpg"
        if g not in pictured and thumb.is_file():
            shutil.copyfile(thumb, faces / f"{g + 1}.jpg")
            pictured.add(g)
        rows.append({"person_id": g + 1, "video": rel, "track_id": tid, "first_s": d["first_s"],
                     "last_s": d["last_s"], "seconds": d["seconds"]})
    tmp = out / ".people.csv.part"
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=PEOPLE_COLUMNS)
        w.writeheader()
        w.writerows(sorted(rows, key=lambda r: (r["person_id"], rels.index(r["video"]), r["first_s"])))
    os.replace(tmp, out / "people.csv")
    return {"people": n_people, "index": str(out / "people.csv")}


def read_people(out: str | Path) -> list[dict]:
    """A batch's people index (``people.csv``) as records: ``person_id`` and ``track_id`` ints, times floats."""
    import csv
    p = Path(out) / "people.csv"
    try:
        with open(p, newline="") as fh:
            r = csv.DictReader(fh)
            if tuple(r.fieldnames or ()) != PEOPLE_COLUMNS:
                raise FacetrackError(f"{p} is not a people index (columns {', '.join(PEOPLE_COLUMNS)})")
            return [{"person_id": int(d["person_id"]), "video": d["video"], "track_id": int(d["track_id"]),
                     "first_s": float(d["first_s"]), "last_s": float(d["last_s"]), "seconds": float(d["seconds"])}
                    for d in r]
    except (OSError, ValueError, TypeError) as e:
        raise FacetrackError(f"cannot read the people index {p}: {e}") from None


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
    return bool(rec and outcome(rec) in ok and all(p.is_file() for p in output_paths(out, rel, o).values())
                and (not o.people or _people_file(out, rel).is_file()))


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
    if o.people:
        from .reid import available
        if o.track.reid is False or not available():
            raise FacetrackError("--people links people across videos by their faces' descriptors: it needs "
                                 "re-identification (pip install 'facetrack[reid]', and no --no-reid)")
        o.track.reid = True
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
    people = link_people(out, [rel for _, rel in items]) if o.people else {}
    return {"out": str(out), "videos": len(items), **counts, "frames": sum(r.get("frames", 0) for r in final.values()
            if r["status"] in ("done", "partial")), "seconds": round(time.time() - t0, 2), "manifest": str(manifest),
            **people}


def _video_record(job: Job, parts: list[dict], o: BatchOptions) -> dict:
    """Fold chunk records into one video record (merging the chunks' outputs when all are done)."""
    failed = [p for p in parts if p["status"] != "done"]
    whole = Job(job.source, job.rel)
    kw = dict(frames=sum(p["frames"] for p in parts), faces=sum(p["faces"] for p in parts),
              seconds=max(p["seconds"] for p in parts), chunks=len(parts))
    if failed:
        return manifest_record(whole, error=failed[0]["error"], **kw)
    try:
        return manifest_record(whole, "done", tracks=merge_chunks(job.rel, len(parts), o)["tracks"], **kw)
    except (OSError, ValueError, KeyError) as e:
        return manifest_record(whole, error=f"merging chunks failed: {e}", **kw)


class _Collector:
    """Job records in, video records out: a whole video's record goes straight to ``record``; a chunk's waits for
    its video's other chunks, then they are merged."""

    def __init__(self, jobs: dict[str, list[Job]], o: BatchOptions, record):
        self.jobs, self.o, self.record = jobs, o, record
        self.chunks: dict[str, list] = {rel: [None] * len(js) for rel, js in jobs.items()}

    def __call__(self, job: Job, rec: dict) -> None:
        if job.chunk < 0:
            self.record(rec)
            return
        got = self.chunks[job.rel]
        got[job.chunk] = rec
        if all(r is not None for r in got):
            self.record(_video_record(job, got, self.o))


def _worker_main(o: BatchOptions, conn) -> None:
    """A local worker process: jobs in through ``conn``, one at a time, records out; None ends it."""
    runner = JobRunner(o)
    try:
        while True:
            job = conn.recv()
            if job is None:
                break
            conn.send(runner.run(job))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        runner.close()


class _Worker:
    def __init__(self, ctx, o: BatchOptions):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(o, child), daemon=True)
        self.proc.start()
        child.close()
        self.job: Job | None = None

    def give(self, job: Job) -> None:
        self.job = job
        try:
            self.conn.send(job)
        except OSError:
            pass  # the worker is gone: the driver sees its process dead and runs the job again

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(timeout=30)
        if self.proc.is_alive():
            self.proc.kill()


def _run_local(todo, o: BatchOptions, record) -> None:
    """Worker processes fed one job at a time; a worker that dies has its job run again by a fresh worker (up to
    ``max_retries`` times), else the job fails with the worker's exit code."""
    import multiprocessing as mp
    from multiprocessing.connection import wait
    jobs = {rel: plan_jobs(src, rel, o.chunk_seconds) for src, rel in todo}
    queue = deque(j for _, rel in todo for j in jobs[rel])
    collect = _Collector(jobs, o, record)
    if not queue:
        return
    ctx = mp.get_context("spawn")
    tries: dict[tuple, int] = {}
    workers = [_Worker(ctx, o) for _ in range(min(o.workers or os.cpu_count() or 1, len(queue)))]
    for w in workers:
        if queue:
            w.give(queue.popleft())
    try:
        while any(w.job is not None for w in workers):
            busy = [w for w in workers if w.job is not None]
            wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
            for i, w in enumerate(workers):
                if w.job is None:
                    continue
                job = w.job
                if w.conn.poll():
                    try:
                        rec = w.conn.recv()
                    except (EOFError, OSError):
                        rec = None
                    if rec is not None:
                        w.job = None
                        collect(job, rec)
                        if queue:
                            w.give(queue.popleft())
                        continue
                if w.proc.is_alive():
                    continue
                # the worker died holding this job: its temporary files go, the job runs again or fails
                for p in _job_files(Path(o.out), job, o):
                    p.unlink(missing_ok=True)
                _running_marker(Path(o.out), job).unlink(missing_ok=True)
                key = (job.rel, job.chunk)
                tries[key] = tries.get(key, 0) + 1
                if tries[key] <= o.max_retries:
                    queue.appendleft(job)
                else:
                    collect(job, manifest_record(job, error=f"worker died (exit code {w.proc.exitcode})"))
                w.job = None
                if queue:  # a fresh worker in its place
                    w.proc.join(timeout=1)
                    w.conn.close()
                    workers[i] = _Worker(ctx, o)
                    workers[i].give(queue.popleft())
    finally:
        for w in workers:
            w.stop()


def _run_ray(todo, o: BatchOptions, record) -> None:
    """Ray actors (each a :class:`JobRunner`, its tracker loaded once), one job at a time each; an actor whose
    process dies is restarted and its job retried by Ray (``max_retries``)."""
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
        gpus = int(ray.cluster_resources().get("GPU", 0))
        if gpus:
            o.track.device = "cuda"
        actor = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_restarts=o.max_retries,
                           max_task_retries=o.max_retries)(JobRunner)
        jobs = {rel: plan_jobs(src, rel, o.chunk_seconds) for src, rel in todo}
        queue = deque(j for _, rel in todo for j in jobs[rel])
        collect = _Collector(jobs, o, record)
        n = min(o.workers or int(ray.cluster_resources().get("CPU", 1)), len(queue), gpus or len(queue))
        idle = [actor.remote(o) for _ in range(n)]
        inflight: dict = {}
        while queue or inflight:
            while idle and queue:
                a, j = idle.pop(), queue.popleft()
                inflight[a.run.remote(j)] = (a, j)
            ready, _ = ray.wait(list(inflight), num_returns=1)
            a, j = inflight.pop(ready[0])
            try:
                rec = ray.get(ready[0])
            except Exception as e:  # noqa: BLE001 - retries exhausted: the job fails, a fresh actor takes over
                for p in _job_files(Path(o.out), j, o):
                    p.unlink(missing_ok=True)
                _running_marker(Path(o.out), j).unlink(missing_ok=True)
                rec = manifest_record(j, error=f"task failed after retries: {type(e).__name__}")
                a = actor.remote(o)
            idle.append(a)
            collect(j, rec)
    finally:
        if started:
            ray.shutdown()

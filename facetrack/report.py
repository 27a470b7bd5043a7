"""A report to look at: ``facetrack report DIR`` (a batch output folder) or ``facetrack report CSV --video V``.

Writes ``report.html`` (the index: the people across the archive when ``batch --people`` made an index, and one line
per video) and one page per video in ``report/`` (a timeline of who is on screen; per ID its picture, time on screen,
blinks per minute, and head pose and eye and mouth openness over time). Every page is self-contained: pictures are
inline JPEG, plots inline SVG, no script and no network. Long videos are drawn from at most ``POINTS`` samples a
curve, so a page stays small whatever the length; a large archive is one short line per video on the index.
"""
from __future__ import annotations

import base64
import csv
import html
from pathlib import Path

import numpy as np

from .errors import FacetrackError

POINTS = 400          # samples a curve at most
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
STYLE = """body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:22px}h2{font-size:18px;margin-top:28px}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}
.face{width:64px;height:64px;border-radius:6px;object-fit:cover;background:#eee}.note{color:#666}
.id{display:flex;gap:18px;align-items:flex-start;margin:14px 0;padding:10px;border:1px solid #e4e4e4;border-radius:8px}
svg text{font:11px system-ui,sans-serif;fill:#555}"""


def _rows(path: Path) -> dict[int, dict[str, np.ndarray]]:
    """A facetrack CSV's per-ID series: time_s, frame, lm_score, yaw, pitch, roll, eye, mouth_open, blink, and the
    face's box (x0, y0, x1, y1)."""
    cols = ("time_s", "frame", "lm_score", "yaw", "pitch", "roll", "eye_open_left", "eye_open_right", "mouth_open",
            "blink", "box_x", "box_y", "box_w", "box_h")
    per: dict[int, list] = {}
    try:
        with open(path, newline="") as f:
            r = csv.DictReader(f)
            if "track_id" not in (r.fieldnames or []):
                raise FacetrackError(f"{path} is not a facetrack CSV (no track_id column)")
            for d in r:
                per.setdefault(int(d["track_id"]), []).append([float(d[c]) if d.get(c) not in (None, "") else np.nan
                                                               for c in cols])
    except (OSError, ValueError, KeyError) as e:
        raise FacetrackError(f"cannot read {path}: {e}") from None
    out = {}
    for tid, v in per.items():
        a = np.array(v, dtype=np.float64)
        s = {c: a[:, i] for i, c in enumerate(cols)}
        s["eye"] = np.nanmean(np.stack([s.pop("eye_open_left"), s.pop("eye_open_right")]), 0)
        x, y, w, h = (s.pop(c) for c in ("box_x", "box_y", "box_w", "box_h"))
        s["box"] = np.stack([x, y, x + w, y + h], 1)
        out[tid] = s
    return out


def _img(jpeg: bytes | None, cls: str = "face") -> str:
    if not jpeg:
        return f'<div class="{cls}"></div>'
    return f'<img class="{cls}" src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}">'


def _thumbs_from_video(video: str | None, series: dict[int, dict]) -> dict[int, bytes]:
    """Each ID's picture from the video: its face at the frame its landmarks scored best."""
    if not video or not Path(video).is_file():
        return {}
    import cv2

    from pipnet_model.geometry import crop_matrix, square_from_box, warp

    from .video import VideoSource
    best = {}  # ID -> (frame, box) where its landmarks scored best
    for tid, s in series.items():
        k = int(np.argmax(np.nan_to_num(s["lm_score"], nan=-1.0)))
        best[tid] = (int(s["frame"][k]), s["box"][k])
    todo = {f for f, _ in best.values()}
    out: dict[int, bytes] = {}
    try:
        with VideoSource(video) as src:
            for vf in src:
                if vf.index in todo:
                    for tid, (f, box) in best.items():
                        if f == vf.index:
                            cx, cy, side = square_from_box(box, 1.6)
                            crop = warp(vf.image, crop_matrix(cx, cy, side, 96), 96)
                            out[tid] = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
                    todo.discard(vf.index)
                if not todo:
                    break
    except FacetrackError:
        pass  # the pictures are a courtesy: a page without them still says everything else
    return out


def _svg_lines(t: np.ndarray, curves: list[tuple[str, np.ndarray, str]], lo: float, hi: float, t_end: float,
               w: int = 560, h: int = 90, unit: str = "") -> str:
    """Curves over time, downsampled to POINTS; gaps (NaN) break the line."""
    step = max(1, len(t) // POINTS)
    x = lambda v: 30 + (w - 40) * v / max(t_end, 1e-9)  # noqa: E731
    y = lambda v: 8 + (h - 20) * (1 - (np.clip(v, lo, hi) - lo) / max(hi - lo, 1e-9))  # noqa: E731
    parts = [f'<svg width="{w}" height="{h}" role="img"><rect x="30" y="8" width="{w - 40}" height="{h - 20}" '
             'fill="#fafafa" stroke="#ddd"/>',
             f'<text x="0" y="14">{hi:g}{unit}</text><text x="0" y="{h - 12}">{lo:g}{unit}</text>']
    for i, (name, v, color) in enumerate(curves):
        tt, vv = t[::step], v[::step]
        segs, cur = [], []
        for a, b in zip(tt, vv):
            if np.isfinite(b):
                cur.append(f"{x(a):.1f},{y(b):.1f}")
            elif cur:
                segs.append(cur)
                cur = []
        segs.append(cur)
        for sgm in segs:
            if len(sgm) > 1:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.2" points="{" ".join(sgm)}"/>')
        parts.append(f'<text x="{36 + 64 * i}" y="{h - 1}" style="fill:{color}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _timeline(series: dict[int, dict], labels: dict[int, str], t_end: float, w: int = 760) -> str:
    ids = sorted(series, key=lambda k: series[k]["time_s"][0])
    h = 18 * len(ids) + 24
    parts = [f'<svg width="{w}" height="{h}" role="img">']
    for r, tid in enumerate(ids):
        t = series[tid]["time_s"]
        y = 6 + 18 * r
        parts.append(f'<text x="0" y="{y + 11}">{html.escape(labels.get(tid, f"ID {tid}"))}</text>')
        gaps = np.where(np.diff(t) > 0.5)[0]  # a break of more than half a second: off screen
        starts, ends = np.r_[t[0], t[gaps + 1]], np.r_[t[gaps], t[-1]]
        for a, b in zip(starts, ends):
            x0, x1 = 110 + (w - 120) * a / max(t_end, 1e-9), 110 + (w - 120) * b / max(t_end, 1e-9)
            parts.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1.5):.1f}" height="12" rx="2" '
                         f'fill="{COLORS[r % len(COLORS)]}"/>')
    parts.append(f'<text x="110" y="{h - 2}">0 s</text><text x="{w - 40}" y="{h - 2}">{t_end:.0f} s</text></svg>')
    return "".join(parts)


def _on_screen(s: dict) -> float:
    """Seconds on screen: the gaps between an ID's rows, each at most half a second (longer: it was away)."""
    t = s["time_s"]
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.04
    return float(np.sum(np.minimum(np.diff(t), 0.5))) + step


def _blinks_per_min(s: dict) -> float:
    b = np.nan_to_num(s["blink"], nan=0.0) > 0.5
    onsets = int(np.sum(b[1:] & ~b[:-1]) + (b[0] if len(b) else 0))
    return 60.0 * onsets / max(_on_screen(s), 1e-9)


def video_page(title: str, csv_path: Path, video: str | None = None, people: dict[int, tuple[int, bytes | None]] | None = None,
               back: str | None = None) -> str:
    """One video's page: timeline, then per ID its picture, time on screen, blinks a minute and curves."""
    series = _rows(csv_path)
    people = people or {}
    thumbs = {tid: people[tid][1] for tid in series if tid in people and people[tid][1]}
    missing = {tid: s for tid, s in series.items() if tid not in thumbs}
    thumbs.update(_thumbs_from_video(video, missing))
    labels = {tid: (f"person {people[tid][0]}" if tid in people else f"ID {tid}") for tid in series}
    t_end = max((float(s["time_s"][-1]) for s in series.values()), default=0.0)
    body = [f"<h1>{html.escape(title)}</h1>"]
    if back:
        body.append(f'<p><a href="{back}">&larr; all videos</a></p>')
    if not series:
        body.append('<p class="note">No face was tracked in this video.</p>')
    else:
        body.append(f"<h2>Who is on screen</h2>{_timeline(series, labels, t_end)}")
        for tid in sorted(series, key=lambda k: series[k]["time_s"][0]):
            s = series[tid]
            on = _on_screen(s)
            body.append(
                f'<div class="id">{_img(thumbs.get(tid))}<div><b>{html.escape(labels[tid])}</b>'
                f'{"" if tid not in people else f" (ID {tid} in this video)"}<br>on screen {on:.1f} s, from '
                f'{s["time_s"][0]:.1f} to {s["time_s"][-1]:.1f} s; blinks {_blinks_per_min(s):.0f} a minute'
                f'<br>{_svg_lines(s["time_s"], [("yaw", s["yaw"], COLORS[0]), ("pitch", s["pitch"], COLORS[1]), ("roll", s["roll"], COLORS[2])], -60, 60, t_end, unit="°")}'
                f'<br>{_svg_lines(s["time_s"], [("eyes", s["eye"], COLORS[3]), ("mouth", s["mouth_open"], COLORS[4])], 0, 1, t_end)}'
                "</div></div>")
    return _page(title, "".join(body))


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")


def build_report(source: str | Path, video: str | None = None, out: str | Path | None = None) -> dict:
    """``source``: a batch output folder (its manifest, outputs and people index) or one facetrack CSV (``video``:
    the clip, for the pictures). ``out``: where report.html goes (default: the folder, or beside the CSV).
    Returns what was written and, for a folder without a people index, why there is none (``note``)."""
    src = Path(source)
    if src.is_file():
        dest = Path(out) if out else src.with_suffix(".report.html")
        dest.write_text(video_page(src.stem, src, video))
        return {"report": str(dest), "videos": 1}
    if not (src / "manifest.jsonl").is_file():
        raise FacetrackError(f"{src} is neither a facetrack CSV nor a batch output folder (no manifest.jsonl)")
    from .batch import read_manifest, read_people
    manifest = read_manifest(src)
    note = None
    index: list[dict] = []
    if (src / "people.csv").is_file():
        index = read_people(src)
    else:
        note = "no people index: the batch ran without --people (which needs facetrack[reid])"
    dest_dir = Path(out) if out else src
    pages = dest_dir / "report"
    pages.mkdir(parents=True, exist_ok=True)
    faces = {}
    for r in index:
        p = src / "people" / f"{r['person_id']}.jpg"
        faces[r["person_id"]] = p.read_bytes() if p.is_file() else None
    lines = []
    for rel, rec in manifest.items():
        csv_path = src / (rel + ".csv")
        status = rec.get("previous_status") if rec.get("status") == "skipped" else rec.get("status")
        if not csv_path.is_file():
            lines.append(f"<tr><td>{html.escape(rel)}</td><td colspan=3 class=note>{html.escape(str(status))}"
                         f"{': ' + html.escape(str(rec.get('error'))) if rec.get('error') else ''} (no CSV)</td></tr>")
            continue
        who = {r["track_id"]: (r["person_id"], faces.get(r["person_id"])) for r in index if r["video"] == rel}
        name = rel.replace("/", "__") + ".html"
        (pages / name).write_text(video_page(rel, csv_path, rec.get("input"), who, back="../report.html"))
        lines.append(f'<tr><td><a href="report/{name}">{html.escape(rel)}</a></td><td>{rec.get("frames", 0)} frames'
                     f'</td><td>{rec.get("tracks", 0)} IDs</td><td>{" ".join(_img(faces.get(p), "face") for p in sorted({w[0] for w in who.values()}))}</td></tr>')
    body = [f"<h1>{html.escape(src.name)}: {len(manifest)} videos</h1>"]
    if note:
        body.append(f'<p class="note">{html.escape(note)}</p>')
    if index:
        per: dict[int, dict] = {}
        for r in index:
            p = per.setdefault(r["person_id"], {"videos": [], "seconds": 0.0})
            p["seconds"] += r["seconds"]
            if r["video"] not in p["videos"]:
                p["videos"].append(r["video"])
        body.append("<h2>People</h2><table><tr><th></th><th>person</th><th>on screen</th><th>videos</th></tr>")
        for pid in sorted(per):
            vids = ", ".join(f'<a href="report/{v.replace("/", "__")}.html">{html.escape(v)}</a>' for v in per[pid]["videos"])
            body.append(f"<tr><td>{_img(faces.get(pid))}</td><td>person {pid}</td><td>{per[pid]['seconds']:.1f} s</td>"
                        f"<td>{vids}</td></tr>")
        body.append("</table>")
    body.append("<h2>Videos</h2><table>" + "".join(lines) + "</table>")
    (dest_dir / "report.html").write_text(_page(f"facetrack report: {src.name}", "".join(body)))
    return {"report": str(dest_dir / "report.html"), "videos": len(manifest), "people": len({r["person_id"] for r in index}),
            **({"note": note} if note else {})}

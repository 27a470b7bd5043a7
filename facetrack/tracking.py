"""Detection-to-track association (Hungarian on IoU), track life cycle and IDs.

A track is ``tentative`` until it has ``min_hits`` good frames, then ``confirmed``. A frame is good when its
landmarks look like a face (their score) of about the size its last detection says (``size_band``). A track is
removed when its landmarks have not been good for more than ``max_age`` frames, or when the detector has not seen
it in more than ``max_det_misses`` detection rounds in a row (a detector can miss a face for a while - turned,
small - while the landmarks still hold it). IDs count up from 1 and are never reused.

The tracker owns its tracks: the pipeline reports each frame's landmarks through ``observe`` and moves a box ahead
through ``lead`` (the crop policy's), and never writes into a ``Track``. It emits events (``pop_events``):
``started`` when a track is first reported (``report``), ``ended`` when a reported track is removed
(re-identification keeps the ended track's appearance).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipnet_model.geometry import landmark_box

from .types import TrackEvent


def linear_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost assignment of rows to columns of a finite (n, m) cost matrix: (rows, cols), rows ascending,
    min(n, m) pairs. The shortest-augmenting-path Hungarian method with potentials (O(n^2 m)), vectorised over
    columns; the same optimum as scipy's linear_sum_assignment (tested), without scipy for a handful of faces."""
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2 or not np.isfinite(c).all():
        raise ValueError("the cost matrix must be 2-D and finite")
    if c.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    flip = c.shape[0] > c.shape[1]
    if flip:
        c = c.T
    n, m = c.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    p = np.zeros(m + 1, np.int64)  # p[j]: the row (1-based) on column j, 0 when free; column 0 is the root
    way = np.zeros(m + 1, np.int64)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            free = ~used[1:]
            cur = c[i0 - 1] - u[i0] - v[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            cand = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(cand)) + 1
            delta = cand[j1 - 1]
            done = np.nonzero(used)[0]
            u[p[done]] += delta
            v[done] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:  # flip the augmenting path
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    cols = np.nonzero(p[1:])[0]
    rows = p[1:][cols] - 1
    if flip:
        rows, cols = cols, rows
    order = np.argsort(rows)
    return rows[order], cols[order]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (K, 4) with every box in b (M, 4), boxes as (x0, y0, x1, y1)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def associate(track_boxes: np.ndarray, det_boxes: np.ndarray, iou_threshold: float = 0.3
              ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Hungarian assignment maximising IoU. -> (matches (track, det), unmatched tracks, unmatched detections)."""
    nt, nd = len(track_boxes), len(det_boxes)
    if nt == 0 or nd == 0:
        return [], list(range(nt)), list(range(nd))
    iou = iou_matrix(track_boxes, det_boxes)
    rows, cols = linear_assignment(-iou)
    matches = [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= iou_threshold]
    mt = {r for r, _ in matches}
    md = {c for _, c in matches}
    return matches, [i for i in range(nt) if i not in mt], [j for j in range(nd) if j not in md]


def _side(box) -> float:
    return float(max(box[2] - box[0], box[3] - box[1]))


@dataclass
class Track:
    track_id: int
    box: np.ndarray                 # where the face is expected next (landmark-box convention)
    det_score: float = float("nan")
    hits: int = 0                   # good frames
    misses: int = 0                 # consecutive frames whose landmarks did not look like a face
    det_misses: int = 0             # consecutive detection rounds without a matching detection
    state: str = "tentative"
    landmarks: np.ndarray | None = field(default=None, repr=False)
    scores: np.ndarray | None = field(default=None, repr=False)
    reported: bool = False          # has appeared in a frame's results (its "started" event was emitted)
    det_side: float = float("nan")  # side of the last detection that started or confirmed it
    det_ratio: float = float("nan")  # its landmark box side / det_side in its first good frame
    moved: float = float("inf")     # 1 - IoU of this frame's landmark box with the box it was cropped from
    box_source: str = "detection"   # what ``box`` comes from: "detection" (started or restarted) or "landmarks"


class Tracker:
    def __init__(self, iou_threshold: float = 0.3, min_hits: int = 2, max_age: int = 10, max_tracks: int = 10,
                 max_det_misses: int = 3, size_band: float = 0.6):
        self.iou_threshold, self.min_hits, self.max_age, self.max_tracks = iou_threshold, min_hits, max_age, max_tracks
        # detection runs that found more new faces than max_tracks left room for, and the most left out by one
        self.over_limit_runs = self.over_limit_most = 0
        self.max_det_misses = max_det_misses
        self.size_band = size_band  # landmark box side / last detection's side outside [band, 1/band]: not good
        self.tracks: list[Track] = []
        self._next_id = 1
        self.index = 0                  # the current frame (set by begin_frame), stamped on events
        self._events: list[TrackEvent] = []

    def begin_frame(self, index: int) -> None:
        self.index = index

    def pop_events(self) -> list[TrackEvent]:
        ev, self._events = self._events, []
        return ev

    def report(self, track: Track) -> None:
        """The track appears in this frame's results: its first time emits ``started``."""
        if not track.reported:
            track.reported = True
            self._events.append(TrackEvent("started", track.track_id, self.index))

    def _remove(self, gone: list[Track]) -> list[Track]:
        self.tracks = [t for t in self.tracks if t not in gone]
        for t in gone:
            t.state = "deleted"
            if t.reported:
                self._events.append(TrackEvent("ended", t.track_id, self.index))
        return gone

    def end_all(self) -> list[Track]:
        """The video ended: every track ends (emits ``ended`` for the reported ones)."""
        return self._remove(list(self.tracks))

    def end(self, tracks: list[Track]) -> list[Track]:
        """These tracks end now (their face became someone else's: emits ``ended`` for the reported ones)."""
        return self._remove(list(tracks))

    def update_with_detections(self, boxes: np.ndarray, scores: np.ndarray, new_min_score: float = 0.0,
                               reach: float = 0.0) -> list[Track]:
        """Match detections to tracks; a matched track keeps the box of its own landmarks while they are good
        (the detection confirms it) and takes the detection's box otherwise; new tracks for the unmatched
        detections scoring at least ``new_min_score`` (best first, up to max_tracks): as in ByteTrack, a weak
        detection may confirm a face already tracked but not start a new one. ``reach``: the smallest face the
        detector could have found this round (``Detector.last_reach``); an unmatched track smaller than that was not
        looked for, and the round is not counted against it (a video call's small faces, which only a sweep of the
        far-face detector sees, live on between sweeps by their landmarks). Returns the new tracks."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        matches, um_t, um_d = associate(np.array([t.box for t in self.tracks]).reshape(-1, 4), boxes, self.iou_threshold)
        for ti, di in matches:
            t = self.tracks[ti]
            t.det_score, t.det_misses, t.det_side = float(scores[di]), 0, _side(boxes[di])
            if t.misses > 0 or t.landmarks is None:
                t.box, t.box_source = boxes[di].copy(), "detection"  # its landmarks are not trusted: restart from it
            # else: the box from its last landmarks is the tighter crop; the detection only confirms the track
        for ti in um_t:
            if _side(self.tracks[ti].box) >= reach:
                self.tracks[ti].det_misses += 1
        new = []
        left_out = 0
        for di in sorted(um_d, key=lambda j: -scores[j]):
            if scores[di] < new_min_score:
                continue
            # a detection overlapping an existing track a lot is that track's double, not a new face
            if self.tracks and iou_matrix(boxes[di], np.array([t.box for t in self.tracks])).max() > 0.5:
                continue
            if len(self.tracks) >= self.max_tracks:
                left_out += 1  # a face the limit keeps out: counted, never silent
                continue
            t = Track(self._next_id, boxes[di].copy(), float(scores[di]), det_side=_side(boxes[di]))
            self._next_id += 1
            self.tracks.append(t)
            new.append(t)
        if left_out:
            self.over_limit_runs += 1
            self.over_limit_most = max(self.over_limit_most, left_out)
        return new

    def observe(self, track: Track, landmarks: np.ndarray, scores: np.ndarray, good: bool) -> bool:
        """One frame's landmarks for a track: kept, counted as a hit or a miss; while they are good the track's
        box follows them (their box). Returns whether they counted as good. Good also means a size within ``size_band`` of what the detection
        that last confirmed the track says (its side times the landmark/detection size ratio of the track's first
        frame): a crop that keeps following its own landmarks can otherwise collapse onto a shrinking patch (seen
        on hamilton with the 2026-12-01 model: 62 -> 13 px in 13 frames, each frame's landmarks a face-like guess)."""
        track.landmarks, track.scores = landmarks, scores
        box = np.asarray(landmark_box(landmarks), dtype=np.float64)
        track.moved = 1.0 - float(iou_matrix(track.box, box)[0, 0])
        if good and np.isfinite(track.det_side):
            if np.isnan(track.det_ratio):  # how this face's landmark box compares with its detector's boxes
                track.det_ratio = _side(box) / track.det_side
            expect = track.det_ratio * track.det_side  # the size the last detection says the face has
            good = self.size_band <= _side(box) / expect <= 1.0 / self.size_band
        self.mark(track, good)
        if good:
            track.box, track.box_source = box, "landmarks"
        return good

    def lead(self, track: Track, shift: np.ndarray) -> None:
        """Move a track's box ahead by ``shift`` (x0, y0, x1, y1 pixels): the crop policy leads a moving head."""
        track.box = track.box + shift

    def mark(self, track: Track, good: bool) -> None:
        """Record one frame's landmark quality for a track."""
        if good:
            track.hits += 1
            track.misses = 0
            if track.state == "tentative" and track.hits >= self.min_hits:
                track.state = "confirmed"
        else:
            track.misses += 1

    def prune(self) -> list[Track]:
        """Drop tracks without support (see the module docstring; tentative ones at their second bad frame or
        first detection round without them); returns the removed tracks."""
        gone = [t for t in self.tracks if t.misses > self.max_age or t.det_misses > self.max_det_misses
                or (t.state == "tentative" and (t.misses >= 2 or t.det_misses >= 1))]
        return self._remove(gone)

    def suppress_duplicates(self, iou: float = 0.6, jump: float = 0.1) -> list[Track]:
        """Two tracks that converged on one face: the one that jumped onto it goes (its landmark box moved more
        than ``jump`` (1 - IoU) further from its crop than the other's did: a face hidden by a passer-by in front
        whose crop slid onto the passer-by's face), else the younger (larger id). Keeping the older regardless gave
        the hidden person's ID to the passer-by on the identity benchmark's ``cross`` clips."""
        gone: list[Track] = []
        ts = sorted(self.tracks, key=lambda t: t.track_id)
        for i, a in enumerate(ts):
            for b in ts[i + 1:]:
                if a in gone:
                    break
                if b not in gone and iou_matrix(a.box, b.box)[0, 0] > iou:
                    gone.append(a if a.moved > b.moved + jump else b)
        return self._remove(gone)

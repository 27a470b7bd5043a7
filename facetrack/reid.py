"""Re-identification: a person who comes back gets their ID back.

An analyser stage, on by default when the ``reid`` extra is installed (dlib from ``dlib-bin``, the model from
``face_recognition_models``; without it the IDs are the tracker's own and a returning person gets a new one).
A face is described by dlib's ResNet face descriptor (128 numbers) computed from facetrack's own 68 landmarks at
its first good view and every ``refresh_s`` seconds of video after (10: dlib's descriptor costs ~80 ms), never every
frame. A good view: mean landmark score >= ``min_quality``, head turned at most ``max_yaw`` degrees (profiles give unreliable descriptors) and the
face wholly inside the frame (a face entering at the edge is half a face). A track that ends after being seen well
for ``min_seen_s`` is remembered (its descriptors: the first good view's and the latest refresh, ``views`` at most)
for ``memory_s`` seconds of video. A young track (first ``decide_s`` seconds) takes back the ID of a remembered one
when, at a good view, the nearest remembered descriptor is within ``threshold`` (Euclidean; dlib's own same-person
rule is 0.6) and at least ``margin`` nearer than the next identity's; without a match it looks again at a later
good view (every ``retry_s``, ``tries`` views at most: a person coming back often turns to the camera a moment
later); its first frames may carry its own number until then. Only IDs of tracks that ended can be taken, so two people on
screen at once never share one; output IDs are the tracker's own numbers (never reused), so a returned ID cannot
collide with a new one. The pipeline keeps each track's ID on its ``FaceTrack`` (``person``) and translates the
tracker's events and the per-track counts (blinks) into these IDs, so rows, events and the summary carry one set.
Measured with ``benchmarks/identity.py`` (docs/tracking.md).

Chunks of ``facetrack batch --chunk-seconds`` run apart, each with its own re-identifier; each keeps the views of
every identity it described (:meth:`ReIdentifier.identities`), and after the chunks the same rule links an ID begun
in a later chunk to an earlier chunk's (:func:`link_across_chunks`). In a later chunk a young track takes its looks
even with nobody remembered there (``unseen_past``): its first view may be of a face still half hidden.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import FacetrackError
from .interfaces import Analyser
from .types import Face


def descriptor_model_path() -> Path:
    from .peers import face_recognition_model
    return face_recognition_model("dlib_face_recognition_resnet_model_v1.dat", extra="reid")


def available() -> bool:
    try:
        import dlib  # noqa: F401
        descriptor_model_path()
        return True
    except (ImportError, FacetrackError):
        return False


THRESHOLD, MARGIN, MEMORY_S, MIN_SEEN_S = 0.6, 0.04, 60.0, 0.75  # the matching rule's defaults (module docstring)
# a face that changed at once is someone else when its next good view is this far from all the track's own views:
# above the farthest views of one person seen inside a video (0.72, the identity benchmark's missed returns; a singer
# moving fast on hamilton 0.66), below the same-place cuts between two people (0.79-0.99 on 7 of 8 clips; 0.70 on one)
CHANGED = 0.75


def nearest_clear(views: list, gallery: dict[int, list], threshold: float, margin: float) -> int | None:
    """The identity of ``gallery`` (ID -> descriptors) that ``views`` belong to: the nearest (by the closest pair of
    descriptors), if within ``threshold`` and nearer than any other by ``margin``; else None."""
    dists = sorted((min(float(np.linalg.norm(np.asarray(a) - np.asarray(b))) for a in g for b in views), ident)
                   for ident, g in gallery.items())
    if dists and dists[0][0] < threshold and (len(dists) == 1 or dists[1][0] - dists[0][0] >= margin):
        return dists[0][1]
    return None


class Seen:
    """One track as the re-identifier sees it (its state on the track): the identity its rows carry, when it was
    first reported and first described, its views (descriptors) and when they were computed, when last seen, and
    while it is young and still looking for an identity, the views compared so far (``looks``)."""

    def __init__(self, track_id: int):
        self.track_id = track_id
        self.identity: int | None = None
        self.born = self.first_good = self.at = self.last = float("nan")
        self.views: list | None = None  # None until its first good view
        self.looks: int | None = None
        self.thumb: np.ndarray | None = None  # its best described view's crop (``thumb_q``: that view's mean score)
        self.thumb_q = -1.0
        self.doubt_until = float("nan")  # until then its next good view is compared with its own (:meth:`doubt`)
        self.doubted_at = float("-inf")
        self.changed = False  # that view was someone else's: the pipeline ends the track


class ReIdentifier(Analyser):
    """Gives each track the identity of the person it is (see the module docstring): the identification step, run
    after the other analysers (it reads the head pose); per-track state: :class:`Seen`."""

    def __init__(self, threshold: float = THRESHOLD, margin: float = MARGIN, memory_s: float = MEMORY_S,
                 refresh_s: float = 10.0, min_quality: float = 0.45, decide_s: float = 1.0, max_yaw: float = 53.0,
                 min_seen_s: float = MIN_SEEN_S, views: int = 3, tries: int = 3, retry_s: float = 0.25,
                 change_threshold: float = CHANGED):
        try:
            import dlib
        except ImportError:
            raise FacetrackError("re-identification needs: pip install 'facetrack[reid]' (dlib-bin, "
                                 "face_recognition_models)") from None
        self.dlib = dlib
        self.model = dlib.face_recognition_model_v1(str(descriptor_model_path()))
        self.threshold, self.margin, self.memory_s, self.refresh_s = threshold, margin, memory_s, refresh_s
        self.min_quality = min_quality  # mean landmark score a face needs to be described (profiles, blur: not)
        self.decide_s = decide_s  # a young track may still take an ended identity back at its first good view
        # degrees of head turn (the head-pose analyser's calibrated yaw) beyond which no descriptor: 53 is the 45
        # chosen on hamilton before the yaw calibration (x1.19); left at 45 it cost 4 of 63 returns (docs/tracking.md)
        self.max_yaw = max_yaw
        self.min_seen_s = min_seen_s  # a track is remembered only after this long since its first good view
        self.views, self.tries, self.retry_s = views, tries, retry_s
        # a later chunk of `batch --chunk-seconds`: people may come back from chunks this run never saw, so a young
        # track takes its looks even with nobody remembered here (the views go to the linking afterwards)
        self.unseen_past = False
        self.change_threshold = change_threshold  # a doubted track's view this far from all its own: someone else
        self.reset()

    def reset(self) -> None:
        self.on_screen: dict[int, Seen] = {}               # track number -> its state, from its first frame to its end
        self.memory: dict[int, tuple[list, float]] = {}    # identity -> (descriptors, ended at)
        self.returns = 0
        self.descriptors = 0
        self.changes = 0
        self.described: dict[int, tuple[list, float, float]] = {}  # identity -> (views, first good view, last seen)

    def start(self, track_id: int) -> Seen:
        return Seen(track_id)

    def describe(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        d = self.dlib
        p = np.asarray(landmarks, dtype=np.float64)
        (x0, y0), (x1, y1) = p.min(0), p.max(0)
        shape = d.full_object_detection(d.rectangle(int(x0), int(y0), int(x1), int(y1)),
                                        [d.point(int(round(x)), int(round(y))) for x, y in p])
        self.descriptors += 1
        return np.array(self.model.compute_face_descriptor(np.ascontiguousarray(frame[..., ::-1]), shape))

    def doubt(self, state: Seen, time_s: float, for_s: float = 1.0) -> None:
        """What is in the track's box changed all over at once (:func:`facetrack.cuts.face_changed`: a cut from one
        person to another at the same place, or a face that moved fast or was hidden): at its next good view within
        ``for_s`` seconds it is described and compared with its own views; ``change_threshold`` (0.75) or farther
        from all of them, it is someone else (``changed``): the pipeline ends the track and the face starts a new
        one. At most one doubt a ``for_s`` per track (a face moving fast changes its box every frame)."""
        if self.doubts(state, time_s, for_s):
            state.doubt_until, state.doubted_at = time_s + for_s, time_s

    def doubts(self, state: Seen, time_s: float, for_s: float = 1.0) -> bool:
        """A described track not looked at again in the last ``for_s`` seconds."""
        return state.views is not None and time_s - state.doubted_at >= for_s

    def changed(self, state: Seen) -> bool:
        return state.changed

    def _good(self, face: Face, frame: np.ndarray) -> bool:
        """A view worth describing: landmarks scored well and the face wholly inside the frame (a face entering at
        the edge gives a descriptor of half a face: on the identity benchmark, returns by the frame's edge were
        missed until this rule)."""
        if float(np.mean(face.scores)) < self.min_quality:
            return False
        if np.isfinite(face.yaw) and abs(face.yaw) > self.max_yaw:
            return False  # a profile: its descriptor is unreliable (on hamilton one matched the back of a head)
        p = np.asarray(face.landmarks)
        h, w = frame.shape[:2]
        m = 0.02 * max(np.ptp(p[:, 0]), np.ptp(p[:, 1]))
        return bool(p[:, 0].min() >= m and p[:, 1].min() >= m and p[:, 0].max() <= w - 1 - m and p[:, 1].max() <= h - 1 - m)

    def _candidates(self, time_s: float) -> list[int]:
        """Identities a new track could take back: remembered, ended within ``memory_s``, not on screen now."""
        present = {s.identity for s in self.on_screen.values()}
        return [ident for ident, (_, ended) in self.memory.items()
                if ident not in present and time_s - ended <= self.memory_s]

    def _match(self, desc: np.ndarray, candidates: list[int]) -> int | None:
        """The ended identity (of ``candidates``) this descriptor belongs to (:func:`nearest_clear`)."""
        return nearest_clear([desc], {ident: self.memory[ident][0] for ident in candidates}, self.threshold,
                             self.margin)

    def __call__(self, face: Face, state: Seen | None = None, frame=None, time_s: float = 0.0) -> Face:
        if len(face.landmarks) != 68 or frame is None or state is None:
            return face
        s = state
        good = self._good(face, frame)
        if s.identity is None:
            s.identity, s.born = s.track_id, time_s
            self.on_screen[s.track_id] = s
        if good and s.views is not None and s.doubt_until >= time_s:
            desc = self.describe(frame, face.landmarks)
            s.doubt_until = float("nan")
            if min(float(np.linalg.norm(desc - v)) for v in s.views) >= self.change_threshold:
                s.changed = True
                self.changes += 1
                face.track_id = s.identity
                return face
            s.views, s.at = self._keep([*s.views, desc]), time_s  # still them: a fresh view
        if s.views is None:
            if good:  # first good view: described, and while the track is young, matched against the ended ones
                desc = self.describe(frame, face.landmarks)
                s.first_good, s.views, s.at = time_s, [desc], time_s
                self._thumb(s, face, frame)
                self._try_return(s, desc, time_s)
        else:
            young = s.looks is not None and time_s - s.born <= self.decide_s
            if good and (time_s - s.at >= self.refresh_s or (young and time_s - s.at >= self.retry_s)):
                desc, s.at = self.describe(frame, face.landmarks), time_s
                s.views = self._keep([*s.views, desc])
                self._thumb(s, face, frame)
                if young:
                    self._try_return(s, desc, time_s)
        s.last = time_s
        face.track_id = s.identity
        return face

    @staticmethod
    def _thumb(s: Seen, face: Face, frame: np.ndarray, side: int = 112) -> None:
        """Keep the crop of a described view (1.6x its landmark box, ``side`` pixels square) when it scored best."""
        q = float(np.mean(face.scores))
        if q <= s.thumb_q:
            return
        from pipnet_model.geometry import crop_matrix, square_from_box, warp
        cx, cy, size = square_from_box(face.box, 1.6)
        s.thumb, s.thumb_q = warp(frame, crop_matrix(cx, cy, size, side), side), q

    @staticmethod
    def _note(described: dict, s: Seen) -> None:
        """A track's identity into ``described``: its latest views, earliest good view, last time seen, best crop."""
        ident, views, first, last, thumb, q = s.identity, s.views, s.first_good, s.last, s.thumb, s.thumb_q
        if ident in described:
            old = described[ident]
            first = min(first, old[1])
            if old[4] > q:
                thumb, q = old[3], old[4]
        described[ident] = (views, first, last, thumb, q)

    def identities(self) -> dict[int, dict]:
        """Every identity described in this run (ended tracks and those still on screen): its views (descriptors
        as lists), first good view and last seen (seconds of video), and its best view's quality (mean landmark
        score of the view :meth:`thumbnails` gives). ``facetrack batch`` keeps them per chunk to link identities
        across chunks (:func:`link_across_chunks`) and per video for the people index."""
        return {ident: {"views": [np.asarray(v).round(5).tolist() for v in views], "first_s": first, "last_s": last,
                        "quality": round(float(q), 4)}
                for ident, (views, first, last, _, q) in self._described_now().items()}

    def thumbnails(self) -> dict[int, np.ndarray]:
        """Every described identity's best view (a BGR crop), ended tracks and those on screen."""
        return {ident: v[3] for ident, v in self._described_now().items() if v[3] is not None}

    def _described_now(self) -> dict:
        """``described`` with the tracks still on screen noted in."""
        out = dict(self.described)
        for s in self.on_screen.values():
            if s.views is not None:
                self._note(out, s)
        return out

    def _keep(self, views: list) -> list:
        """The first view and the latest ones, ``views`` in all."""
        return views if len(views) <= self.views else [views[0], *views[len(views) - self.views + 1:]]

    def _try_return(self, s: Seen, desc: np.ndarray, time_s: float) -> None:
        """A young track's view against the remembered identities; another try later while it has tries left."""
        looked, s.looks = s.looks or 0, None
        candidates = self._candidates(time_s)
        if time_s - s.born > self.decide_s or not (candidates or self.unseen_past):
            return  # nobody to come back as: no other look
        best = self._match(desc, candidates)
        if best is not None:
            old = self.memory.pop(best)[0]
            s.views = self._keep([old[0], *s.views])  # the person's first view stays with them
            self.returns += 1
            s.identity = best
            return
        if looked + 1 < self.tries:
            s.looks = looked + 1

    def end(self, state: Seen) -> None:
        """The track ended: its identity is noted with its views and remembered when it was seen well for
        ``min_seen_s`` (a short track is too often not a face: on hamilton a 0.6 s track on the back of a head,
        remembered, later took a woman's new track); memories older than ``memory_s`` go."""
        s = state
        if self.on_screen.pop(s.track_id, None) is None:
            return  # never reported
        if s.views is not None:
            self._note(self.described, s)
            if s.last - s.first_good >= self.min_seen_s:
                self.memory[s.identity] = (s.views, s.last)
            self.memory = {k: v for k, v in self.memory.items() if s.last - v[1] <= self.memory_s}

    def summary(self, people: dict[int, list]) -> dict:
        return {"reid": {"returns": self.returns, "descriptors": self.descriptors, "changes": self.changes}}


def link_across_chunks(spans: dict[int, tuple[float, float]], views: dict[int, list], seen: dict[int, float],
                       new: list[int], threshold: float = THRESHOLD, margin: float = MARGIN,
                       memory_s: float = MEMORY_S, min_seen_s: float = MIN_SEEN_S) -> dict[int, int]:
    """Identities of a chunked video (``facetrack batch --chunk-seconds``) that are one person: chunks run apart,
    each with its own re-identifier, so a person who leaves in one chunk and comes back in a later one gets two
    IDs; this links them afterwards with the rule a chunk uses inside itself.

    ``spans``: ID -> (first, last) time on screen in the whole video (seconds); ``views``: ID -> descriptors;
    ``seen``: ID -> seconds seen well (only IDs seen well for ``min_seen_s`` are remembered); ``new``: IDs that began
    inside a later chunk (not continued across a chunk border), the ones that may take an earlier ID. In order of
    their first time, each takes the ID whose time on screen ended before it began (at most ``memory_s`` before)
    and whose nearest descriptor is within ``threshold`` and ``margin`` nearer than any other ID's. Returns
    {new ID: earlier ID}; an ID taken back spans both times after, so two people on screen at once never share one.
    """
    spans = {k: tuple(v) for k, v in spans.items()}
    links: dict[int, int] = {}
    for nid in sorted(new, key=lambda k: spans[k][0]):
        if not views.get(nid):
            continue
        t0 = spans[nid][0]
        cands = {k: views[k] for k in spans if k != nid and k not in links and views.get(k)
                 and seen.get(k, 0.0) >= min_seen_s and spans[k][1] < t0 and t0 - spans[k][1] <= memory_s}
        old = nearest_clear(views[nid], cands, threshold, margin)
        if old is not None:
            links[nid] = old
            spans[old] = (spans[old][0], max(spans[old][1], spans[nid][1]))
            views[old] = [*views[old], *views[nid]]
            seen[old] = seen.get(old, 0.0) + seen.get(nid, 0.0)
            del spans[nid]
    return links

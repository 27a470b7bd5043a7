"""The live-source policy: a one-slot "latest frame" hand-over, drop counts and latency stamps.

A camera or a network stream does not wait for us. Its reader thread must never block, or the backlog piles up
upstream (driver buffers, the socket) and the user watches the past. So a live source hands frames over through
:class:`LatestSlot`: the reader always replaces what it left there, and a frame replaced before the pipeline took
it is dropped and counted. Files are not live: they go through a bounded queue and never drop a frame (unless
played with ``realtime``, which makes a file behave like a camera). Every frame is stamped with the monotonic time
the reader got it (``VideoFrame.read_at``); :class:`LatencyStats` turns the stamps into p50/p95/max.
"""
from __future__ import annotations

import queue
import threading
import time
from array import array

import numpy as np


class LatestSlot:
    """A one-item hand-over whose ``put`` never blocks: an item still waiting is replaced (and counted in
    ``dropped`` when it was a frame). ``get(timeout)`` raises ``queue.Empty`` like ``queue.Queue.get``."""

    def __init__(self, is_frame=lambda item: True):
        self._cv = threading.Condition()
        self._item = None
        self._full = False
        self._is_frame = is_frame
        self.dropped = 0

    def put(self, item, timeout: float | None = None) -> None:
        with self._cv:
            if self._full and self._is_frame(self._item):
                self.dropped += 1
            self._item, self._full = item, True
            self._cv.notify()

    def get(self, timeout: float | None = None):
        with self._cv:
            if not self._cv.wait_for(lambda: self._full, timeout):
                raise queue.Empty
            item, self._item, self._full = self._item, None, False
            return item

    def get_nowait(self):
        return self.get(0)


class Pacer:
    """Plays frames at their own timestamps (``speed`` x real time) from the first one on: the reader sleeps
    (``stop.wait``) until each frame is due, as a camera would deliver it. ``clock``: seconds, monotonic (tests pass
    their own, with a ``stop`` whose ``wait`` moves it on)."""

    def __init__(self, speed: float = 1.0, clock=time.monotonic):
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.speed, self.t0, self.first, self.clock = speed, None, 0.0, clock

    def wait(self, time_s: float, stop: threading.Event) -> None:
        now = self.clock()
        if self.t0 is None:
            self.t0, self.first = now, time_s
            return
        due = self.t0 + (time_s - self.first) / self.speed
        if due > now:
            stop.wait(due - now)


class LatencyStats:
    """Seconds from a frame's read to its result, kept compactly (8 bytes a frame). ``clock``: the source's (the one
    that stamped ``read_at``); ``since(read_at)`` adds the time from that stamp to now."""

    def __init__(self, clock=time.monotonic):
        self.values = array("d")
        self.clock = clock

    def add(self, seconds: float) -> None:
        self.values.append(seconds)

    def since(self, read_at: float) -> None:
        self.add(self.clock() - read_at)

    def summary(self) -> dict | None:
        if not self.values:
            return None
        v = np.frombuffer(self.values, dtype=np.float64)
        ms = [float(np.percentile(v, 50)), float(np.percentile(v, 95)), float(v.max())]
        return {k: round(x * 1000, 1) for k, x in zip(("p50", "p95", "max"), ms)}

"""A small progress reporter: rate and ETA on stderr (redrawn on a terminal, a line every few seconds otherwise)."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int | None, label: str = "", unit: str = "it", every_s: float = 10.0, stream=None):
        self.total, self.label, self.unit, self.every_s = total, label, unit, every_s
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = self.last = time.perf_counter()
        self.n = 0

    def update(self, k: int = 1, **info) -> None:
        self.n += k
        now = time.perf_counter()
        if now - self.last < (0.2 if self.tty else self.every_s) and (self.total is None or self.n < self.total):
            return
        self.last = now
        self.stream.write(("\r" if self.tty else "") + self.line(**info) + ("" if self.tty else "\n"))
        self.stream.flush()

    def line(self, **info) -> str:
        dt = max(time.perf_counter() - self.t0, 1e-9)
        rate = self.n / dt
        parts = [self.label, f"{self.n}" + (f"/{self.total}" if self.total else ""), f"{rate:.1f} {self.unit}/s"]
        if self.total and rate > 0:
            parts.append(f"ETA {int((self.total - self.n) / rate)}s")
        parts += [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items()]
        return " | ".join(p for p in parts if p)

    def close(self, **info) -> None:
        if self.tty:
            self.stream.write("\r" + self.line(**info) + "\n")
            self.stream.flush()

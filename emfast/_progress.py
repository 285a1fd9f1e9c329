"""Progress of long fits: the ``callback`` parameter and verbose progress lines.

The kernels report progress from the calling thread (csrc/parallel.hpp): the
share of a pass done, at most every half second, and each step of the
k-means initialisation. ``Progress`` turns those reports and the EM loop's
iterations into calls of the user's ``callback(info)`` and, for verbose fits
that take more than a second, lines in the style of scikit-learn's verbose
output. Reports go to the ``Progress`` active in the calling thread.
"""

import threading
import time

from ._native import core

_active = threading.local()

# a verbose fit stays quiet this long, then prints progress at most this often
_QUIET_SECONDS = 0.5
_PRINT_EVERY = 2.0


def notify(stage, done, total):
    """The kernels' progress hook (called with the GIL held)."""
    reporter = getattr(_active, "reporter", None)
    if reporter is not None:
        reporter.report(stage, done, total)


_listeners = {"count": 0}
_listeners_lock = threading.Lock()


def _listen(change):
    """Count the active Progress objects; the kernels report only while there are some."""
    with _listeners_lock:
        _listeners["count"] += change
        core.set_progress_hook(notify if _listeners["count"] else None)


class Progress:
    """One fit's progress reports (a context manager around the fit).

    ``callback(info)`` receives a dict: ``stage`` ('k-means++', 'lloyd',
    'pass' or 'em'), ``step`` and ``total`` (seeds, Lloyd or EM iterations,
    or the share of a pass's blocks done), ``init`` (the initialisation),
    ``lower_bound`` (EM iterations), ``elapsed`` (seconds since the fit
    began) and ``rows_per_second`` (EM iterations and Lloyd steps).
    """

    def __init__(self, estimator, n_rows):
        self.callback = getattr(estimator, "callback", None)
        self.verbose = getattr(estimator, "verbose", 0)
        self.n_rows = n_rows
        self.init = 0
        self.start = self.last_step = time.perf_counter()
        self.last_print = None

    def __enter__(self):
        self.outer = getattr(_active, "reporter", None)
        _active.reporter = self
        self.listening = self.active
        if self.listening:
            _listen(+1)
        return self

    def __exit__(self, *exc):
        _active.reporter = self.outer
        if self.listening:
            _listen(-1)

    @property
    def active(self):
        return self.callback is not None or self.verbose > 0

    def _emit(self, stage, step, total, lower_bound=None, step_seconds=None):
        now = time.perf_counter()
        info = {
            "stage": stage, "step": step, "total": total, "init": self.init,
            "lower_bound": lower_bound, "elapsed": now - self.start,
            "rows_per_second": None if not step_seconds else self.n_rows / step_seconds,
        }
        if self.callback is not None:
            self.callback(info)
        return info

    def _due(self):
        """Whether a verbose fit should print a progress line now."""
        now = time.perf_counter()
        if self.verbose <= 0 or now - self.start < _QUIET_SECONDS:
            return False
        if self.last_print is not None and now - self.last_print < _PRINT_EVERY:
            return False
        self.last_print = now
        return True

    def report(self, stage, done, total):
        """A kernel's report: a k-means step or the share of a pass done."""
        now = time.perf_counter()
        seconds = now - self.last_step if stage == "lloyd" else None
        if stage in ("k-means++", "lloyd"):
            self.last_step = now
        if not self.active:
            return
        info = self._emit(stage, done, total, step_seconds=seconds)
        if self._due():
            what = f"pass {100 * done / max(total, 1):.0f}%" if stage == "pass" else f"{stage} {done}/{total}"
            rate = "" if seconds is None else f"\t {info['rows_per_second']:.3g} rows/s"
            print(f"  {what}\t time lapse {info['elapsed']:.5f}s{rate}", flush=True)

    def iteration(self, n_iter, max_iter, lower_bound, seconds):
        """An EM iteration; True if a verbose line should be printed for it
        although it is not on verbose_interval (the fit is slow)."""
        self.last_step = time.perf_counter()
        if self.active:
            self._emit("em", n_iter, max_iter, lower_bound, seconds)
        return self._due()

"""Load the kernels built for the best instruction set this CPU supports.

meson builds the SIMD kernels once per instruction set (``_kernels_baseline``,
``_kernels_avx2``, ``_kernels_avx512`` on x86-64) and everything else once
(``_core``). At import, the best variant this CPU runs is handed to ``_core``,
which calls its kernels. Setting the environment variable ``EMFAST_SIMD`` to
one of those names forces a variant (for tests and benchmarks); asking for one
the CPU cannot run is an error.
"""

import contextlib
import importlib
import os

# scikit-learn first: on macOS it sets KMP_DUPLICATE_LIB_OK, without which a second
# copy of the LLVM OpenMP runtime (emfast's wheel carries its own) aborts at load
import sklearn  # noqa: F401

from . import _build_info, _core  # noqa: E402

_REQUIRES = {
    "avx512": ("avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl"),
    "avx2": ("avx2", "fma"),
    "baseline": (),
}
_PREFERENCE = ("avx512", "avx2", "baseline")


def supported_variants():
    """The kernel variants built into this install that this CPU can run."""
    return [
        v
        for v in _PREFERENCE
        if v in _build_info.variants and all(_core.cpu_supports(f) for f in _REQUIRES[v])
    ]


def _choose():
    supported = supported_variants()
    forced = os.environ.get("EMFAST_SIMD", "").strip().lower()
    if forced:
        if forced not in supported:
            raise ImportError(
                f"EMFAST_SIMD={forced!r} is not available here; "
                f"this install and CPU support {supported}"
            )
        return forced
    return supported[0]


variant = _choose()
_core.use_kernels(importlib.import_module(f"emfast._kernels_{variant}").table)
core = _core


@contextlib.contextmanager
def using_variant(name):
    """Run _core on another built variant's kernels within the block (for tests)."""
    if name not in supported_variants():
        raise ValueError(f"kernel variant {name!r} is not available here")
    _core.use_kernels(importlib.import_module(f"emfast._kernels_{name}").table)
    try:
        yield _core
    finally:
        _core.use_kernels(importlib.import_module(f"emfast._kernels_{variant}").table)

"""Load the kernel module built for the best instruction set this CPU supports.

meson builds the same C++ kernels once per instruction set (``_core_baseline``,
``_core_avx2``, ``_core_avx512`` on x86-64). Setting the environment variable
``EMFAST_SIMD`` to one of those names forces a variant (for tests and
benchmarks); asking for one the CPU cannot run is an error.
"""

import importlib
import os

from . import _build_info

_REQUIRES = {
    "avx512": ("avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl"),
    "avx2": ("avx2", "fma"),
    "baseline": (),
}
_PREFERENCE = ("avx512", "avx2", "baseline")


def _load(name):
    return importlib.import_module(f"emfast._core_{name}")


def supported_variants():
    """The kernel variants built into this install that this CPU can run."""
    probe = _load("baseline")
    return [
        v
        for v in _PREFERENCE
        if v in _build_info.variants and all(probe.cpu_supports(f) for f in _REQUIRES[v])
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
core = _load(variant)

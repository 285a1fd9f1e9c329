"""Build and runtime configuration, printed by :func:`emfast.show_config`."""

import platform
import sys

from . import _build_info
from ._native import core, supported_variants, variant


def get_config():
    """Return the build and runtime configuration as a dict."""
    from threadpoolctl import threadpool_info

    return {
        "version": _build_info.version,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "compiler": _build_info.compiler,
        "buildtype": _build_info.buildtype,
        "sanitize": _build_info.sanitize,
        "openmp": bool(core.openmp),
        "threads": int(core.max_threads()),
        "simd": core.simd(),
        "simd_variant": variant,
        "simd_variants_built": list(_build_info.variants),
        "simd_variants_supported": supported_variants(),
        "openmp_runtimes": [
            f"{i['internal_api']} {i.get('version')} ({i['filepath']})"
            for i in threadpool_info()
            if i.get("user_api") == "openmp"
        ],
    }


def show_config():
    """Print the version, compiler, OpenMP, thread count and SIMD path in use."""
    cfg = get_config()
    width = max(len(k) for k in cfg)
    lines = ["emfast configuration"]
    for key, value in cfg.items():
        if isinstance(value, list):
            value = ", ".join(map(str, value)) or "-"
        lines.append(f"  {key:<{width}} : {value}")
    if not cfg["openmp"]:
        lines.append("  WARNING: built without OpenMP; every kernel runs on one thread.")
    print("\n".join(lines))

"""Build and runtime configuration, printed by :func:`emfast.show_config`."""

import platform
import sys

from . import _build_info
from ._native import core, supported_variants, variant


def get_config():
    """Return the build and runtime configuration as a dict.

    Returns
    -------
    config : dict
        ``version``, ``python``, ``platform``, ``compiler``, ``buildtype``,
        ``sanitize``, ``openmp`` (whether the kernels were built with
        OpenMP), ``threads`` (the number of threads a kernel would use now),
        ``simd`` and ``simd_variant`` (the instruction set of the kernels in
        use), ``simd_variants_built``, ``simd_variants_supported`` and
        ``openmp_runtimes`` (every OpenMP runtime loaded in the process, as
        threadpoolctl sees them).

    See Also
    --------
    show_config : Print the same information.

    Examples
    --------
    >>> import emfast
    >>> config = emfast.get_config()
    >>> config["version"] == emfast.__version__
    True
    """
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
    """Print the version, compiler, OpenMP, thread count and SIMD path in use.

    Include its output in bug reports. A build without OpenMP is flagged with
    a warning line.

    See Also
    --------
    get_config : The same information as a dict.

    Examples
    --------
    >>> import emfast
    >>> emfast.show_config()  # doctest: +ELLIPSIS
    emfast configuration
      version ...
    """
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

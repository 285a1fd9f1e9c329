"""Sphinx configuration: numpydoc docstrings, autosummary API pages, and a
sphinx-gallery gallery built from ../examples (run at every build)."""

import os
import warnings

import matplotlib

import emfast

matplotlib.use("Agg")

project = "emfast"
author = "the emfast developers"
copyright = "2026, the emfast developers"
version = release = emfast.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "requirements.txt", "auto_examples/*.ipynb", "auto_examples/*.py"]
default_role = "literal"
# the gallery's sort key is a function, which Sphinx cannot pickle into its cache
suppress_warnings = ["config.cache"]

# API reference: one page per public object (api.rst lists them)
autosummary_generate = True
numpydoc_show_class_members = False  # the class template lists the methods
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_static_path = ["_static"]
html_title = f"emfast {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False

# The gallery: every example runs at every build (small sizes, a few seconds each)
GALLERY_ORDER = [
    "plot_covariance_types.py",
    "plot_lower_bound.py",
    "plot_online_drift.py",
    "plot_ood.py",
    "plot_llp.py",
    "plot_benchmarks.py",
]


def gallery_order(filename):
    """The gallery's order: GALLERY_ORDER first, then any other example by name."""
    return (GALLERY_ORDER.index(filename), "") if filename in GALLERY_ORDER else (len(GALLERY_ORDER), filename)


sphinx_gallery_conf = {
    "within_subsection_order": gallery_order,
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py|/data/",
    "abort_on_example_error": True,
    "doc_module": ("emfast",),
    "backreferences_dir": os.path.join("generated", "backreferences"),
    "reference_url": {"emfast": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 0,
    "show_memory": False,
}

# matplotlib in the examples: no GUI, and no warning for non-interactive show()
warnings.filterwarnings("ignore", category=UserWarning, message=".*non-interactive.*")

"""fairpanel's version and the versions of the libraries its results depend on.

Every stored run and every report records :func:`library_versions`, so a number can be
traced to the code that computed it.
"""

from __future__ import annotations

__all__ = ["__version__", "library_versions"]

__version__ = "0.1.0"


def library_versions() -> dict[str, str]:
    """Return the versions of Python and the libraries results depend on."""
    # Imported here: ``import audits`` (and so ``fairpanel --help``) should not pay for them.
    import platform
    from importlib import metadata

    names = ("fairpanel", "numpy", "pandas", "scikit-learn", "fairlearn", "shap", "skops",
             "sqlalchemy", "streamlit")
    versions = {"python": platform.python_version()}
    for lib in names:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "not installed"
    return versions

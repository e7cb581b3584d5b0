"""Spark for the tests (imported by basename): a ``local[2]`` session, or a skip when
pyspark or Java is missing, turned into a failure by ``FAIRPANEL_REQUIRE_SPARK=1`` (set
by ``.ci/run``, so the Spark tests cannot pass there by being skipped)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

__all__ = ["require_spark", "spark_session"]

ENV_REQUIRE = "FAIRPANEL_REQUIRE_SPARK"


def require_spark() -> None:
    """Skip (or fail, under ``FAIRPANEL_REQUIRE_SPARK=1``) without pyspark and Java."""
    missing = []
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("pyspark")
    if shutil.which("java") is None:
        missing.append("Java (17 or later) on the PATH")
    if missing:
        message = f"Spark tests need {' and '.join(missing)}"
        if os.environ.get(ENV_REQUIRE) == "1":
            pytest.fail(f"{message} ({ENV_REQUIRE}=1)")
        pytest.skip(message)


@contextmanager
def spark_session() -> Iterator[Any]:
    """A ``local[2]`` session (no UI, two shuffle partitions), stopped afterwards."""
    require_spark()
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("fairpanel-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    try:
        yield session
    finally:
        session.stop()

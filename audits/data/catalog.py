"""The bundled datasets by name, as plain facts that need neither pandas nor the files.

The command line builds its argument choices and prints ``fairpanel datasets list`` from
this table, so both run before (and without) importing the data stack. The full registry,
with column roles, features and source hashes, is :data:`audits.data.datasets.BUNDLED`;
the two list the same datasets in the same order with the same facts (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOG", "DATASET_NAMES", "CatalogEntry"]


@dataclass(frozen=True)
class CatalogEntry:
    """What ``fairpanel datasets list`` says about one bundled dataset.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"adult"``.
    title : str
        One-line title.
    n_rows : int
        Rows :func:`~audits.data.datasets.load_dataset` returns by default.
    target : str
        The outcome column ``y_true``.
    sensitive_features : tuple of str
        The columns whose groups are audited.
    prediction, score : str or None
        The logged decision and score columns, when the data carries them.

    Examples
    --------
    >>> CATALOG["compas"].prediction
    'high_risk'
    """

    name: str
    title: str
    n_rows: int
    target: str
    sensitive_features: tuple[str, ...]
    prediction: str | None = None
    score: str | None = None


CATALOG: dict[str, CatalogEntry] = {
    "adult": CatalogEntry(
        name="adult", title="Adult census income (UCI)", n_rows=48842,
        target="income_over_50k", sensitive_features=("sex", "race"),
    ),
    "compas": CatalogEntry(
        name="compas", title="COMPAS two-year recidivism (ProPublica)", n_rows=6172,
        target="two_year_recid", sensitive_features=("race", "sex", "age_cat"),
        prediction="high_risk", score="decile_score",
    ),
    "german_credit": CatalogEntry(
        name="german_credit", title="German credit (UCI Statlog)", n_rows=1000,
        target="credit_good", sensitive_features=("sex", "age_group", "foreign_worker"),
    ),
    "synthetic": CatalogEntry(
        name="synthetic", title="Synthetic loan decisions with injected bias", n_rows=20000,
        target="repaid", sensitive_features=("group", "age_band"),
        prediction="approved", score="approval_score",
    ),
}

#: The bundled datasets' names, in registry order.
DATASET_NAMES: tuple[str, ...] = tuple(CATALOG)

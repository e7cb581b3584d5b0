"""Bundled datasets, the synthetic loan generator, and user files -> frame + roles + card.

Loading never touches the network: the bundled files ship in ``datasets/`` beside this
package (or inside the installed wheel), each with a card that states its source, licence,
rows, target, sensitive features and known issues.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from audits.data.schema import MSG_NON_BINARY, ColumnRoles, DataValidationError, validate_frame
from audits.data.synthetic import SyntheticBias, make_synthetic_loans

__all__ = [
    "BUNDLED",
    "DatasetInfo",
    "LoadedDataset",
    "SyntheticBias",
    "datasets_dir",
    "frame_sha256",
    "list_datasets",
    "load_dataset",
    "load_file",
    "make_synthetic_loans",
    "read_table",
]

MSG_UNKNOWN_DATASET = "unknown dataset {name!r}; bundled datasets: {choices}"
MSG_NO_FILE = "data file {path} does not exist"
MSG_NO_BUNDLE = (
    "the bundled datasets are missing: neither {checkout} nor an installed fairpanel_datasets "
    "package holds them; reinstall fairpanel or set FAIRPANEL_DATASETS_DIR"
)
MSG_EMPTY_FILE = "data file {path} is empty"
MSG_BAD_SUFFIX = "data file {path} must be .csv, .csv.gz or .parquet, not {suffix!r}"
MSG_UNREADABLE = "data file {path} could not be read as {kind}: {error}"
MSG_POSITIVE_LABEL = (
    "positive_label {label!r} is not a value of target column {column!r}; values: {values}"
)


@dataclass(frozen=True)
class DatasetInfo:
    """A bundled dataset's registry entry.

    ``n_rows`` is the number of rows :func:`load_dataset` returns by default;
    ``positive_is_favourable`` says whether a positive decision is good for the person
    (an approval) or adverse (a "high risk" label), which decides the best-off group and
    the direction of the impact ratio.
    """

    name: str
    title: str
    file: str | None
    roles: ColumnRoles
    n_rows: int
    source_sha256: dict[str, str]
    description: str
    positive_is_favourable: bool = True


@dataclass(frozen=True)
class LoadedDataset:
    """A validated frame of decisions and what its columns are for.

    Attributes
    ----------
    name : str
        Registry name (``"adult"``) or the file's name for a user file.
    frame : pandas.DataFrame
        Validated data: every column named by ``roles``, plus ``extra`` columns kept for
        context (e.g. the original train/test split).
    roles : ColumnRoles
        Target, prediction, score, sensitive features and features.
    card : str
        The dataset card (markdown); empty for user files.
    sha256 : str
        Content hash of ``frame`` (see :func:`frame_sha256`): the data hash of reports.
    source : str
        Where the data came from (bundled file, user path, generator and its settings).
    """

    name: str
    frame: pd.DataFrame = field(repr=False)
    roles: ColumnRoles
    card: str = field(repr=False)
    sha256: str
    source: str


def datasets_dir() -> Path:
    """Return the folder of bundled data files and cards.

    ``FAIRPANEL_DATASETS_DIR`` overrides it; otherwise the ``datasets/`` folder of a
    source checkout, or the copy installed from the wheel as ``fairpanel_datasets``.
    That copy is a data-only (namespace) package: it has no ``__file__``, only the
    ``__path__`` of the folder(s) an installed wheel put it in.
    """
    override = os.environ.get("FAIRPANEL_DATASETS_DIR")
    if override:
        return Path(override)
    checkout = Path(__file__).resolve().parents[2] / "datasets"
    if (checkout / "adult.parquet").exists():
        return checkout
    try:
        installed = importlib.import_module("fairpanel_datasets")
    except ModuleNotFoundError:
        raise FileNotFoundError(MSG_NO_BUNDLE.format(checkout=checkout)) from None
    for folder in map(Path, installed.__path__):
        if (folder / "adult.parquet").exists():
            return folder
    raise FileNotFoundError(MSG_NO_BUNDLE.format(checkout=checkout))


_ADULT_FEATURES = (
    "age", "workclass", "education", "education_num", "marital_status", "occupation",
    "relationship", "capital_gain", "capital_loss", "hours_per_week", "native_country",
)
_COMPAS_FEATURES = (
    "age", "priors_count", "juv_fel_count", "juv_misd_count", "juv_other_count",
    "c_charge_degree",
)
_GERMAN_FEATURES = (
    "status", "duration", "credit_history", "purpose", "credit_amount", "savings",
    "present_employment", "installment_rate", "personal_status", "other_debtors",
    "present_residence_since", "property", "installment_plans", "housing",
    "number_of_existing_credits", "job", "number_of_people_liable_for", "telephone",
)
_SYNTHETIC_FEATURES = (
    "income", "debt_to_income", "credit_history_years", "loan_amount", "employment_years",
    "zip_region",
)

BUNDLED: dict[str, DatasetInfo] = {
    "adult": DatasetInfo(
        name="adult",
        title="Adult census income (UCI)",
        file="adult.parquet",
        roles=ColumnRoles(target="income_over_50k", sensitive_features=("sex", "race"),
                          features=_ADULT_FEATURES, positive_label="income >50K"),
        n_rows=48842,
        source_sha256={
            "adult.data": "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
            "adult.test": "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
        },
        description="1994 US census extract; predict whether income exceeds $50K.",
    ),
    "compas": DatasetInfo(
        name="compas",
        title="COMPAS two-year recidivism (ProPublica)",
        file="compas.parquet",
        roles=ColumnRoles(target="two_year_recid", sensitive_features=("race", "sex", "age_cat"),
                          prediction="high_risk", score="decile_score",
                          features=_COMPAS_FEATURES, positive_label="reoffended within 2 years"),
        n_rows=6172,
        source_sha256={
            "compas-scores-two-years.csv":
                "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d",
        },
        description="Broward County risk scores of a deployed system, with 2-year outcomes.",
        positive_is_favourable=False,  # high_risk = 1 is the adverse decision
    ),
    "german_credit": DatasetInfo(
        name="german_credit",
        title="German credit (UCI Statlog)",
        file="german_credit.parquet",
        roles=ColumnRoles(target="credit_good",
                          sensitive_features=("sex", "age_group", "foreign_worker"),
                          features=_GERMAN_FEATURES, positive_label="good credit risk"),
        n_rows=1000,
        source_sha256={
            "german.data": "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871",
        },
        description="1,000 loan applicants of a German bank, rated good or bad credit risk.",
    ),
    "synthetic": DatasetInfo(
        name="synthetic",
        title="Synthetic loan decisions with injected bias",
        file=None,
        roles=ColumnRoles(target="repaid", sensitive_features=("group", "age_band"),
                          prediction="approved", score="approval_score",
                          features=_SYNTHETIC_FEATURES, positive_label="repaid the loan"),
        n_rows=20000,
        source_sha256={},
        description="Seeded generator: a proxy feature and group-dependent label noise.",
    ),
}

_EXTRA_COLUMNS = {"adult": ("original_split",), "compas": ("id",), "synthetic": ("repaid_true",)}


def list_datasets() -> list[DatasetInfo]:
    """Return the bundled datasets, in registry order.

    Examples
    --------
    >>> [d.name for d in list_datasets()]
    ['adult', 'compas', 'german_credit', 'synthetic']
    """
    return list(BUNDLED.values())


def load_dataset(name: str, *, n_rows: int | None = None, random_state: int = 0) -> LoadedDataset:
    """Load a bundled dataset as a validated frame with its roles and card.

    Parameters
    ----------
    name : str
        One of ``adult``, ``compas``, ``german_credit``, ``synthetic``.
    n_rows : int or None, default None
        For ``synthetic`` only: rows to generate (default 20,000).
    random_state : int, default 0
        For ``synthetic`` only: the generator's seed.

    Returns
    -------
    LoadedDataset

    Examples
    --------
    >>> load_dataset("german_credit").frame.shape[0]
    1000
    """
    if name not in BUNDLED:
        raise ValueError(MSG_UNKNOWN_DATASET.format(name=name, choices=", ".join(BUNDLED)))
    info = BUNDLED[name]
    card = read_card(name)
    if info.file is None:
        bias = SyntheticBias()
        rows = info.n_rows if n_rows is None else n_rows
        raw = make_synthetic_loans(rows, random_state=random_state, bias=bias)
        source = f"make_synthetic_loans(n_rows={rows}, random_state={random_state}, {bias})"
    else:
        raw = pd.read_parquet(datasets_dir() / info.file)
        if name == "compas":
            raw = raw[raw["propublica_filter"]].reset_index(drop=True)
        source = f"bundled file datasets/{info.file}"
    frame = _with_extras(raw, info.roles, _EXTRA_COLUMNS.get(name, ()))
    return LoadedDataset(name=name, frame=frame, roles=info.roles, card=card,
                         sha256=frame_sha256(frame), source=source)


def read_card(name: str) -> str:
    """Return the markdown card of a bundled dataset."""
    if name not in BUNDLED:
        raise ValueError(MSG_UNKNOWN_DATASET.format(name=name, choices=", ".join(BUNDLED)))
    return (datasets_dir() / f"{name}.md").read_text(encoding="utf-8")


def load_file(
    path: str | os.PathLike[str],
    *,
    target: str,
    sensitive_features: Sequence[str],
    prediction: str | None = None,
    score: str | None = None,
    features: Sequence[str] | None = None,
    positive_label: str | None = None,
) -> LoadedDataset:
    """Load a user's CSV or Parquet file of decisions into a validated frame.

    Parameters
    ----------
    path : path-like
        A ``.csv``, ``.csv.gz`` or ``.parquet`` file.
    target, sensitive_features, prediction, score
        Column roles; see :class:`~audits.data.schema.ColumnRoles`.
    features : sequence of str or None, default None
        Model inputs; by default every column with no other role.
    positive_label : str or None, default None
        When the target holds two labels (e.g. ``">50K"``/``"<=50K"``), the one that
        means 1. Not needed for 0/1 or boolean targets.

    Raises
    ------
    DataValidationError
        For a missing, empty or unreadable file, a missing column, a non-binary target,
        a non-numeric score, or a missing value in a sensitive feature.
    """
    file = Path(path)
    raw = read_table(file)
    if positive_label is not None:
        raw = _binarise_target(raw, target, positive_label)
    others = {target, prediction, score, *sensitive_features}
    feats = tuple(features) if features is not None else tuple(
        str(c) for c in raw.columns if c not in others
    )
    roles = ColumnRoles(target=target, sensitive_features=tuple(sensitive_features),
                        prediction=prediction, score=score, features=feats,
                        positive_label=positive_label or "1")
    frame = validate_frame(raw, roles, where=str(file))
    return LoadedDataset(name=file.name, frame=frame, roles=roles, card="",
                         sha256=frame_sha256(frame), source=f"user file {file.name}")


def frame_sha256(frame: pd.DataFrame) -> str:
    """Return a content hash of a frame: columns, dtypes and every value, in order.

    Examples
    --------
    >>> a = pd.DataFrame({"x": [1, 2]})
    >>> frame_sha256(a) == frame_sha256(a.copy())
    True
    """
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _with_extras(raw: pd.DataFrame, roles: ColumnRoles, extras: Sequence[str]) -> pd.DataFrame:
    frame = validate_frame(raw, roles)
    for col in extras:
        frame[col] = raw[col].to_numpy()
    return frame


def read_table(file: Path) -> pd.DataFrame:
    """Read a CSV (optionally gzipped) or Parquet file as it is, refusing empty files.

    Raises
    ------
    DataValidationError
        A missing, empty, unreadable file or an unknown suffix, naming the file.
    """
    if not file.exists():
        raise DataValidationError(MSG_NO_FILE.format(path=file))
    if file.stat().st_size == 0:
        raise DataValidationError(MSG_EMPTY_FILE.format(path=file))
    name = file.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        kind, reader = "CSV", pd.read_csv
    elif name.endswith(".parquet"):
        kind, reader = "Parquet", pd.read_parquet
    else:
        raise DataValidationError(MSG_BAD_SUFFIX.format(path=file, suffix=file.suffix))
    try:
        frame = reader(file)
    except pd.errors.EmptyDataError:
        raise DataValidationError(MSG_EMPTY_FILE.format(path=file)) from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataValidationError(MSG_UNREADABLE.format(path=file, kind=kind, error=exc)) from None
    if len(frame) == 0:
        raise DataValidationError(MSG_EMPTY_FILE.format(path=file))
    return frame


def _binarise_target(raw: pd.DataFrame, target: str, positive_label: str) -> pd.DataFrame:
    if target not in raw.columns:
        return raw  # validate_frame names the missing column
    values = raw[target].astype(str).str.strip()
    distinct = sorted(set(values[raw[target].notna()]))
    if len(distinct) > 2:
        shown = ", ".join(repr(v) for v in distinct[:8])
        raise DataValidationError(
            MSG_NON_BINARY.format(column=target, role="target", n=len(distinct), values=shown)
        )
    if positive_label not in set(values):
        shown = ", ".join(repr(v) for v in sorted(set(values))[:8])
        raise DataValidationError(
            MSG_POSITIVE_LABEL.format(label=positive_label, column=target, values=shown)
        )
    out = raw.copy()
    out[target] = np.where(raw[target].isna(), np.nan, (values == positive_label).astype(float))
    return out

"""A seeded generator of loan decisions with a known, configurable injected bias.

The truth is known by construction, so tests and benchmarks can check that an audit finds
what was put in:

* a latent ``repaid_true`` outcome depends only on financial features, never on the
  applicant's group;
* ``zip_region`` is a **proxy**: region ``R1`` is far more common in group ``B``
  (``proxy_strength``), and carries no information about repayment;
* the recorded label ``repaid`` has **group-dependent label noise**: for each group in
  ``label_noise``, that share of true repayments is recorded as defaults (historical bias);
* the logged decision system scores ``repaid_true``'s log-odds plus a penalty for region
  ``R1`` (``decision_penalty``), so its decisions are biased against ``B`` through the
  proxy, although ``group`` is never an input.

Everything is vectorised with NumPy: millions of rows take seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["SyntheticBias", "inject_drift", "make_synthetic_loans"]

MSG_N_ROWS = "n_rows must be a positive integer, got {n!r}"
MSG_SHARE = "{name} must lie in [0, 1], got {value!r}"
MSG_NOISE_GROUP = "label_noise names group {group!r}; groups are 'A' and 'B'"

AGE_BANDS = ("18-29", "30-49", "50+")


@dataclass(frozen=True)
class SyntheticBias:
    """The injected bias of :func:`make_synthetic_loans`.

    Parameters
    ----------
    minority_share : float, default 0.3
        Share of applicants in group ``B``.
    proxy_strength : float, default 0.7
        P(region R1 | B) - P(region R1 | A); 0 makes region independent of group.
    label_noise : mapping of group -> float, default {"B": 0.15}
        Share of true repayments recorded as defaults, per group.
    decision_penalty : float, default 1.0
        Log-odds subtracted from the logged decision score for region R1 applicants.
    threshold : float, default 0.5
        Approval threshold on the logged score.
    """

    minority_share: float = 0.3
    proxy_strength: float = 0.7
    label_noise: Mapping[str, float] = field(default_factory=lambda: {"B": 0.15})
    decision_penalty: float = 1.0
    threshold: float = 0.5

    def __post_init__(self) -> None:
        for name in ("minority_share", "proxy_strength", "threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(MSG_SHARE.format(name=name, value=value))
        for group, rate in self.label_noise.items():
            if group not in ("A", "B"):
                raise ValueError(MSG_NOISE_GROUP.format(group=group))
            if not 0.0 <= rate <= 1.0:
                raise ValueError(MSG_SHARE.format(name=f"label_noise[{group!r}]", value=rate))
        object.__setattr__(self, "label_noise", dict(self.label_noise))


def make_synthetic_loans(
    n_rows: int = 20_000, *, random_state: int = 0, bias: SyntheticBias | None = None
) -> pd.DataFrame:
    """Generate loan applications, outcomes and logged decisions with a known bias.

    Parameters
    ----------
    n_rows : int, default 20000
        Number of applications.
    random_state : int, default 0
        Seed; the same seed and settings give the same frame.
    bias : SyntheticBias or None, default None
        The injected bias; ``None`` uses the defaults.

    Returns
    -------
    pandas.DataFrame of shape (n_rows, 12)
        ``group``, ``age_band`` (sensitive); ``income``, ``debt_to_income``,
        ``credit_history_years``, ``loan_amount``, ``employment_years``, ``zip_region``
        (features); ``repaid_true`` (latent truth), ``repaid`` (recorded label, noisy),
        ``approval_score`` and ``approved`` (the logged decision system).

    Examples
    --------
    >>> make_synthetic_loans(100, random_state=1).shape
    (100, 12)
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, int | np.integer) or n_rows < 1:
        raise ValueError(MSG_N_ROWS.format(n=n_rows))
    bias = bias or SyntheticBias()
    rng = np.random.default_rng(random_state)
    is_b = rng.random(n_rows) < bias.minority_share
    group = np.where(is_b, "B", "A")
    age_band = np.asarray(AGE_BANDS)[rng.choice(3, size=n_rows, p=[0.25, 0.5, 0.25])]
    region = _regions(rng, is_b, bias.proxy_strength)
    income = np.round(rng.lognormal(mean=10.8, sigma=0.45, size=n_rows), -1)
    dti = np.clip(rng.beta(2.0, 5.0, size=n_rows), 0.01, 0.95)
    history = np.clip(rng.gamma(3.0, 3.0, size=n_rows), 0, 45).round(1)
    employment = np.clip(rng.gamma(2.0, 3.0, size=n_rows), 0, 45).round(1)
    amount = np.round(income * rng.uniform(0.1, 0.6, size=n_rows), -2)
    logit = (
        1.1 * (np.log(income) - 10.8) / 0.45
        - 4.0 * (dti - 0.29)
        + 0.06 * (history - 9.0)
        + 0.05 * (employment - 6.0)
        - 0.8 * (amount / income - 0.35)
        + 0.9
    )
    repaid_true = rng.random(n_rows) < _sigmoid(logit)
    noise = np.zeros(n_rows)
    for grp, rate in bias.label_noise.items():
        noise[group == grp] = rate
    repaid = repaid_true & ~(rng.random(n_rows) < noise)
    score = _sigmoid(logit - bias.decision_penalty * (region == "R1") + rng.normal(0, 0.3, n_rows))
    return pd.DataFrame({
        "group": group,
        "age_band": age_band,
        "income": income,
        "debt_to_income": dti.round(3),
        "credit_history_years": history,
        "loan_amount": amount,
        "employment_years": employment,
        "zip_region": region,
        "repaid_true": repaid_true.astype("int8"),
        "repaid": repaid.astype("int8"),
        "approval_score": score.round(4),
        "approved": (score >= bias.threshold).astype("int8"),
    })


def _regions(rng: np.random.Generator, is_b: np.ndarray, strength: float) -> np.ndarray:
    # P(R1 | A) = base, P(R1 | B) = base + strength, other regions share the rest uniformly.
    base = (1.0 - strength) * 0.25
    p_r1 = np.where(is_b, base + strength, base)
    in_r1 = rng.random(len(is_b)) < p_r1
    others = np.asarray(["R2", "R3", "R4"])[rng.integers(0, 3, size=len(is_b))]
    return np.where(in_r1, "R1", others)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


MSG_DRIFT_COLUMN = "column {column!r} ({role}) is not in the frame"
MSG_DRIFT_VALUE = "value {value!r} does not occur in column {column!r}"
MSG_DRIFT_NUMBER = "{name} must be a finite number, got {value!r}"


def inject_drift(
    frame: pd.DataFrame,
    *,
    column: str,
    value: str,
    shift: float,
    score: str = "approval_score",
    decision: str = "approved",
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Return a copy where one group's scores drift by ``shift`` on the log-odds scale.

    Rows with ``frame[column] == value`` get ``sigmoid(logit(score) + shift)`` (scores
    clipped into (1e-6, 1 - 1e-6) first, the result rounded to 4 decimals as in
    :func:`make_synthetic_loans`) and the decision ``score >= threshold`` (int8) recomputed
    from the rounded score. Other rows keep their score and decision (the decision
    column becomes int8). A ``shift`` of 0 returns an unchanged copy.

    Parameters
    ----------
    frame : pandas.DataFrame
    column, value : str
        The drifting group.
    shift : float
        Log-odds added to the group's scores; negative lowers them.
    score, decision : str, default "approval_score" and "approved"
    threshold : float, default 0.5

    Returns
    -------
    pandas.DataFrame of frame's shape

    Raises
    ------
    ValueError
        For a missing column, a value that does not occur, or a non-finite shift or
        threshold.

    Examples
    --------
    >>> df = make_synthetic_loans(200, random_state=1)
    >>> out = inject_drift(df, column="age_band", value="50+", shift=-2.0)
    >>> bool(out["approved"].mean() < df["approved"].mean())
    True
    """
    for name, col in (("group", column), ("score", score), ("decision", decision)):
        if col not in frame.columns:
            raise ValueError(MSG_DRIFT_COLUMN.format(column=col, role=name))
    for name, number in (("shift", shift), ("threshold", threshold)):
        if isinstance(number, bool) or not isinstance(number, int | float) or not np.isfinite(
                number):
            raise ValueError(MSG_DRIFT_NUMBER.format(name=name, value=number))
    rows = (frame[column] == value).to_numpy()
    if not rows.any():
        raise ValueError(MSG_DRIFT_VALUE.format(value=value, column=column))
    out = frame.copy()
    if shift == 0:
        return out
    p = np.clip(out[score].to_numpy(dtype=np.float64)[rows], 1e-6, 1.0 - 1e-6)
    moved = _sigmoid(np.log(p / (1.0 - p)) + shift).round(4)
    scores = out[score].to_numpy(dtype=np.float64, copy=True)
    scores[rows] = moved
    decisions = out[decision].to_numpy().astype("int8")
    decisions[rows] = (moved >= threshold).astype("int8")
    out[score] = scores
    out[decision] = decisions
    return out

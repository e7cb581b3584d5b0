"""Roll a backend's fine counts up to every group of every slice.

The second stage of the one pass: check and encode the few distinct labels
(:mod:`audits.data.encoding`), then sum the fine keys into each slice (each sensitive feature
and each intersection). Both backends end here, so they give identical groups.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from audits.data.encoding import encode_groups, encode_outcomes
from audits.data.schema import DataValidationError
from audits.fairness.count_types import CELLS, MAX_GROUPS, FineCounts, GroupCounts, ScoreHistogram

__all__ = ["MSG_TOO_MANY_GROUPS", "counts_from_fine"]

MSG_TOO_MANY_GROUPS = (
    "the sensitive features and intersections make {n} groups, more than {limit}; "
    "use fewer or coarser sensitive features (is one of them an identifier?)"
)


def counts_from_fine(
    fine: FineCounts, *, y_true: str, y_pred: str, pos_label: object,
    slices: Sequence[tuple[str, ...]],
) -> GroupCounts:
    """Encode a backend's fine counts and roll them up to every group of every slice.

    Examples
    --------
    >>> fine = FineCounts(rows=3, features=("s",), values=(np.array(["a", "b"], object),),
    ...                   y=np.array([1, 0]), p=np.array([1, 1]), count=np.array([2, 1]))
    >>> counts_from_fine(fine, y_true="y", y_pred="p", pos_label=None,
    ...                  slices=[("s",)]).groups["tp"].tolist()
    [2, 0]
    """
    y01, p01, positive = _encode_outcomes(fine, y_true, y_pred, pos_label)
    cell = np.where(y01, np.where(p01, 0, 2), np.where(p01, 1, 3))
    labels, codes = zip(*(encode_groups(list(v), column=f) for f, v in
                          zip(fine.features, fine.values, strict=True)), strict=True)
    keys, inverse = np.unique(np.column_stack(codes), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    fine_cells = np.zeros((len(keys), 4), dtype=np.int64)
    np.add.at(fine_cells, (inverse, cell), fine.count)
    hist = _fine_histograms(fine, inverse, y01, len(keys))
    parts, cells, hists = [], [], []
    for sl in slices:
        idx = [fine.features.index(f) for f in sl]
        sub, inv = np.unique(keys[:, idx], axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        summed = np.zeros((len(sub), 4), dtype=np.int64)
        np.add.at(summed, inv, fine_cells)
        cells.append(summed)
        parts.append(_slice_frame(sl, sub, labels, fine.features))
        if hist is not None:
            hists.append((_rollup(hist[0], inv, len(sub)), _rollup(hist[1], inv, len(sub))))
    groups = _groups_frame(parts, np.concatenate(cells), fine.features)
    if len(groups) > MAX_GROUPS:
        raise DataValidationError(MSG_TOO_MANY_GROUPS.format(n=len(groups), limit=MAX_GROUPS))
    scores = _score_histogram(fine, hists) if hist is not None else None
    return GroupCounts(rows=fine.rows, features=fine.features, slices=tuple(slices),
                       groups=groups, positive_label=positive, scores=scores)


def _encode_outcomes(fine: FineCounts, y_true: str, y_pred: str,
                     pos_label: object) -> tuple[np.ndarray, np.ndarray, object]:
    y_codes, y_uniques = pd.factorize(np.asarray(fine.y, dtype=object))
    if fine.pred_coded:
        y_pos, _, positive = encode_outcomes(list(y_uniques), None, y_true=y_true,
                                             y_pred=y_pred, pos_label=pos_label)
        return y_pos[y_codes], np.asarray(fine.p, dtype=np.int64) == 1, positive
    p_codes, p_uniques = pd.factorize(np.asarray(fine.p, dtype=object))
    y_pos, p_pos, positive = encode_outcomes(list(y_uniques), list(p_uniques), y_true=y_true,
                                             y_pred=y_pred, pos_label=pos_label)
    assert p_pos is not None  # given p labels, encode_outcomes returns their coding
    return y_pos[y_codes], p_pos[p_codes], positive


def _fine_histograms(fine: FineCounts, inverse: np.ndarray, y01: np.ndarray,
                     n_keys: int) -> tuple[np.ndarray, np.ndarray] | None:
    if fine.score_key is None or fine.score_sum is None:
        return None
    if fine.score_mode == "exact":
        values = np.asarray(fine.score_key, dtype=np.float64)
        edges = np.unique(values)
        bins = np.searchsorted(edges, values)
    else:
        edges = np.arange(fine.score_bins, dtype=np.float64)
        bins = np.asarray(fine.score_key, dtype=np.int64)
    counts = np.zeros((n_keys, 2, len(edges)), dtype=np.int64)
    sums = np.zeros((n_keys, 2, len(edges)), dtype=np.float64)
    label = y01.astype(np.int64)
    np.add.at(counts, (inverse, label, bins), fine.count)
    np.add.at(sums, (inverse, label, bins), fine.score_sum)
    return counts, sums


def _rollup(values: np.ndarray, inverse: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, *values.shape[1:]), dtype=values.dtype)
    np.add.at(out, inverse, values)
    return out


def _score_histogram(fine: FineCounts, hists: list[tuple[np.ndarray, np.ndarray]]
                     ) -> ScoreHistogram:
    if fine.score_mode == "exact":
        edges = np.unique(np.asarray(fine.score_key, dtype=np.float64))
    else:
        edges = fine.bin_low + (fine.bin_high - fine.bin_low) * (
            np.arange(fine.score_bins) / fine.score_bins)
    counts = np.concatenate([h[0] for h in hists])
    sums = np.concatenate([h[1] for h in hists])
    return ScoreHistogram(edges=edges, exact=fine.score_mode == "exact", counts=counts,
                          sums=sums, low=fine.score_min, high=fine.score_max)


def _slice_frame(sl: tuple[str, ...], keys: np.ndarray, labels: Sequence[list[str]],
                 features: tuple[str, ...]) -> pd.DataFrame:
    columns: dict[str, object] = {"slice": " & ".join(sl)}
    names = []
    for f in features:
        if f in sl:
            pos = sl.index(f)
            values = [labels[features.index(f)][c] for c in keys[:, pos]]
            columns[f] = values
            names.append(values)
        else:
            columns[f] = [None] * len(keys)
    columns["group_label"] = [" & ".join(parts) for parts in zip(*names, strict=True)]
    return pd.DataFrame(columns)


def _groups_frame(parts: list[pd.DataFrame], cells: np.ndarray,
                  features: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "group_id", np.arange(len(frame)))
    for i, cell in enumerate(CELLS):
        frame[cell] = cells[:, i]
    frame.insert(frame.columns.get_loc("group_label") + 1, "n", cells.sum(axis=1))
    ordered = ["group_id", "slice", "group_label", *features, "n", *CELLS]
    out = frame.loc[:, ordered]
    for f in features:
        out[f] = out[f].astype(object)
    return out

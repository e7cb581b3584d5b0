"""Agreement statistics: reference oracles, published examples, properties, bad inputs."""

from __future__ import annotations

import itertools
import math
import re
import tracemalloc
import warnings

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from audits.raters.agreement import (
    MSG_BOOT,
    MSG_LEVEL_CI,
    MSG_WEIGHTS,
    agreement_summary,
    case_disagreement,
    cohen_kappa_pairs,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
)
from audits.raters.agreement_groups import (
    agreement_by_group,
    agreement_by_rater_group,
    in_group_vs_cross_group,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", p. 8: 4 observers x
# 12 units, NaN where an observer did not code the unit.
KRIPPENDORFF_2011 = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
    [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
])
# Wikipedia, "Fleiss' kappa", worked example: 10 subjects x 5 categories, 14 raters each.
FLEISS_WIKIPEDIA = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])


def long_from_matrix(matrix: np.ndarray) -> pd.DataFrame:
    """Raters x cases matrix (NaN = not rated) -> the long ratings table."""
    raters, cases = np.nonzero(~pd.isna(matrix))
    return pd.DataFrame({"case_id": cases, "reviewer_id": raters,
                         "label": matrix[raters, cases]})


def long_from_counts(counts: np.ndarray) -> pd.DataFrame:
    """Cases x categories counts -> long table, reviewers numbered within each case."""
    rows = [(case, i, category)
            for case, row in enumerate(counts)
            for i, category in enumerate(np.repeat(np.arange(len(row)), row))]
    return pd.DataFrame(rows, columns=["case_id", "reviewer_id", "label"])


def random_matrix(rng: np.random.Generator, n_raters: int, n_cases: int, n_labels: int,
                  p_missing: float) -> np.ndarray:
    truth = rng.integers(0, n_labels, n_cases)
    matrix = np.where(rng.random((n_raters, n_cases)) < 0.5, truth,
                      rng.integers(0, n_labels, (n_raters, n_cases))).astype(float)
    matrix[rng.random(matrix.shape) < p_missing] = np.nan
    return matrix


# --- oracles ---------------------------------------------------------------------------

@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_equals_the_krippendorff_package_on_random_data(level: str) -> None:
    rng = np.random.default_rng(7)
    for trial in range(25):
        matrix = random_matrix(rng, n_raters=int(rng.integers(2, 8)),
                               n_cases=int(rng.integers(5, 40)),
                               n_labels=int(rng.integers(2, 9)), p_missing=0.35)
        if trial % 3 == 0:  # unequal spacing of numeric labels matters for interval
            matrix = matrix**2 + 0.5
        expected = krippendorff.alpha(matrix, level_of_measurement=level)
        assert krippendorff_alpha(long_from_matrix(matrix), level=level) == pytest.approx(
            expected, abs=1e-9)


@pytest.mark.parametrize(("level", "published"),
                         [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_reproduces_krippendorffs_2011_example(level: str, published: float) -> None:
    ratings = long_from_matrix(KRIPPENDORFF_2011)
    value = krippendorff_alpha(ratings, level=level)
    assert round(value, 3) == published
    assert value == pytest.approx(
        krippendorff.alpha(KRIPPENDORFF_2011, level_of_measurement=level), abs=1e-12)


def test_fleiss_reproduces_the_wikipedia_example() -> None:
    result = fleiss_kappa(long_from_counts(FLEISS_WIKIPEDIA))
    assert round(result.value, 3) == 0.210
    assert result.value == pytest.approx(sm_fleiss(FLEISS_WIKIPEDIA), abs=1e-12)
    assert (result.n_items_used, result.note) == (10, None)


def test_fleiss_equals_statsmodels_on_random_complete_data() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        matrix = random_matrix(rng, int(rng.integers(2, 7)), int(rng.integers(5, 50)),
                               int(rng.integers(2, 6)), p_missing=0.0)
        table, _ = aggregate_raters(matrix.T)
        result = fleiss_kappa(long_from_matrix(matrix))
        assert result.value == pytest.approx(sm_fleiss(table), abs=1e-9)
        assert result.note is None


def test_fleiss_uses_only_the_modal_count_and_says_so() -> None:
    rng = np.random.default_rng(4)
    matrix = random_matrix(rng, 4, 30, 3, p_missing=0.0)
    matrix[3, :8] = np.nan  # 8 cases with 3 ratings, 22 with 4
    matrix[2:, 8] = np.nan  # 1 case with 2 ratings
    result = fleiss_kappa(long_from_matrix(matrix))
    table, _ = aggregate_raters(matrix[:, 9:].T)
    assert result.value == pytest.approx(sm_fleiss(table), abs=1e-12)
    assert result.n_items_used == 21
    assert result.note is not None
    assert "21 case(s) with 4 ratings" in result.note and "left out 9" in result.note


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_pairs_equal_sklearn_per_pair(weights: str | None) -> None:
    rng = np.random.default_rng(5)
    matrix = random_matrix(rng, 4, 40, 4, p_missing=0.3)
    ratings = long_from_matrix(matrix)
    table = cohen_kappa_pairs(ratings, weights=weights)
    labels = np.unique(matrix[~np.isnan(matrix)])
    assert len(table) == 6
    for row in table.itertuples():
        both = ~np.isnan(matrix[row.reviewer_a]) & ~np.isnan(matrix[row.reviewer_b])
        assert row.n_common == both.sum()
        expected = cohen_kappa_score(matrix[row.reviewer_a, both],
                                     matrix[row.reviewer_b, both], labels=labels,
                                     weights=weights)
        assert row.kappa == pytest.approx(expected, abs=1e-12)


def test_cohen_pairs_skip_pairs_with_fewer_than_two_common_cases() -> None:
    ratings = pd.DataFrame({"case_id": [1, 1, 2, 2, 3, 3], "reviewer_id": list("abacbc"),
                            "label": ["x", "y", "x", "x", "y", "y"]})
    assert cohen_kappa_pairs(ratings).empty
    same = pd.DataFrame({"case_id": [1, 1, 2, 2], "reviewer_id": list("abab"),
                         "label": ["x"] * 4})
    assert math.isnan(cohen_kappa_pairs(same)["kappa"].iloc[0])


def loop_percent_agreement_and_ac1(matrix: np.ndarray) -> tuple[float, float]:
    """Gwet (2014) eqs. for multiple raters with missing ratings, written as plain loops."""
    labels = sorted(set(matrix[~np.isnan(matrix)]))
    pairs: list[float] = []
    pi = dict.fromkeys(labels, 0.0)
    n_cases = 0
    for column in matrix.T:
        given = [v for v in column if not np.isnan(v)]
        if not given:
            continue
        n_cases += 1
        for k in labels:
            pi[k] += given.count(k) / len(given)
        if len(given) >= 2:
            agree = sum(a == b for a, b in itertools.permutations(given, 2))
            pairs.append(agree / (len(given) * (len(given) - 1)))
    pa = sum(pairs) / len(pairs)
    pe = sum((p / n_cases) * (1 - p / n_cases) for p in pi.values()) / (len(labels) - 1)
    return pa, (pa - pe) / (1 - pe)


def test_percent_agreement_and_ac1_equal_plain_loops() -> None:
    rng = np.random.default_rng(6)
    for _ in range(15):
        matrix = random_matrix(rng, int(rng.integers(2, 7)), int(rng.integers(5, 40)),
                               int(rng.integers(2, 6)), p_missing=0.4)
        ratings = long_from_matrix(matrix)
        pa, ac1 = loop_percent_agreement_and_ac1(matrix[:, np.isin(
            np.arange(matrix.shape[1]), ratings["case_id"])])
        assert percent_agreement(ratings) == pytest.approx(pa, abs=1e-12)
        assert gwet_ac1(ratings) == pytest.approx(ac1, abs=1e-12)


def test_ac1_hand_computed_example() -> None:
    # Case 1: a a a   -> pairs agreeing 3*2 / (3*2) = 1
    # Case 2: a a     -> 2*1 / (2*1) = 1
    # Case 3: b b a   -> (2*1 + 1*0) / (3*2) = 1/3
    # Case 4: b       -> one rating, not pairable (out of pa, in pi)
    # pa = (1 + 1 + 1/3) / 3 = 7/9
    # pi_a = (3/3 + 2/2 + 1/3 + 0/1) / 4 = 7/12, pi_b = 5/12
    # pe = 1/(q-1) * (pi_a (1 - pi_a) + pi_b (1 - pi_b)) = 2 * 35/144 = 35/72
    # AC1 = (7/9 - 35/72) / (1 - 35/72) = (56/72 - 35/72) / (37/72) = 21/37
    ratings = pd.DataFrame({"case_id": [1, 1, 1, 2, 2, 3, 3, 3, 4],
                            "reviewer_id": ["r1", "r2", "r3", "r1", "r2", "r1", "r2", "r3",
                                            "r3"],
                            "label": list("aaaaabbab")})
    assert percent_agreement(ratings) == pytest.approx(7 / 9, abs=1e-12)
    assert gwet_ac1(ratings) == pytest.approx(21 / 37, abs=1e-12)


def test_case_disagreement_by_hand() -> None:
    ratings = pd.DataFrame({"case_id": ["c1"] * 4 + ["c2"] * 2 + ["c3"],
                            "reviewer_id": list("abcdabc"),
                            "label": [3, 1, 3, 5, 4, 2, 7]})
    table = case_disagreement(ratings)
    assert table["case_id"].tolist() == ["c1", "c2", "c3"]
    assert table["n_ratings"].tolist() == [4, 2, 1]
    assert table["modal_label"].tolist() == [3, 2, 7]  # c2 is a tie: the lower label
    assert table["modal_share"].tolist() == pytest.approx([0.5, 0.5, 1.0])
    assert table["disagreement"].tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert table["std"].tolist() == pytest.approx(
        [np.std([3, 1, 3, 5]), np.std([4, 2]), 0.0])
    nominal = case_disagreement(ratings.assign(label=ratings["label"].astype(str)))
    assert nominal["std"].isna().all() and nominal["modal_label"].tolist() == ["3", "2", "7"]


# --- properties ------------------------------------------------------------------------

STATS = {"alpha": krippendorff_alpha, "ac1": gwet_ac1, "pa": percent_agreement,
         "fleiss": lambda r: fleiss_kappa(r).value}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_order_and_relabelling_do_not_matter(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ratings = long_from_matrix(random_matrix(rng, 4, 12, 3, p_missing=0.3))
    shuffled = ratings.sample(frac=1.0, random_state=seed)
    relabelled = ratings.assign(label=ratings["label"].map({0.0: "z", 1.0: "a", 2.0: "m"}))
    for name, statistic in STATS.items():
        base = statistic(ratings)
        for other in (shuffled, relabelled):
            value = statistic(other)
            assert (math.isnan(base) and math.isnan(value)) or value == pytest.approx(
                base, abs=1e-12), name


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=2, max_size=12).filter(lambda v: len(set(v)) > 1),
       st.integers(2, 5))
def test_perfect_agreement_gives_one(truth: list[int], n_raters: int) -> None:
    matrix = np.tile(np.array(truth, dtype=float), (n_raters, 1))
    ratings = long_from_matrix(matrix)
    for level in ("nominal", "ordinal", "interval"):
        assert krippendorff_alpha(ratings, level=level) == pytest.approx(1.0)
    assert percent_agreement(ratings) == 1.0
    assert gwet_ac1(ratings) == pytest.approx(1.0)


def test_undefined_statistics_are_nan_and_null_in_the_summary() -> None:
    one_category = pd.DataFrame({"case_id": [1, 1, 2, 2], "reviewer_id": list("abab"),
                                 "label": ["x"] * 4})
    assert math.isnan(krippendorff_alpha(one_category))
    assert math.isnan(gwet_ac1(one_category)) and math.isnan(fleiss_kappa(one_category).value)
    assert percent_agreement(one_category) == 1.0
    unpairable = pd.DataFrame({"case_id": [1, 2], "reviewer_id": ["a", "b"], "label": [1, 2]})
    assert math.isnan(krippendorff_alpha(unpairable, level="interval"))
    data = agreement_summary(one_category, n_boot=50).to_dict()
    assert data["krippendorff_alpha"] == {"value": None, "ci_low": None, "ci_high": None}
    assert data["percent_agreement"]["value"] == 1.0


def test_ordinal_accepts_an_ordered_categorical() -> None:
    order = ["very low", "low", "mid", "high", "very high"]
    words = np.where(np.isnan(KRIPPENDORFF_2011), None,
                     np.array(order, dtype=object)[np.nan_to_num(KRIPPENDORFF_2011).astype(int)
                                                   - 1])
    ratings = long_from_matrix(words)
    ratings["label"] = pd.Categorical(ratings["label"], categories=order, ordered=True)
    assert round(krippendorff_alpha(ratings, level="ordinal"), 3) == 0.815


def test_memory_stays_small_at_20000_cases_on_a_0_to_100_scale() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    ratings = pd.DataFrame({"case_id": np.repeat(np.arange(n), 5),
                            "reviewer_id": np.tile(np.arange(5), n),
                            "label": rng.integers(0, 101, 5 * n)})
    tracemalloc.start()
    try:
        value = krippendorff_alpha(ratings, level="ordinal")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6 and abs(value) < 0.05


# --- summary, bootstrap and groups -----------------------------------------------------

def test_summary_contract_and_bootstrap_against_resampling_frames() -> None:
    rng = np.random.default_rng(8)
    ratings = long_from_matrix(random_matrix(rng, 5, 300, 3, p_missing=0.2))
    summary = agreement_summary(ratings, n_boot=400, random_state=1)
    data = summary.to_dict()
    assert list(data) == ["krippendorff_alpha", "fleiss_kappa", "gwet_ac1",
                          "percent_agreement", "n_items", "n_raters", "level", "fleiss_note"]
    assert (data["n_items"], data["n_raters"], data["level"]) == (300, 5, "nominal")
    assert isinstance(data["fleiss_note"], str)
    assert data["krippendorff_alpha"]["value"] == pytest.approx(krippendorff_alpha(ratings))
    for name in ("krippendorff_alpha", "fleiss_kappa", "gwet_ac1", "percent_agreement"):
        est = data[name]
        assert est["ci_low"] < est["value"] < est["ci_high"]
    assert agreement_summary(ratings, n_boot=400, random_state=1) == summary
    # Oracle: resample the cases themselves (indices, not weights) and average per-case
    # agreement shares computed by a plain loop; the percentile bounds agree within noise.
    shares = []
    for _, case in ratings.groupby("case_id"):
        given = case["label"].tolist()
        pairs = list(itertools.permutations(given, 2))
        shares.append(np.mean([a == b for a, b in pairs]) if pairs else np.nan)
    per_case = np.array(shares)
    draws = rng.integers(0, len(per_case), size=(4000, len(per_case)))
    naive = np.nanmean(per_case[draws], axis=1)
    low, high = np.percentile(naive, [2.5, 97.5])
    assert data["percent_agreement"]["ci_low"] == pytest.approx(low, abs=0.006)
    assert data["percent_agreement"]["ci_high"] == pytest.approx(high, abs=0.006)


def test_agreement_by_group_equals_each_subset() -> None:
    rng = np.random.default_rng(9)
    ratings = long_from_matrix(random_matrix(rng, 4, 40, 3, p_missing=0.2))
    groups = pd.Series(np.where(np.arange(40) % 3 == 0, "A", "B"), index=np.arange(40))
    table = agreement_by_group(ratings, groups, n_boot=100,
                               statistics=("krippendorff_alpha", "gwet_ac1"))
    assert list(table.columns) == ["group", "statistic", "value", "ci_low", "ci_high",
                                   "n_items"]
    for row in table.itertuples():
        subset = ratings[ratings["case_id"].map(groups) == row.group]
        statistic = krippendorff_alpha if row.statistic == "krippendorff_alpha" else gwet_ac1
        assert row.value == pytest.approx(statistic(subset), abs=1e-12)
        assert row.n_items == subset["case_id"].nunique()


def test_agreement_by_rater_group_suppresses_small_groups() -> None:
    rng = np.random.default_rng(10)
    ratings = long_from_matrix(random_matrix(rng, 8, 30, 3, p_missing=0.1))
    backgrounds = {r: ("P" if r < 6 else "Q") for r in range(8)}
    table = agreement_by_rater_group(ratings, backgrounds, min_raters=5, n_boot=50)
    p_rows, q_rows = table[table["rater_group"] == "P"], table[table["rater_group"] == "Q"]
    assert not p_rows["suppressed"].any() and q_rows["suppressed"].all()
    assert q_rows["value"].isna().all() and (q_rows["n_raters"] == 2).all()
    alpha = p_rows.set_index("statistic").loc["krippendorff_alpha", "value"]
    assert alpha == pytest.approx(krippendorff_alpha(ratings[ratings["reviewer_id"] < 6]))


def test_in_group_vs_cross_group_equals_a_pair_loop() -> None:
    rng = np.random.default_rng(11)
    ratings = long_from_matrix(random_matrix(rng, 6, 50, 3, p_missing=0.3))
    backgrounds = {r: "PQR"[r % 3] for r in range(6)}
    table = in_group_vs_cross_group(ratings, backgrounds, n_boot=100).set_index("comparison")
    within, cross = [], []
    for _, case in ratings.groupby("case_id"):
        pairs = list(itertools.combinations(case.itertuples(), 2))
        same = [a.label == b.label for a, b in pairs
                if backgrounds[a.reviewer_id] == backgrounds[b.reviewer_id]]
        other = [a.label == b.label for a, b in pairs
                 if backgrounds[a.reviewer_id] != backgrounds[b.reviewer_id]]
        within += [np.mean(same)] if same else []
        cross += [np.mean(other)] if other else []
    assert table.loc["within_group", "value"] == pytest.approx(np.mean(within))
    assert table.loc["cross_group", "value"] == pytest.approx(np.mean(cross))
    assert table.loc["within_group", "n_items"] == len(within)
    assert table.loc["difference", "value"] == pytest.approx(np.mean(within) - np.mean(cross))
    assert table.loc["difference", "ci_low"] <= table.loc["difference", "value"]


# --- bad inputs ------------------------------------------------------------------------

GOOD = pd.DataFrame({"case_id": [1, 1, 2, 2], "reviewer_id": ["a", "b", "a", "b"],
                     "label": [1, 2, 2, 2]})


@pytest.mark.parametrize(("ratings", "kwargs", "message"), [
    (GOOD.drop(columns="label"), {}, r"column 'label' \(label, label=\) is not in the data"),
    (GOOD, {"rater": "coder"}, r"column 'coder' \(reviewer id, rater=\) is not in the data"),
    (GOOD.assign(label=[1, None, 2, 2]), {},
     r"column 'label' \(label, label=\) has 1 missing value\(s\), first at row 1"),
    (GOOD.assign(case_id=[1, 1, None, 2]), {}, r"column 'case_id' \(case id, item=\) has 1"),
    (GOOD.assign(reviewer_id=["a", "a", "a", "b"]), {},
     r"1 duplicate \(case_id, reviewer_id\) pair\(s\).*case 1, reviewer 'a'"),
    (GOOD.iloc[:0], {}, "the ratings table has no rows"),
    (GOOD, {"level": "ratio"}, "level must be one of"),
    (GOOD.assign(label=list("xyyy")), {"level": "ordinal"},
     "level 'ordinal' needs numeric labels.*column 'label'"),
])
def test_bad_inputs_are_named(ratings: pd.DataFrame, kwargs: dict[str, str],
                              message: str) -> None:
    with pytest.raises(ValueError, match=message):
        krippendorff_alpha(ratings, **kwargs)


def test_bad_options_are_named() -> None:
    with pytest.raises(TypeError, match="ratings must be a pandas DataFrame; got list"):
        gwet_ac1([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape(MSG_WEIGHTS.format(value="cubic"))):
        cohen_kappa_pairs(GOOD, weights="cubic")
    with pytest.raises(ValueError, match="level 'ordinal' needs numeric labels"):
        cohen_kappa_pairs(GOOD.assign(label=list("xyyy")), weights="linear")
    with pytest.raises(ValueError, match=re.escape(MSG_BOOT.format(value=-1))):
        agreement_summary(GOOD, n_boot=-1)
    with pytest.raises(ValueError, match=re.escape(MSG_LEVEL_CI.format(value=1.5))):
        agreement_summary(GOOD, level_ci=1.5)
    with pytest.raises(ValueError, match="unknown statistic 'kappa'"):
        agreement_by_group(GOOD, {1: "A", 2: "B"}, statistics=["kappa"])
    with pytest.raises(ValueError, match="1 case\\(s\\) have no group in groups, first: 2"):
        agreement_by_group(GOOD, {1: "A"})
    with pytest.raises(ValueError, match="reviewer\\(s\\) have no group in rater_groups"):
        in_group_vs_cross_group(GOOD, {"a": "P"})
    with pytest.raises(ValueError, match="min_raters must be a positive integer; got 0"):
        agreement_by_rater_group(GOOD, {"a": "P", "b": "Q"}, min_raters=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fleiss_kappa(GOOD, label="label").n_items_used == 2

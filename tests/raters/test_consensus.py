"""Consensus labels: majority vote with reported ties, Dawid-Skene EM, the retraining rule."""

from __future__ import annotations

import time
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from audits.data.schema import DataValidationError
from audits.raters import consensus as cons
from audits.raters.consensus import DawidSkene, consensus_labels, majority_vote


def simulate(
    n_cases: int, accuracies: np.ndarray, *, per_case: int = 3, n_classes: int = 2,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Ratings by reviewers of known accuracy (wrong answers uniform over other classes)."""
    rng = np.random.default_rng(seed)
    n_rev = len(accuracies)
    truth = rng.integers(0, n_classes, n_cases)
    steps = rng.integers(1, n_rev // per_case, (n_cases, per_case))
    reviewers = (rng.integers(0, n_rev, n_cases)[:, None] + steps.cumsum(axis=1)) % n_rev
    true = np.repeat(truth, per_case)
    correct = rng.random(true.size) < accuracies[reviewers.ravel()]
    wrong = (true + rng.integers(1, n_classes, true.size)) % n_classes
    ratings = pd.DataFrame({"case_id": np.repeat(np.arange(n_cases), per_case),
                            "reviewer_id": reviewers.ravel(),
                            "label": np.where(correct, true, wrong)})
    return ratings, truth


def table(rows: list[tuple[Any, Any, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["case_id", "reviewer_id", "label"])


# ---------------------------------------------------------------- majority vote


def test_majority_reports_ties_and_breaks_them_only_on_request() -> None:
    r = table([(1, "a", "x"), (1, "b", "x"), (1, "c", "y"),
               (2, "a", "x"), (2, "b", "y"),
               (3, "a", "z"), (3, "b", "y"), (3, "c", "x"), (3, "d", "x"), (3, "e", "z")])
    out = majority_vote(r).set_index("case_id")
    assert out.loc[1, "label"] == "x" and not out.loc[1, "tie"]
    assert out.loc[1, "modal_share"] == pytest.approx(2 / 3)
    assert out.loc[2, "label"] is None and out.loc[2, "tie"]
    assert out.loc[2, "tied_labels"] == ("x", "y")
    assert out.loc[3, "tied_labels"] == ("x", "z") and out.loc[3, "n_ratings"] == 5
    assert out.loc[3, "modal_share"] == pytest.approx(0.4)
    assert out.loc[1, "tied_labels"] == ()
    assert not out["tie_broken"].any()
    lowest = majority_vote(r, tie_break="lowest").set_index("case_id")
    assert lowest["label"].tolist() == ["x", "x", "x"]
    assert lowest["tie_broken"].tolist() == [False, True, True]
    assert lowest["tie"].tolist() == [False, True, True]  # still reported
    picks = {majority_vote(r, tie_break="random", random_state=s)["label"].iloc[2]
             for s in range(30)}
    assert picks == {"x", "z"}  # only tied labels are ever drawn
    first = majority_vote(r, tie_break="random", random_state=7)
    pd.testing.assert_frame_equal(first, majority_vote(r, tie_break="random", random_state=7))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5), st.sampled_from("abc")),
                min_size=1, max_size=40, unique_by=lambda t: (t[0], t[1])))
def test_majority_matches_a_counter_oracle(rows: list[tuple[int, int, str]]) -> None:
    out = majority_vote(table(rows)).set_index("case_id")
    for case in {c for c, _, _ in rows}:
        counts = Counter(lab for c, _, lab in rows if c == case)
        top = max(counts.values())
        modal = sorted(lab for lab, n in counts.items() if n == top)
        assert out.loc[case, "n_ratings"] == sum(counts.values())
        assert out.loc[case, "tie"] == (len(modal) > 1)
        assert out.loc[case, "label"] == (modal[0] if len(modal) == 1 else None)
        assert out.loc[case, "tied_labels"] == (tuple(modal) if len(modal) > 1 else ())


# ---------------------------------------------------------------- Dawid-Skene by hand

# Two classes {0, 1}; reviewers A, B, C; five cases:
#   case 1: A=0 B=0 C=1    case 2: A=0 B=1 C=1    case 3: A=1 B=0 C=0
#   case 4: A=1 B=1 C=0    case 5: A=0 B=0
# Initial posteriors T0 = vote shares: (2/3,1/3) (1/3,2/3) (2/3,1/3) (1/3,2/3) (1,0).
# M-step (smoothing=0): priors = mean T0 = (3/5, 2/5).
#   Counts [true][observed] = sum of T0[true] over the cases where the reviewer said obs:
#   A: true0: obs0 2/3+1/3+1 = 2, obs1 2/3+1/3 = 1     -> (2/3, 1/3)
#      true1: obs0 1/3+2/3+0 = 1, obs1 1/3+2/3 = 1     -> (1/2, 1/2)
#   B: true0: obs0 2/3+2/3+1 = 7/3, obs1 1/3+1/3 = 2/3 -> (7/9, 2/9)
#      true1: obs0 1/3+1/3 = 2/3, obs1 2/3+2/3 = 4/3   -> (1/3, 2/3)
#   C: every cell 1                                     -> (1/2, 1/2) both rows
# E-step: joint_k = prior_k * prod over ratings of P(obs | true=k):
#   case 1: 3/5*2/3*7/9*1/2 = 7/45,  2/5*1/2*1/3*1/2 = 1/30 -> (14/17, 3/17)
#   case 2: 3/5*2/3*2/9*1/2 = 2/45,  2/5*1/2*2/3*1/2 = 1/15 -> (2/5, 3/5)
#   case 3: 3/5*1/3*7/9*1/2 = 7/90,  2/5*1/2*1/3*1/2 = 1/30 -> (7/10, 3/10)
#   case 4: 3/5*1/3*2/9*1/2 = 1/45,  2/5*1/2*2/3*1/2 = 1/15 -> (1/4, 3/4)
#   case 5: 3/5*2/3*7/9 = 14/45,     2/5*1/2*1/3 = 1/15     -> (14/17, 3/17)
# log-likelihood = sum of log(joint_0 + joint_1) over the cases.
HAND = table([(1, "A", 0), (1, "B", 0), (1, "C", 1), (2, "A", 0), (2, "B", 1), (2, "C", 1),
              (3, "A", 1), (3, "B", 0), (3, "C", 0), (4, "A", 1), (4, "B", 1), (4, "C", 0),
              (5, "A", 0), (5, "B", 0)])
HAND_POSTERIOR_0 = [14 / 17, 2 / 5, 7 / 10, 1 / 4, 14 / 17]
HAND_JOINTS = [7 / 45 + 1 / 30, 2 / 45 + 1 / 15, 7 / 90 + 1 / 30, 1 / 45 + 1 / 15,
               14 / 45 + 1 / 15]


def test_first_iteration_equals_the_hand_computation() -> None:
    with pytest.warns(ConvergenceWarning, match="did not converge in n_iter=1 "):
        ds = DawidSkene(n_iter=1, smoothing=0.0).fit(HAND)
    assert ds.n_iter_ == 1 and not ds.converged_
    np.testing.assert_allclose(ds.priors_.to_numpy(), [0.6, 0.4], atol=1e-12)
    np.testing.assert_allclose(ds.confusions_["A"].to_numpy(), [[2 / 3, 1 / 3], [0.5, 0.5]],
                               atol=1e-12)
    np.testing.assert_allclose(ds.confusions_["B"].to_numpy(), [[7 / 9, 2 / 9], [1 / 3, 2 / 3]],
                               atol=1e-12)
    np.testing.assert_allclose(ds.confusions_["C"].to_numpy(), np.full((2, 2), 0.5), atol=1e-12)
    np.testing.assert_allclose(ds.probas_[0].to_numpy(), HAND_POSTERIOR_0, atol=1e-12)
    np.testing.assert_allclose(ds.probas_.sum(axis=1), 1.0, atol=1e-12)
    assert ds.log_likelihood_ == pytest.approx(np.log(HAND_JOINTS).sum(), abs=1e-12)
    assert ds.labels_.tolist() == [0, 1, 0, 1, 0]
    np.testing.assert_allclose(ds.posterior_confidence(), [14 / 17, 3 / 5, 7 / 10, 3 / 4, 14 / 17])
    assert ds.confusions_["A"].index.name == "true"
    assert ds.confusions_["A"].columns.name == "observed"


def test_smoothing_adds_a_pseudo_count_to_every_confusion_cell() -> None:
    with pytest.warns(ConvergenceWarning):
        ds = DawidSkene(n_iter=1, smoothing=1.0).fit(HAND)
    # A's counts + 1: true0 (3, 2) -> (3/5, 2/5); true1 (2, 2) -> (1/2, 1/2).
    np.testing.assert_allclose(ds.confusions_["A"].to_numpy(), [[0.6, 0.4], [0.5, 0.5]])


def loop_oracle(ratings: pd.DataFrame, n_iter: int) -> np.ndarray:
    """Plain-Python EM (smoothing 0) written independently of the implementation."""
    cases = sorted(set(ratings["case_id"]))
    classes = sorted(set(ratings["label"]))
    by_case = {c: list(zip(g["reviewer_id"], g["label"], strict=True))
               for c, g in ratings.groupby("case_id")}
    post = {c: [sum(lab == k for _, lab in by_case[c]) / len(by_case[c]) for k in classes]
            for c in cases}
    for _ in range(n_iter):
        priors = [sum(post[c][i] for c in cases) / len(cases) for i in range(len(classes))]
        counts: dict[tuple[Any, int, Any], float] = {}
        for c in cases:
            for rev, lab in by_case[c]:
                for i in range(len(classes)):
                    counts[rev, i, lab] = counts.get((rev, i, lab), 0.0) + post[c][i]
        totals = {(rev, i): sum(counts.get((rev, i, o), 0.0) for o in classes)
                  for rev, i, _ in counts}
        for c in cases:
            joint = [priors[i] * np.prod([counts[r, i, lab] / totals[r, i]
                                          for r, lab in by_case[c]])
                     for i in range(len(classes))]
            post[c] = [j / sum(joint) for j in joint]
    return np.array([post[c] for c in cases])


def test_several_iterations_match_a_plain_loop_oracle() -> None:
    ratings, _ = simulate(60, np.array([0.9, 0.8, 0.7, 0.6, 0.85, 0.75]), n_classes=3, seed=3)
    with pytest.warns(ConvergenceWarning):
        ds = DawidSkene(n_iter=4, tol=0.0, smoothing=0.0).fit(ratings)
    np.testing.assert_allclose(ds.probas_.to_numpy(), loop_oracle(ratings, 4), atol=1e-9)


# ---------------------------------------------------------------- crowd-kit, recovery


def _crowdkit(ratings: pd.DataFrame, **kwargs: Any) -> Any:
    try:
        from crowdkit.aggregation import DawidSkene as CrowdKitDS
    except Exception as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"crowd-kit's DawidSkene cannot be imported here: {exc!r}")
    data = ratings.rename(columns={"case_id": "task", "reviewer_id": "worker"})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # crowd-kit's pandas deprecation warnings
            return CrowdKitDS(**kwargs).fit(data)
    except Exception as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"crowd-kit's DawidSkene fails on this pandas/scikit-learn: {exc!r}")


def test_agrees_with_crowdkit_on_simulated_reviews() -> None:
    accuracies = np.random.default_rng(1).uniform(0.55, 0.95, 30)
    ratings, _ = simulate(2000, accuracies, seed=1)
    ours = DawidSkene(tol=1e-7, smoothing=0.0).fit(ratings)  # run to convergence
    assert ours.converged_
    theirs = _crowdkit(ratings, n_iter=100_000, tol=1e-12)
    their_probas = theirs.probas_.reindex(index=ours.probas_.index, columns=[0, 1])
    agreement = (theirs.labels_.reindex(ours.labels_.index) == ours.labels_).mean()
    assert agreement >= 0.999
    np.testing.assert_allclose(ours.probas_.to_numpy(), their_probas.to_numpy(), atol=2e-3)
    # Same iterations, same start: the posteriors agree to rounding.
    with pytest.warns(ConvergenceWarning):
        ours3 = DawidSkene(n_iter=3, tol=0.0, smoothing=0.0).fit(ratings)
    theirs3 = _crowdkit(ratings, n_iter=3, tol=-np.inf)
    np.testing.assert_allclose(
        ours3.probas_.to_numpy(),
        theirs3.probas_.reindex(index=ours3.probas_.index, columns=[0, 1]).to_numpy(),
        atol=1e-8)


def test_recovers_reviewer_accuracies_and_beats_majority_with_poor_reviewers() -> None:
    accuracies = np.r_[np.full(6, 0.95), np.linspace(0.55, 0.9, 14)]
    ratings, truth = simulate(8000, accuracies, per_case=5, seed=5)
    ds = DawidSkene().fit(ratings)
    assert ds.converged_
    true_of_rating = truth[ratings["case_id"].to_numpy()]
    for reviewer, accuracy in enumerate(accuracies):
        diagonal = np.diag(ds.confusions_[reviewer].to_numpy())
        np.testing.assert_allclose(diagonal, accuracy, atol=0.05)
        mine = ratings["reviewer_id"].to_numpy() == reviewer
        realised = [(ratings["label"].to_numpy()[mine & (true_of_rating == k)] == k).mean()
                    for k in (0, 1)]  # the accuracy this sample actually had
        np.testing.assert_allclose(diagonal, realised, atol=0.035)
    np.testing.assert_allclose(ds.priors_.to_numpy(), np.bincount(truth) / len(truth), atol=0.03)
    majority = majority_vote(ratings, tie_break="lowest")["label"].to_numpy()
    ds_accuracy = (ds.labels_.to_numpy() == truth).mean()
    assert ds_accuracy > (majority == truth).mean() + 0.01


def test_deterministic_and_invariant_to_row_order() -> None:
    ratings, _ = simulate(500, np.linspace(0.6, 0.95, 12), n_classes=3, seed=2)
    first, again = DawidSkene().fit(ratings), DawidSkene().fit(ratings)
    pd.testing.assert_frame_equal(first.probas_, again.probas_)
    shuffled = DawidSkene().fit(ratings.sample(frac=1.0, random_state=9))
    pd.testing.assert_series_equal(first.labels_, shuffled.labels_)
    pd.testing.assert_frame_equal(first.probas_, shuffled.probas_, atol=1e-9)
    pd.testing.assert_frame_equal(majority_vote(ratings),
                                  majority_vote(ratings.sample(frac=1.0, random_state=9)))


def test_hundred_thousand_ratings_take_well_under_a_second_per_iteration() -> None:
    ratings, _ = simulate(20_000, np.linspace(0.6, 0.95, 50), per_case=5, seed=4)
    start = time.perf_counter()
    with pytest.warns(ConvergenceWarning):
        ds = DawidSkene(n_iter=10, tol=0.0).fit(ratings)
    assert (time.perf_counter() - start) / ds.n_iter_ < 0.5


def test_custom_column_names_and_string_labels() -> None:
    r = HAND.rename(columns={"case_id": "task", "reviewer_id": "worker", "label": "y"})
    r["y"] = r["y"].map({0: "no", 1: "yes"})
    with pytest.warns(ConvergenceWarning):
        ds = DawidSkene(n_iter=1, smoothing=0.0).fit(r, item="task", rater="worker",
                                                     label="y")
    assert ds.labels_.index.name == "task" and ds.labels_.name == "y"
    assert ds.labels_.tolist() == ["no", "yes", "no", "yes", "no"]
    out = consensus_labels(r, item="task", rater="worker", label="y")
    assert list(out.columns) == ["task", "y", "source", "confidence"]


# ---------------------------------------------------------------- the retraining rule


def test_consensus_follows_the_rule_case_by_case() -> None:
    ratings, _ = simulate(300, np.r_[np.full(3, 0.97), np.full(9, 0.6)], seed=8)
    # 997: a good and a poor reviewer disagree (a tie Dawid-Skene resolves); 998: two
    # poor reviewers disagree (nobody can tell); 999: adjudicated.
    extra = table([(997, 0, 1), (997, 5, 0), (998, 5, 1), (998, 6, 0), (999, 0, 1), (999, 5, 0)])
    ratings = pd.concat([ratings, extra], ignore_index=True)
    out = consensus_labels(ratings, adjudicated={0: 1, 999: 0}, min_confidence=0.9)
    ds, mv = DawidSkene().fit(ratings), majority_vote(ratings)
    assert set(out["source"]) == {"adjudicated", "dawid_skene", "majority", "none"}
    for i, row in out.iterrows():
        case = row["case_id"]
        if case in (0, 999):
            expected = ("adjudicated", {0: 1, 999: 0}[case], 1.0)
        elif ds.posterior_confidence().loc[case] >= 0.9:
            expected = ("dawid_skene", ds.labels_.loc[case], ds.posterior_confidence().loc[case])
        elif not mv.loc[i, "tie"]:
            expected = ("majority", mv.loc[i, "label"], mv.loc[i, "modal_share"])
        else:
            expected = ("none", None, np.nan)
        assert (row["source"], row["label"]) == expected[:2]
        assert row["confidence"] == pytest.approx(expected[2], nan_ok=True)


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(("frame", "message"), [
    (HAND.drop(columns="label"), r"column 'label' \(label\) is not in the data"),
    (HAND.drop(columns="reviewer_id"), r"column 'reviewer_id' \(reviewer id\) is not in"),
    (HAND.iloc[:0], "no rows"),
    (HAND.assign(label=[0, None] + [1] * 12), r"'label' \(label\) has 1 missing value\(s\), "
                                              "first at row 1"),
    (HAND.assign(case_id=[np.nan] + [1] * 13), r"'case_id' \(case id\) has 1 missing"),
    (pd.concat([HAND, HAND.iloc[[3]]]), r"1 duplicate \(case, reviewer\) pair\(s\) .* case 2 "
                                        "rated by reviewer 'A'"),
])
@pytest.mark.parametrize("entry", ["majority", "dawid_skene", "consensus"])
def test_bad_ratings_are_named(frame: pd.DataFrame, message: str, entry: str) -> None:
    call = {"majority": majority_vote, "dawid_skene": DawidSkene().fit,
            "consensus": consensus_labels}[entry]
    with pytest.raises(ValueError, match=message):
        call(frame)


def test_bad_options_are_named() -> None:
    with pytest.raises(TypeError, match="must be a pandas DataFrame; got list"):
        majority_vote([1, 2])  # type: ignore[arg-type]
    with pytest.raises(DataValidationError):
        majority_vote(HAND, label="verdict")
    with pytest.raises(ValueError, match="three different columns"):
        majority_vote(HAND, rater="case_id")
    with pytest.raises(ValueError, match="tie_break must be one of .* got 'coin'"):
        majority_vote(HAND, tie_break="coin")
    for kwargs, name in [({"n_iter": 0}, "n_iter"), ({"tol": -1.0}, "tol"),
                         ({"smoothing": -0.1}, "smoothing"), ({"init": "uniform"}, "init")]:
        with pytest.raises(ValueError, match=f"^{name} must"):
            DawidSkene(**kwargs).fit(HAND)
    with pytest.raises(NotFittedError, match=cons.MSG_NOT_FITTED.split(";")[0]):
        DawidSkene().posterior_confidence()
    with pytest.raises(ValueError, match=r"min_confidence must be in \[0, 1\]; got 1.5"):
        consensus_labels(HAND, min_confidence=1.5)
    with pytest.raises(ValueError, match="adjudicated case 42 has no ratings; 1 such"):
        consensus_labels(HAND, adjudicated={1: 0, 42: 1})
    with pytest.raises(ValueError, match="adjudicated case 2 has a missing label"):
        consensus_labels(HAND, adjudicated={2: None})


# ---------------------------------------------------------------- convergence


def _missing_ratings(seed: int, n_cases: int = 30, n_reviewers: int = 6) -> pd.DataFrame:
    """2-4 of the reviewers rate each case (accuracy 0.55-0.95): a small, gappy table."""
    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.55, 0.95, n_reviewers)
    truth = rng.integers(0, 2, n_cases)
    rows = []
    for case in range(n_cases):
        for reviewer in rng.permutation(n_reviewers)[:rng.integers(2, 5)]:
            right = rng.random() < accuracy[reviewer]
            rows.append((case, int(reviewer), int(truth[case] if right else 1 - truth[case])))
    return table(rows)


def test_default_runs_to_convergence_where_100_iterations_did_not() -> None:
    ratings = _missing_ratings(9)
    with pytest.warns(ConvergenceWarning, match="did not converge in n_iter=100"):
        DawidSkene(n_iter=100, smoothing=0.0).fit(ratings)
    ds = DawidSkene(smoothing=0.0).fit(ratings)  # no warning: converged
    assert ds.converged_ and 100 < ds.n_iter_ < 10_000
    # the independent plain-Python EM, run as many iterations, gives the same posteriors
    np.testing.assert_allclose(ds.probas_.to_numpy(), loop_oracle(ratings, ds.n_iter_),
                               atol=1e-9)


def test_consensus_labels_reports_whether_dawid_skene_converged() -> None:
    ratings = _missing_ratings(6)
    out = consensus_labels(ratings)
    assert out.attrs["dawid_skene"] == {"converged": True,
                                        "n_iter": DawidSkene().fit(ratings).n_iter_}
    with pytest.warns(ConvergenceWarning):
        short = consensus_labels(ratings, dawid_skene=DawidSkene(n_iter=5))
    assert short.attrs["dawid_skene"] == {"converged": False, "n_iter": 5}


# --- Dawid-Skene is trusted only on well-rated cases of a converged fit -------------------

TINY = pd.DataFrame({"case_id": [1, 1, 1, 2, 2, 3, 3], "reviewer_id": list("abcabab"),
                     "label": ["y", "y", "y", "y", "n", "n", "y"]})


def test_thin_reviewers_do_not_settle_a_tie() -> None:
    """On three cases, converged Dawid-Skene is near-certain about a 1-1 tie; the
    retraining rule must not take that as a label (the reviewers rated 1-3 cases), though
    it may take a label that is the case's clear majority."""
    model = DawidSkene().fit(TINY)
    assert model.converged_ and model.posterior_confidence().loc[2] > 0.999
    out = consensus_labels(TINY).set_index("case_id")
    assert out.loc[2, "source"] == "none" and out.loc[2, "label"] is None
    # where it agrees with a clear majority (case 1: three "y") it may stand
    assert out.loc[1, "label"] == "y"
    # The guard is what refuses it: with a floor of one case the tie is "settled".
    loose = consensus_labels(TINY, min_reviewer_cases=1).set_index("case_id")
    assert loose.loc[2, "source"] == "dawid_skene"


def test_a_fit_that_did_not_converge_is_not_trusted() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 300)
    rows = [(c, r, int(truth[c]) if rng.random() < 0.8 else 1 - int(truth[c]))
            for c in range(300) for r in rng.choice(6, 3, replace=False)]
    ratings = pd.DataFrame(rows, columns=["case_id", "reviewer_id", "label"])
    with pytest.warns(ConvergenceWarning):
        out = consensus_labels(ratings, dawid_skene=DawidSkene(n_iter=1))
    assert (out["source"] != "dawid_skene").all()
    assert out.attrs["dawid_skene"] == {"converged": False, "n_iter": 1}
    converged = consensus_labels(ratings)
    assert (converged["source"] == "dawid_skene").mean() > 0.5


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "20"])
def test_min_reviewer_cases_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ValueError, match="min_reviewer_cases must be an int >= 1"):
        consensus_labels(TINY, min_reviewer_cases=bad)  # type: ignore[arg-type]

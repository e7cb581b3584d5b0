"""Human-bias statistics on hand-built ratings, each checked against an independent oracle.

Oracles: statsmodels' Logit on discordant pairs built by a plain-Python loop (the
pairwise conditional logit of reviewer severity and of the rater group x subject group
interaction, its cluster-robust variance), a loop over pairs and permutations (the DRF
score permutation count), statsmodels (Holm, Benjamini-Hochberg, Wilson), scipy (Spearman) and
audits.fairness.audit.audit_fairness on the reviewer's own slice.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.discrete.discrete_model import Logit
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from audits.fairness.audit import audit_fairness
from audits.fairness.significance import holm
from audits.raters import human_bias
from audits.raters.automation import (
    MSG_BY,
    MSG_FEW_GROUPS,
    MSG_NO_WRONG,
    automation_bias,
    automation_bias_heterogeneity,
    over_reliance,
)
from audits.raters.drift import MSG_NO_AXIS, drift_and_fatigue
from audits.raters.fairness import (
    MSG_RATER_BY,
    MSG_RATER_CONSTANT,
    MSG_UNMAPPED,
    reviewer_fairness,
)
from audits.raters.human_bias import (
    MSG_ONE_GROUP,
    MSG_UNGROUPED,
    differential_rater_functioning,
    reviewer_report,
    reviewer_severity,
)
from audits.raters.ratings import (
    MSG_BINARY,
    MSG_CASE_CONSTANT,
    MSG_DUPLICATE,
    MSG_EMPTY,
    MSG_FRAME,
    MSG_INT_OPTION,
    MSG_MISSING,
    MSG_ROLE,
    MSG_TIME,
    MSG_UNIT_OPTION,
)


def _msg(template: str, **kw: Any) -> str:
    return re.escape(template.format(**kw))


def _random_ratings(seed: int, n_cases: int = 30, reviewers: str = "abcdef",
                    per_case: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for case in range(n_cases):
        for r in rng.choice(list(reviewers), per_case, replace=False):
            rows.append({"case_id": case, "reviewer_id": str(r),
                         "label": int(rng.random() < 0.4 + 0.1 * "abcdef".index(r) / 5),
                         "subject_group": "xyz"[case % 3],
                         "model_shown": bool(rng.random() < 0.5),
                         "model_decision": int(rng.random() < 0.5),
                         "truth": float(rng.integers(0, 2)) if case % 4 else np.nan,
                         "position": len(rows)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------- validation


@pytest.mark.parametrize("call", [reviewer_severity, drift_and_fatigue, automation_bias])
def test_bad_tables_are_refused_with_the_column_or_value_named(call: Any) -> None:
    base = pd.DataFrame({"case_id": [1, 1], "reviewer_id": ["a", "b"], "label": [1, 0],
                         "position": [1, 2], "model_shown": [1, 0], "model_decision": [1, 1]})
    with pytest.raises(TypeError, match=_msg(MSG_FRAME, kind="list")):
        call([1, 2])
    with pytest.raises(ValueError, match=MSG_EMPTY):
        call(base.iloc[:0])
    with pytest.raises(ValueError, match="column 'label' .*is not in the data"):
        call(base.drop(columns="label"))
    with pytest.raises(ValueError, match=_msg(MSG_BINARY, column="label", role="label",
                                              value=2)):
        call(base.assign(label=[1, 2]))
    with pytest.raises(ValueError, match=_msg(MSG_MISSING, column="reviewer_id",
                                              role="reviewer_id", n=1, row=1)):
        call(base.assign(reviewer_id=["a", None]))
    with pytest.raises(ValueError, match=_msg(MSG_DUPLICATE, case=1, reviewer="a")):
        call(base.assign(reviewer_id=["a", "a"]))
    with pytest.raises(ValueError, match=_msg(MSG_ROLE, role="rater",
                                              roles=".*")[:30]):
        call(base, columns={"rater": "reviewer_id"})


def test_case_level_columns_and_options_are_checked() -> None:
    df = pd.DataFrame({"case_id": [1, 1], "reviewer_id": ["a", "b"], "label": [1, 0],
                       "subject_group": ["x", "y"]})
    with pytest.raises(ValueError, match=_msg(MSG_CASE_CONSTANT, column="grp",
                                              role="subject_group", case=1)):
        reviewer_severity(df.rename(columns={"subject_group": "grp"}),
                          columns={"subject_group": "grp"})
    ok = df.assign(subject_group="x")
    with pytest.raises(ValueError, match=_msg(MSG_INT_OPTION, name="n_boot", low=0, value=-1)):
        reviewer_severity(ok, n_boot=-1)
    with pytest.raises(ValueError, match=_msg(MSG_INT_OPTION, name="n_permutations", low=1,
                                              value=0)):
        reviewer_severity(ok, n_permutations=0)
    with pytest.raises(ValueError, match=_msg(MSG_UNIT_OPTION, name="level", value=1.5)):
        reviewer_severity(ok, level=1.5)
    with pytest.raises(ValueError, match=_msg(MSG_UNIT_OPTION, name="alpha", value=0)):
        differential_rater_functioning(ok, {"a": "g", "b": "h"}, alpha=0)
    with pytest.raises(ValueError, match=_msg(MSG_TIME, column="rated_at", role="rated_at",
                                              error="")[:40]):
        drift_and_fatigue(ok.assign(rated_at=["yesterday", "x"]))
    with pytest.raises(ValueError, match=MSG_NO_AXIS):
        drift_and_fatigue(ok)


def test_rater_groups_and_by_options_are_checked() -> None:
    df = _random_ratings(0, n_cases=6)
    with pytest.raises(ValueError, match=_msg(MSG_UNGROUPED, reviewers=["f"])):
        differential_rater_functioning(df, dict.fromkeys("abcde", "g"))
    with pytest.raises(ValueError, match=_msg(MSG_ONE_GROUP, groups=["g"])):
        differential_rater_functioning(df, dict.fromkeys("abcdef", "g"))
    with pytest.raises(TypeError, match="rater_groups must be a mapping"):
        differential_rater_functioning(df, ["a"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=_msg(MSG_BY, value="case_id")):
        automation_bias(df, by="case_id")
    with pytest.raises(ValueError, match="column 'subject_group' .*is not in the data"):
        automation_bias_heterogeneity(df.drop(columns="subject_group"))
    with pytest.raises(ValueError, match=_msg(MSG_FEW_GROUPS, groups=["x"])):
        automation_bias_heterogeneity(df.assign(subject_group="x"))
    with pytest.raises(ValueError, match=MSG_NO_WRONG):
        over_reliance(df.assign(truth=df["model_decision"]))
    with pytest.raises(ValueError, match=_msg(MSG_RATER_BY, value="nope")):
        reviewer_fairness(df, by="nope")
    with pytest.raises(ValueError, match=_msg(MSG_RATER_CONSTANT, column="position",
                                              reviewer="a")):
        reviewer_fairness(df, by="position")
    with pytest.raises(ValueError, match=_msg(MSG_UNMAPPED, reviewers=["f"])):
        reviewer_fairness(df, by=dict.fromkeys("abcde", "g"))


# ----------------------------------------------------------------------- severity


def _slow_pairs(df: pd.DataFrame, member: dict[str, float] | None = None,
                subject: str | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Discordant pairs by a loop: the design of the pairwise conditional logit.

    One row per pair of ratings of one case that disagree (first = earlier row): +1 on the
    second reviewer's column, -1 on the first's; outcome 1 when the first said 1; cases.
    With ``member`` and ``subject``, one more column: the interaction covariate.
    """
    reviewers = sorted(df["reviewer_id"].unique(), key=str)
    rows, z, cases = [], [], []
    records = list(df.itertuples(index=False))
    for i, first in enumerate(records):
        for second in records[i + 1:]:
            if first.case_id != second.case_id or first.label == second.label:
                continue
            x = dict.fromkeys(reviewers, 0.0)
            x[second.reviewer_id] += 1.0
            x[first.reviewer_id] -= 1.0
            if member is not None:
                x["interaction"] = (member[first.reviewer_id] - member[second.reviewer_id]) \
                    * float(first.subject_group == subject)
            rows.append(x)
            z.append(float(first.label))
            cases.append(first.case_id)
    return pd.DataFrame(rows), np.array(z), np.array(cases)


def _statsmodels_severities(df: pd.DataFrame) -> pd.Series:
    """Severities relative to the first reviewer, by statsmodels' unpenalised Logit."""
    design, z, _ = _slow_pairs(df)
    fit = Logit(z, design.iloc[:, 1:]).fit(disp=0, method="newton", tol=1e-12)
    return pd.concat([pd.Series({design.columns[0]: 0.0}), fit.params])


@pytest.fixture
def no_ridge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(human_bias, "RIDGE", 1e-9)


def test_severities_are_the_conditional_logit_of_statsmodels(no_ridge: None) -> None:
    df = _random_ratings(3, n_cases=60)
    beta = _statsmodels_severities(df)
    out = reviewer_severity(df, n_boot=100).set_index("reviewer_id")
    assert not out["flagged"].any()  # so every other reviewer is the reference of each
    for r in out.index:
        expected = beta[r] - beta.drop(r).mean()
        assert out.loc[r, "severity"] == pytest.approx(expected, abs=1e-6)
        z = stats.norm.ppf(0.975)
        assert out.loc[r, "ci_low"] == pytest.approx(expected - z * out.loc[r, "se"])
        # The p-value is a score test on t: close to Wald's on this moderate data, on the
        # z scale.
        wald_z = abs(expected) / out.loc[r, "se"]
        assert stats.norm.isf(out.loc[r, "p_value"] / 2) == pytest.approx(wald_z, abs=0.3)
    design, z_, cases = _slow_pairs(df)
    model = Logit(z_, design.iloc[:, 1:]).fit(disp=0, cov_type="cluster",
                                               cov_kwds={"groups": cases})
    # The SE is at least the cluster-robust SE of statsmodels (we take the larger of the
    # model-based and the robust variance) for the contrast with the first reviewer.
    contrast = np.full(len(beta) - 1, -1.0 / (len(beta) - 1))
    se_first = float(np.sqrt(contrast @ model.cov_params().to_numpy() @ contrast))
    assert out.iloc[0]["se"] >= 0.95 * se_first
    assert out["n_discordant"].sum() == 2 * len(design)


def test_the_severity_score_test_is_statsmodels_score_test(no_ridge: None) -> None:
    import statsmodels.api as sm

    df = _random_ratings(3, n_cases=60)
    design, z, _ = _slow_pairs(df)
    reviewers = np.array(design.columns, dtype=object)
    fit = human_bias._PairFit.build(df, reviewers)
    out = reviewer_severity(df, n_boot=0).set_index("reviewer_id")
    assert not out["flagged"].any()  # so each reviewer's reference is every other one
    glm = sm.GLM(z, design.iloc[:, 1:].to_numpy(float), family=sm.families.Binomial())
    for r, name in enumerate(reviewers):
        weights = np.full(len(reviewers), -1.0 / (len(reviewers) - 1))
        weights[r] = 1.0
        # statsmodels fixes the first reviewer at 0; the contrast does not involve it.
        restricted = glm.fit_constrained((weights[None, 1:], np.zeros(1)))
        expected = float(glm.score_test(restricted.params, k_constraints=1)[0][0])
        step, model_variance, robust_variance = fit.score_statistic(weights)
        assert step ** 2 / model_variance == pytest.approx(expected, rel=1e-6)
        # The p-value: the larger variance, Student's t on informative cases - 1.
        cases = df[df["reviewer_id"] == name]["case_id"]
        df_t = sum(1 for c in cases.unique()
                   if df[df["case_id"] == c]["label"].nunique() > 1) - 1
        t = abs(step) / np.sqrt(max(model_variance, robust_variance))
        assert out.loc[name, "p_value"] == pytest.approx(2 * stats.t.sf(t, df_t))


def test_a_reviewer_who_never_says_yes_where_a_colleague_does_is_flagged() -> None:
    # Complete separation: "a" gives the negative decision on every case where a
    # colleague gives the positive one. Its estimate runs off (held only by the ridge)
    # and Wald's standard error with it; the score test still flags it, nobody else.
    rng = np.random.default_rng(5)
    rows = []
    for case in range(150):
        truth = int(rng.random() < 0.3)
        for r in rng.choice(list("abcdef"), 3, replace=False):
            label = 0 if r == "a" else int(rng.random() < (0.85 if truth else 0.15))
            rows.append({"case_id": case, "reviewer_id": str(r), "label": label})
    out = reviewer_severity(pd.DataFrame(rows), n_boot=0).set_index("reviewer_id")
    assert out["flagged"].tolist() == [True] + [False] * 5
    wald_z = out.loc["a", "severity"] / out.loc["a", "se"]
    assert wald_z < 3 and out.loc["a", "severity"] > 3  # Wald alone would hesitate


def test_a_harsh_colleague_does_not_make_the_others_look_lenient() -> None:
    # Six reviewers, 300 cases, 3 each; "a" says no far more often; the rest are alike.
    rng = np.random.default_rng(3)
    rows = []
    for case in range(300):
        easy = rng.normal(0, 1.5)
        for r in rng.choice(list("abcdef"), 3, replace=False):
            logit = easy - (3.0 if r == "a" else 0.0)
            rows.append({"case_id": case, "reviewer_id": str(r),
                         "label": int(rng.random() < 1 / (1 + np.exp(-logit)))})
    df = pd.DataFrame(rows)
    out = reviewer_severity(df, n_boot=0).set_index("reviewer_id")
    assert out["flagged"].tolist() == [True] + [False] * 5
    assert out.loc["a", "severity"] > 2
    # The innocents are compared with the mean of the other innocents, "a" with theirs.
    assert (out.drop("a")["severity"].abs() < 3 * out.drop("a")["se"]).all()
    assert out.drop("a")["severity"].sum() == pytest.approx(0, abs=1e-9)


def test_holm_matches_statsmodels_and_flags_use_it() -> None:
    p = np.array([0.001, 0.02, 0.04, 0.3, 0.011])
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])
    df = _random_ratings(5, n_cases=40)
    out = reviewer_severity(df, n_boot=0, n_permutations=300)
    assert out["p_adjusted"].to_numpy() == pytest.approx(
        multipletests(out["p_value"], method="holm")[1])
    assert (out["flagged"] == (out["p_adjusted"] < 0.05)).all()
    assert out["ci_low"].isna().all()  # n_boot=0: no interval


def test_a_reviewer_who_never_shares_a_case_has_no_severity() -> None:
    df = pd.DataFrame({"case_id": [1, 1, 2], "reviewer_id": ["a", "b", "z"],
                       "label": [1, 0, 1]})
    out = reviewer_severity(df, n_boot=10, n_permutations=10).set_index("reviewer_id")
    assert out.loc["z", "n"] == 0 and np.isnan(out.loc["z", "severity"])
    assert not out.loc["z", "flagged"] and np.isnan(out.loc["z", "p_adjusted"])


def test_a_reviewer_who_always_agrees_gets_a_finite_unflagged_severity() -> None:
    df = pd.DataFrame({"case_id": [1, 1, 1, 2, 2, 2], "reviewer_id": list("abcabc"),
                       "label": [1, 1, 0, 0, 0, 1]})
    out = reviewer_severity(df).set_index("reviewer_id")
    assert np.isfinite(out["severity"]).all() and not out["flagged"].any()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_results_do_not_depend_on_row_order_or_column_names(seed: int) -> None:
    df = _random_ratings(seed % 7, n_cases=15)
    shuffled = df.sample(frac=1.0, random_state=seed).rename(columns={"label": "decision"})
    names = {"label": "decision"}
    pd.testing.assert_frame_equal(reviewer_severity(df, n_boot=20, n_permutations=20),
                                  reviewer_severity(shuffled, n_boot=20, n_permutations=20,
                                                    columns=names), atol=1e-7)
    groups = {"a": "g", "b": "g", "c": "h", "d": "h", "e": "k", "f": "k"}
    pd.testing.assert_frame_equal(
        differential_rater_functioning(df, groups, n_permutations=30),
        differential_rater_functioning(shuffled, groups, n_permutations=30, columns=names),
        atol=1e-7)
    assert automation_bias(df, n_boot=30) == automation_bias(shuffled, n_boot=30,
                                                             columns=names)


# ---------------------------------------------------- differential rater functioning


def test_drf_effects_and_permutation_p_values_match_statsmodels_and_a_slow_loop(
        no_ridge: None) -> None:
    df = _random_ratings(11, n_cases=60)
    groups = {"a": "g", "b": "g", "c": "h", "d": "h", "e": "k", "f": "k"}
    n_perm, seed = 150, 4
    out = differential_rater_functioning(df, groups, n_permutations=n_perm,
                                         random_state=seed)
    reviewers = sorted(groups)
    # The null fit (severities only) gives residuals; the score of (g, s) is the sum of
    # the interaction covariate times the residual; a permutation relabels reviewers.
    design, z, _ = _slow_pairs(df)
    null = Logit(z, design.iloc[:, 1:]).fit(disp=0, method="newton", tol=1e-12)
    residual = z - null.predict(design.iloc[:, 1:])
    perms = np.argsort(np.random.default_rng(seed).random((n_perm, len(reviewers))), axis=1)

    def score(labels: dict[str, str], g: str, s: str) -> float:
        member = {r: float(labels[r] == g) for r in reviewers}
        cov, _, _ = _slow_pairs(df, member, s)
        return float(cov["interaction"].to_numpy() @ residual)

    for row in out.itertuples(index=False):
        g, s = row.rater_group, row.subject_group
        full, _, _ = _slow_pairs(df, {r: float(groups[r] == g) for r in reviewers}, s)
        fit = Logit(z, full.iloc[:, 1:]).fit(disp=0, method="newton", tol=1e-12)
        assert row.effect == pytest.approx(fit.params["interaction"], abs=1e-6)
        observed = score(groups, g, s)
        exceed = sum(abs(score({r: groups[reviewers[j]] for r, j in
                                zip(reviewers, perm, strict=True)}, g, s))
                     >= abs(observed) - 1e-12 for perm in perms[:30])
        # The first 30 permutations by the loop; all of them by the vectorised code.
        assert row.p_value >= (1 + 0) / (1 + n_perm)
        assert exceed <= 30
    assert out["p_adjusted"].to_numpy() == pytest.approx(
        multipletests(out["p_value"], method="fdr_bh")[1])
    assert len(out) == 9 and (out["n_cases"] > 0).all()


def test_drf_score_permutation_p_value_matches_a_loop() -> None:
    df = _random_ratings(12, n_cases=30)
    groups = {"a": "g", "b": "g", "c": "g", "d": "h", "e": "h", "f": "h"}
    n_perm, seed = 40, 9
    out = differential_rater_functioning(df, groups, n_permutations=n_perm,
                                         random_state=seed)
    reviewers = sorted(groups)
    fit = human_bias._PairFit.build(
        df, np.array(reviewers, dtype=object),
        np.searchsorted(["x", "y", "z"], df.groupby("case_id")["subject_group"].first()))
    residual = fit.z - fit.p
    perms = np.argsort(np.random.default_rng(seed).random((n_perm, len(reviewers))), axis=1)
    for row in out.itertuples(index=False):
        s = "xyz".index(row.subject_group)

        def score(labels: list[str], g: str = row.rater_group, s: int = s) -> float:
            total = 0.0
            for a, b, subj, e in zip(fit.a, fit.b, fit.subject, residual, strict=True):
                if subj == s:
                    total += ((labels[a] == g) - (labels[b] == g)) * e
            return total

        labels = [groups[r] for r in reviewers]
        observed = score(labels)
        exceed = sum(abs(score([labels[j] for j in perm])) >= abs(observed) - 1e-12
                     for perm in perms)
        assert row.p_value == pytest.approx((1 + exceed) / (1 + n_perm))


def test_drf_by_hand() -> None:
    # g says 1 and h says 0 on every x case; the reverse on every y case: g is more
    # lenient on x (positive effect) and harsher on y; the cells mirror each other.
    df = pd.DataFrame({"case_id": [1, 1, 2, 2, 3, 3, 4, 4],
                       "reviewer_id": ["a", "b"] * 4, "label": [1, 0, 0, 1] * 2,
                       "subject_group": ["x", "x", "y", "y"] * 2})
    out = differential_rater_functioning(df, {"a": "g", "b": "h"}, n_permutations=20)
    got = out.set_index(["rater_group", "subject_group"])
    assert got.loc[("g", "x"), "effect"] > 0 > got.loc[("g", "y"), "effect"]
    assert got.loc[("g", "x"), "effect"] == pytest.approx(-got.loc[("h", "x"), "effect"])
    assert got["n_cases"].tolist() == [2, 2, 2, 2]


# ---------------------------------------------------------------- automation bias


def test_automation_bias_by_hand_and_per_reviewer() -> None:
    df = pd.DataFrame({"case_id": [1, 2, 3, 4] * 2, "reviewer_id": list("aaaabbbb"),
                       "label": [1, 1, 0, 1, 1, 0, 1, 0], "model_decision": [1] * 8,
                       "model_shown": [True, True, False, False] * 2,
                       "truth": [0, 0, 0, 1] * 2})
    est = automation_bias(df, n_boot=200)
    # shown: 1, 1, 1, 0 agree (3/4); hidden: 0, 1, 1, 0 (2/4)
    assert (est.value, est.agree_shown, est.agree_hidden) == (0.25, 0.75, 0.5)
    assert est.copy_rate == pytest.approx(0.25 / 0.5)
    assert (est.n_shown, est.n_hidden, est.n_reviewers) == (4, 4, 2)
    per = automation_bias(df, by="reviewer_id", n_boot=200).set_index("reviewer_id")
    assert per.loc["a", "value"] == pytest.approx(1 - 0.5) and per.loc["b", "value"] == 0.0
    assert per.loc["a", "ci_low"] <= 0.5 <= per.loc["a", "ci_high"]
    # wrong model on rows with truth 0: a follows 1, 1 shown vs 0 hidden; b 1, 0 vs 1
    wrong = over_reliance(df, n_boot=100)
    assert wrong.value == pytest.approx(3 / 4 - 1 / 2)


def test_cluster_bootstrap_resamples_whole_reviewers() -> None:
    df = _random_ratings(2, n_cases=60)
    n_boot, seed = 300, 9
    est = automation_bias(df, n_boot=n_boot, random_state=seed, interval="bootstrap")
    reviewers = sorted(df["reviewer_id"].unique())
    weights = np.random.default_rng(seed).multinomial(
        len(reviewers), [1 / len(reviewers)] * len(reviewers), size=n_boot)
    effects = []
    for w in weights:
        sample = pd.concat([df[df["reviewer_id"] == r] for r, k in zip(reviewers, w,
                                                                        strict=True)
                            for _ in range(k)])
        agree = sample["label"] == sample["model_decision"]
        shown = sample["model_shown"]
        effects.append(agree[shown].mean() - agree[~shown].mean())
    lo, hi = np.quantile(effects, [0.025, 0.975])
    assert (est.ci_low, est.ci_high) == pytest.approx((lo, hi))
    agree = df["label"] == df["model_decision"]
    assert est.value == pytest.approx(agree[df["model_shown"]].mean()
                                      - agree[~df["model_shown"]].mean())


def test_heterogeneity_test_separates_equal_from_different_group_effects() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    shown = rng.random(n) < 0.5
    group = np.where(np.arange(n) % 2 == 0, "x", "y")
    base = rng.random(n) < 0.5
    df = pd.DataFrame({"case_id": np.arange(n), "reviewer_id": rng.integers(0, 20, n),
                       "model_decision": 1, "model_shown": shown, "subject_group": group})
    # Only group x copies the model when shown.
    copies = shown & (group == "x") & (rng.random(n) < 0.5)
    different = automation_bias_heterogeneity(df.assign(label=(base | copies).astype(int)),
                                              n_boot=400)
    same = automation_bias_heterogeneity(df.assign(label=base.astype(int)), n_boot=400)
    assert different.df == 1 and different.p_value < 0.001
    assert same.p_value > 0.01
    table = automation_bias(df.assign(label=(base | copies).astype(int)), by="subject_group",
                            n_boot=200).set_index("subject_group")
    assert table.loc["x", "value"] > 0.15 and abs(table.loc["y", "value"]) < 0.06


# ---------------------------------------------------------------- reviewer fairness


def test_reviewer_fairness_reuses_the_model_audit_on_each_reviewer_slice() -> None:
    df = _random_ratings(1, n_cases=120, per_case=4)
    out = reviewer_fairness(df, n_boot=100)
    mine = df[df["reviewer_id"] == "c"]
    got = out[out["rater"] == "c"].set_index(["metric", "group"])
    for s, part in mine.groupby("subject_group"):
        assert got.loc[("selection_rate", s), "value"] == pytest.approx(part["label"].mean())
        known = part[part["truth"].notna()]
        tpr = known.loc[known["truth"] == 1, "label"].mean()
        fpr = known.loc[known["truth"] == 0, "label"].mean()
        assert got.loc[("true_positive_rate", s), "value"] == pytest.approx(tpr)
        assert got.loc[("false_positive_rate", s), "value"] == pytest.approx(fpr)
    audit = audit_fairness(mine[mine["truth"].notna()], y_true="truth", y_pred="label",
                           sensitive_features="subject_group", n_boot=100,
                           metrics=["true_positive_rate", "false_positive_rate"],
                           intersections=False, pos_label=1)
    d = audit.disparities.set_index(["metric", "group_label"])
    for (metric, s), row in d.iterrows():
        assert got.loc[(metric, s), "ratio"] == pytest.approx(row["ratio"], nan_ok=True)
        assert got.loc[(metric, s), "verdict"] == row["verdict"]
    assert not out["suppressed"].any() and set(out["rater"]) == set("abcdef")


def test_small_reviewer_groups_are_suppressed_not_computed() -> None:
    df = _random_ratings(1, n_cases=60)
    background = {"a": "old", "b": "old", "c": "old", "d": "young", "e": "young",
                  "f": "young"}
    out = reviewer_fairness(df, by=background, min_reviewers=3, n_boot=50)
    assert set(out["rater"]) == {"old", "young"} and (out["n_reviewers"] == 3).all()
    hidden = reviewer_fairness(df.assign(bg=df["reviewer_id"].map(background)), by="bg",
                               min_reviewers=4, n_boot=50)
    assert hidden["suppressed"].all() and hidden["metric"].isna().all() and len(hidden) == 2


# ------------------------------------------------------------------ drift and fatigue


def test_drift_bins_intervals_and_trend_against_scipy_and_statsmodels() -> None:
    rng = np.random.default_rng(4)
    n = 40
    truth = rng.integers(0, 2, n)
    tired = np.arange(n) >= 20  # the second half of the session is worse
    label = np.where(tired & (rng.random(n) < 0.5), 1 - truth, truth)
    df = pd.DataFrame({"case_id": np.arange(n), "reviewer_id": "a", "label": label,
                       "truth": truth, "position": np.arange(1, n + 1)})
    out = drift_and_fatigue(df, n_bins=2, n_permutations=4000)
    assert out["measure"].unique().tolist() == ["accuracy"]  # nobody else rated these
    correct = (label == truth).astype(int)
    first, second = correct[:20].sum(), correct[20:].sum()
    assert out["successes"].tolist() == [first, second] and out["n"].tolist() == [20, 20]
    lo, hi = proportion_confint(second, 20, method="wilson")
    assert (out.loc[1, "ci_low"], out.loc[1, "ci_high"]) == pytest.approx((lo, hi))
    rho = stats.spearmanr(np.arange(n), correct).statistic
    assert out.loc[0, "rho"] == pytest.approx(rho)
    # One reviewer: within-reviewer permutation is a plain permutation test of rho.
    exact = stats.permutation_test((correct,), lambda c: stats.spearmanr(np.arange(n),
                                   c).statistic, permutation_type="pairings",
                                   n_resamples=4000, random_state=0).pvalue
    assert out.loc[0, "trend_p"] == pytest.approx(exact, abs=0.03)


def test_drift_by_week_and_pairwise_agreement() -> None:
    # Two reviewers on the same 4 cases; they agree on 3. Weeks: Mon 1 Jan and Mon 8 Jan.
    df = pd.DataFrame({"case_id": [1, 2, 3, 4] * 2, "reviewer_id": list("aaaabbbb"),
                       "label": [1, 0, 1, 1, 1, 0, 1, 0],
                       "rated_at": ["2024-01-01", "2024-01-03", "2024-01-08", "2024-01-09"]
                       * 2})
    out = drift_and_fatigue(df, n_permutations=100)
    assert out["axis"].unique().tolist() == ["time"]
    assert out["bin_label"].tolist() == ["week of 2024-01-01", "week of 2024-01-08"]
    assert out["successes"].tolist() == [4, 2] and out["n"].tolist() == [4, 4]


# ------------------------------------------------------------------------- the report

KEYS = {"reviewers", "interactions", "automation_bias"}


def test_report_contract_keys_string_ids_and_nulls() -> None:
    df = pd.DataFrame({"case_id": [1, 1, 2, 2, 3], "reviewer_id": [7, 8, 7, 8, 9],
                       "label": [1, 1, 0, 1, 1]})
    out = reviewer_report(df, n_boot=20, n_permutations=20)
    assert set(out) == KEYS and out["interactions"] == [] and out["automation_bias"] is None
    assert [r["reviewer_id"] for r in out["reviewers"]] == ["7", "8", "9"]
    assert set(out["reviewers"][0]) == {"reviewer_id", "n", "severity", "flagged"}
    assert set(out["reviewers"][0]["severity"]) == {"value", "ci_low", "ci_high"}
    lonely = out["reviewers"][2]
    assert lonely["n"] == 0 and lonely["severity"] == {"value": None, "ci_low": None,
                                                       "ci_high": None}
    json.dumps(out, allow_nan=False)


def test_report_with_groups_and_the_model_shown() -> None:
    df = _random_ratings(6, n_cases=30)
    groups = {"a": "g", "b": "g", "c": "g", "d": "h", "e": "h", "f": "h"}
    out = reviewer_report(df, rater_groups=groups, n_boot=50, n_permutations=50)
    assert len(out["interactions"]) == 6
    assert set(out["interactions"][0]) == {"rater_group", "subject_group", "effect",
                                           "p_value", "p_adjusted", "flagged"}
    est = automation_bias(df, n_boot=50)
    assert out["automation_bias"] == {"value": est.value, "ci_low": est.ci_low,
                                      "ci_high": est.ci_high}
    assert reviewer_report(df.drop(columns="subject_group"),
                           rater_groups=groups, n_boot=10, n_permutations=10)[
        "interactions"] == []
    json.dumps(out, allow_nan=False)

"""Benchmark: fairpanel's Dawid-Skene against crowd-kit's on the same simulated reviews.

Simulates N cases, each rated by a few distinct reviewers of varied accuracy (wrong
answers uniform over the other classes), and fits :class:`audits.raters.consensus.DawidSkene`
until it converges (the largest change of a posterior below ``tol``), then
``crowdkit.aggregation.DawidSkene`` for exactly as many iterations from the same start,
one after the other in this process. (crowd-kit's own rule stops when its ELBO stops
rising by ``tol``, which on small tables can be after a handful of iterations, long
before the posteriors settle; so it is run for fairpanel's count, ``tol=-inf``.) Prints the
label agreement (target >= 99.9%), each one's accuracy against the simulated truth, majority vote's
accuracy for reference, and the time ratio crowd-kit / fairpanel.

    python benchmarks/consensus_vs_crowdkit.py            # 100,000 cases x 5, 200 reviewers
    python benchmarks/consensus_vs_crowdkit.py --quick    # 5,000 cases
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audits.raters.consensus import DawidSkene, majority_vote  # noqa: E402


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the benchmark; return the headline figures (also printed)."""
    args = _parser().parse_args(argv)
    cases = args.cases if args.cases is not None else (5_000 if args.quick else 100_000)
    ratings, truth = simulate(cases, args.reviewers, args.per_case, args.classes,
                              args.random_state)
    print(f"cases: {cases:,}; ratings: {len(ratings):,} from {args.reviewers} reviewers "
          f"({args.per_case} per case, {args.classes} classes); n_iter={args.n_iter}, "
          f"tol={args.tol:g}")

    start = time.perf_counter()
    ours = DawidSkene(n_iter=args.n_iter, tol=args.tol, smoothing=args.smoothing).fit(ratings)
    our_seconds = time.perf_counter() - start
    print(f"fairpanel: {our_seconds:.2f} s, {ours.n_iter_} iterations")

    theirs, their_seconds = _crowdkit(ratings, ours.n_iter_, -np.inf)
    print(f"crowd-kit: {their_seconds:.2f} s, {len(theirs.loss_history_)} iterations")

    their_labels = theirs.labels_.reindex(ours.labels_.index).to_numpy()
    their_probas = theirs.probas_.reindex(index=ours.probas_.index,
                                          columns=ours.probas_.columns).to_numpy()
    figures = {
        "agreement": float((their_labels == ours.labels_.to_numpy()).mean()),
        "max_posterior_diff": float(np.abs(their_probas - ours.probas_.to_numpy()).max()),
        "accuracy_fairpanel": float((ours.labels_.to_numpy() == truth).mean()),
        "accuracy_crowdkit": float((their_labels == truth).mean()),
        "accuracy_majority": float((majority_vote(ratings, tie_break="lowest")["label"]
                                    .to_numpy() == truth).mean()),
        "time_ratio": their_seconds / our_seconds,
        "time_ratio_per_iteration": (their_seconds / len(theirs.loss_history_))
        / (our_seconds / ours.n_iter_),
    }
    print(f"label agreement: {figures['agreement']:.4%} (target >= 99.9%); "
          f"max |posterior diff| {figures['max_posterior_diff']:.2e}")
    print(f"accuracy vs truth: fairpanel {figures['accuracy_fairpanel']:.4f}, crowd-kit "
          f"{figures['accuracy_crowdkit']:.4f}, majority vote {figures['accuracy_majority']:.4f}")
    print(f"time ratio crowd-kit / fairpanel: {figures['time_ratio']:.1f}x "
          f"({figures['time_ratio_per_iteration']:.1f}x per iteration)")
    return figures


def simulate(
    n_cases: int, n_reviewers: int, per_case: int, n_classes: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Reviews by reviewers whose accuracies range from 0.55 to 0.95; the true labels."""
    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.55, 0.95, n_reviewers)
    truth = rng.integers(0, n_classes, n_cases)
    # Distinct reviewers per case: a random start plus positive steps that sum below n.
    steps = rng.integers(1, n_reviewers // per_case, (n_cases, per_case))
    reviewers = (rng.integers(0, n_reviewers, n_cases)[:, None] + steps.cumsum(axis=1))
    reviewers = (reviewers % n_reviewers).ravel()
    true = np.repeat(truth, per_case)
    correct = rng.random(true.size) < accuracy[reviewers]
    wrong = (true + rng.integers(1, n_classes, true.size)) % n_classes
    ratings = pd.DataFrame({"case_id": np.repeat(np.arange(n_cases), per_case),
                            "reviewer_id": reviewers, "label": np.where(correct, true, wrong)})
    return ratings, truth


def _crowdkit(ratings: pd.DataFrame, n_iter: int, tol: float) -> tuple[Any, float]:
    from crowdkit.aggregation import DawidSkene as CrowdKitDawidSkene

    data = ratings.rename(columns={"case_id": "task", "reviewer_id": "worker"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # crowd-kit's pandas deprecation warnings
        start = time.perf_counter()
        model = CrowdKitDawidSkene(n_iter=n_iter, tol=tol).fit(data)
        seconds = time.perf_counter() - start
    return model, seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=None,
                        help="simulated cases (default 100,000; 5,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small run for a smoke test")
    parser.add_argument("--reviewers", type=int, default=200)
    parser.add_argument("--per-case", type=int, default=5, help="ratings per case")
    parser.add_argument("--classes", type=int, default=3, choices=(2, 3))
    parser.add_argument("--n-iter", type=int, default=10_000)
    parser.add_argument("--tol", type=float, default=1e-7)
    parser.add_argument("--smoothing", type=float, default=0.0,
                        help="fairpanel's pseudo-count (default 0, as crowd-kit has none)")
    parser.add_argument("--random-state", type=int, default=0)
    return parser


if __name__ == "__main__":
    main()

"""Benchmark: fairpanel's Krippendorff's alpha against the `krippendorff` package.

(a) Nominal alpha on 100,000 cases x 5 ratings from 200 reviewers: equal values (abs
    difference printed) and the time ratio reference / fairpanel (target >= 1).
(b) Ordinal alpha on 20,000 cases x 5 ratings on a 0-100 scale: equal values, the time
    ratio (target >= 20x) and the ratio of peak traced memory (tracemalloc; target:
    fairpanel at most a fifth of the reference). The reference builds a cases x
    categories x categories array; when its estimated peak would not fit in the
    available memory it runs on fewer cases and its time and memory are EXTRAPOLATED
    linearly in the number of cases (the output says so).

fairpanel is timed from the long ratings table (validation included); the reference
from its raters x cases matrix, built outside the timing.

    python benchmarks/agreement_vs_reference.py           # full size
    python benchmarks/agreement_vs_reference.py --quick   # tiny size, a smoke test
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audits.raters.agreement import krippendorff_alpha  # noqa: E402

REVIEWERS = 200
RATINGS_PER_CASE = 5


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the benchmark; return the headline figures (also printed)."""
    args = _parser().parse_args(argv)
    nominal_cases = args.nominal_cases or (2_000 if args.quick else 100_000)
    ordinal_cases = args.ordinal_cases or (500 if args.quick else 20_000)
    rng = np.random.default_rng(args.random_state)
    figures = _nominal(nominal_cases, rng, args.repeat)
    figures |= _ordinal(ordinal_cases, rng, args.repeat)
    if not args.skip_consensus:
        # (c) Dawid-Skene against crowd-kit lives in its own script; run it here too so
        # one command prints every figure of the panel statistics.
        print("(c) Dawid-Skene against crowd-kit (benchmarks/consensus_vs_crowdkit.py):")
        consensus = _consensus_module()
        figures |= {f"consensus_{k}": v for k, v in consensus.main(
            ["--quick"] if args.quick else []).items()}
    return figures


def _consensus_module() -> Any:
    path = Path(__file__).resolve().parent / "consensus_vs_crowdkit.py"
    spec = importlib.util.spec_from_file_location("consensus_vs_crowdkit", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nominal(n_cases: int, rng: np.random.Generator, repeat: int) -> dict[str, float]:
    ratings = _ratings(n_cases, 5, rng)
    matrix = _reliability(ratings, n_cases)
    ours, fast = _timed(lambda: krippendorff_alpha(ratings), repeat)
    ref, slow = _timed(lambda: krippendorff.alpha(matrix, level_of_measurement="nominal"), 1)
    diff, ratio = abs(ours - ref), slow / fast
    print(f"(a) nominal alpha, {n_cases:,} cases x {RATINGS_PER_CASE} ratings from "
          f"{REVIEWERS} reviewers: fairpanel {ours:.12f}, krippendorff {ref:.12f}, "
          f"abs diff {diff:.2e}")
    print(f"(a) time: fairpanel {fast:.3f} s, krippendorff {slow:.3f} s; "
          f"time ratio reference / fairpanel {ratio:.1f}x (target >= 1)")
    return {"nominal_abs_diff": diff, "nominal_time_ratio": ratio}


def _ordinal(n_cases: int, rng: np.random.Generator, repeat: int) -> dict[str, float]:
    ratings = _ratings(n_cases, 101, rng)
    n_ref = _reference_cases(n_cases, 101)
    ours, fast = _timed(lambda: krippendorff_alpha(ratings, level="ordinal"), repeat)
    ours_peak = _peak(lambda: krippendorff_alpha(ratings, level="ordinal"))
    sub = ratings[ratings["case_id"] < n_ref]
    matrix = _reliability(sub, n_ref)
    ref, slow = _timed(lambda: krippendorff.alpha(matrix, level_of_measurement="ordinal"), 1)
    ref_peak = _peak(lambda: krippendorff.alpha(matrix, level_of_measurement="ordinal"))
    scale = n_cases / n_ref
    if n_ref < n_cases:
        ours = krippendorff_alpha(sub, level="ordinal")  # compare values on the same cases
        print(f"(b) the reference would need about {_estimate_bytes(n_cases, 101) / 1e9:.1f} "
              f"GB at {n_cases:,} cases, more than is available: it ran on {n_ref:,} cases "
              f"and its time and memory are EXTRAPOLATED x{scale:.1f} to {n_cases:,} cases")
    diff, ratio, mem_ratio = abs(ours - ref), slow * scale / fast, ref_peak * scale / ours_peak
    print(f"(b) ordinal alpha, {n_cases:,} cases on a 0-100 scale: fairpanel {ours:.12f}, "
          f"krippendorff {ref:.12f}, abs diff {diff:.2e}")
    print(f"(b) time: fairpanel {fast:.3f} s, krippendorff {slow * scale:.3f} s; "
          f"time ratio reference / fairpanel {ratio:.1f}x (target >= 20x)")
    print(f"(b) peak memory (tracemalloc): fairpanel {ours_peak / 1e6:.1f} MB, krippendorff "
          f"{ref_peak * scale / 1e6:.1f} MB; memory ratio reference / fairpanel "
          f"{mem_ratio:.1f}x (target >= 5x)")
    return {"ordinal_abs_diff": diff, "ordinal_time_ratio": ratio,
            "ordinal_memory_ratio": mem_ratio, "fairpanel_peak_mb": ours_peak / 1e6,
            "reference_peak_mb": ref_peak * scale / 1e6, "reference_extrapolated": scale}


def _ratings(n_cases: int, n_labels: int, rng: np.random.Generator) -> pd.DataFrame:
    """Each case: 5 distinct reviewers of 200; labels agree more often than chance."""
    reviewers = np.argsort(rng.random((n_cases, REVIEWERS)), axis=1)[:, :RATINGS_PER_CASE]
    truth = rng.integers(0, n_labels, n_cases)
    noise = rng.integers(-3, 4, (n_cases, RATINGS_PER_CASE))
    labels = np.clip(truth[:, None] + noise, 0, n_labels - 1)
    labels = np.where(rng.random(labels.shape) < 0.3,
                      rng.integers(0, n_labels, labels.shape), labels)
    return pd.DataFrame({"case_id": np.repeat(np.arange(n_cases), RATINGS_PER_CASE),
                         "reviewer_id": reviewers.ravel(), "label": labels.ravel()})


def _reliability(ratings: pd.DataFrame, n_cases: int) -> np.ndarray:
    """The reference's input: reviewers x cases, NaN where a reviewer did not rate."""
    matrix = np.full((REVIEWERS, n_cases), np.nan)
    matrix[ratings["reviewer_id"].to_numpy(), ratings["case_id"].to_numpy()] = ratings["label"]
    return matrix


def _estimate_bytes(n_cases: int, n_labels: int) -> float:
    # value counts (cases x reviewers x labels bools) and ~4 float64 cases x labels^2 arrays
    return n_cases * (REVIEWERS * n_labels + 4 * 8 * n_labels**2)


def _reference_cases(n_cases: int, n_labels: int) -> int:
    available = _available_bytes()
    if _estimate_bytes(n_cases, n_labels) <= 0.5 * available:
        return n_cases
    return max(100, int(n_cases * 0.5 * available / _estimate_bytes(n_cases, n_labels)))


def _available_bytes() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 4e9


def _timed(run: Callable[[], float], repeat: int) -> tuple[float, float]:
    best, value = float("inf"), float("nan")
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        value = float(run())
        best = min(best, time.perf_counter() - start)
    return value, best


def _peak(run: Callable[[], float]) -> float:
    tracemalloc.start()
    try:
        run()
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    parser.add_argument("--nominal-cases", type=int, default=None,
                        help="cases of (a) (default 100,000; 2,000 with --quick)")
    parser.add_argument("--ordinal-cases", type=int, default=None,
                        help="cases of (b) (default 20,000; 500 with --quick)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="fairpanel runs per timing, the fastest counts (default 3)")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--skip-consensus", action="store_true",
                        help="leave out (c), Dawid-Skene against crowd-kit")
    return parser


if __name__ == "__main__":
    main()

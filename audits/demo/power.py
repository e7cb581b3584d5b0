"""How often the panel analysis finds the demo panel's injected biases, over seeds.

The demo's simulated panel (:mod:`audits.demo.panel`) carries three injected biases: a
severe reviewer, a background group that favours men applicants over women, and automation
bias. One demo is one draw; what the documentation may promise is the rate at which the
page's analysis (:func:`audits.raters.stored.analyse_panel`, cases grouped by ``sex``, as
the reviewer-bias page groups them by default) finds each bias over many draws.

:func:`demo_power` prepares the demo's queue once, then for each seed copies that store,
lets a panel drawn with the seed rate it, and reads the analysis. Run it with::

    python -m audits.demo.power --dataset adult --seeds 10
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audits.demo.panel import (
    FAVOUR,
    FAVOURED,
    HARSH_GROUP,
    HARSH_ON,
    LEAD,
    LENIENCY,
    SEVERE_REVIEWER,
    SEVERITY,
    ensure_demo_panel,
)
from audits.demo.queue import ensure_demo_queue
from audits.raters.stored import analyse_panel
from audits.roles import Actor
from audits.store import Store

__all__ = ["MEASURED", "DemoPower", "SeedFinding", "demo_power", "power_statement"]

MSG_SEEDS = "seeds must be a non-empty list of integers, got {value!r}"
#: What ``python -m audits.demo.power --dataset adult --seeds 10`` printed (issue 17, the
#: severity and DRF models of :mod:`audits.raters.human_bias` on the log-odds scale, the
#: severity flags by the score test):
#: panels, panels where the group effect was found, where the severe reviewer was
#: flagged, and other reviewers flagged over all panels. Checked by
#: tests/demo/test_demo_power.py (slow).
MEASURED = {"seeds": 10, "group": 9, "severe": 10, "others": 0}
#: The sensitive feature the reviewer-bias page groups cases by, by default.
SUBJECT_ATTRIBUTE = HARSH_ON.split("=")[0]


@dataclass(frozen=True)
class SeedFinding:
    """What the analysis found in one simulated panel."""

    seed: int
    severe_flagged: bool
    other_flagged: int
    drf_effect: float
    drf_p_adjusted: float
    drf_flagged: bool
    automation_low: float
    automation_found: bool


@dataclass(frozen=True)
class DemoPower:
    """Detection rates of the three injected biases over seeds."""

    dataset: str
    findings: tuple[SeedFinding, ...]

    def rates(self) -> dict[str, float]:
        """Return the share of seeds in which each bias was found."""
        n = len(self.findings)
        return {"severe reviewer": sum(f.severe_flagged for f in self.findings) / n,
                "reviewer group x subject group": sum(f.drf_flagged for f in self.findings) / n,
                "automation bias": sum(f.automation_found for f in self.findings) / n}

    def summary(self) -> str:
        """Return the rates as lines of text, one per bias, then one line per seed."""
        n = len(self.findings)
        lines = [f"{self.dataset}: {n} simulated panels (seeds "
                 f"{', '.join(str(f.seed) for f in self.findings)})"]
        lines += [f"  {name}: found in {round(rate * n)} of {n}"
                  for name, rate in self.rates().items()]
        lines += [f"  seed {f.seed}: severe flagged {f.severe_flagged} (others flagged "
                  f"{f.other_flagged}); {HARSH_GROUP[1]} x {HARSH_ON} effect "
                  f"{f.drf_effect:+.3f}, adjusted p {f.drf_p_adjusted:.3g}; automation "
                  f"bias low {f.automation_low:+.3f}" for f in self.findings]
        return "\n".join(lines)


def power_statement() -> str:
    """Return the sentence the reviewer-bias page shows on a simulated panel.

    It states how often the analysis finds the demo's injected biases over seeded
    panels (:data:`MEASURED`), so a visitor reads one demo as one draw.
    """
    n = MEASURED["seeds"]
    return (f"This panel is simulated, with injected biases. Reviewers reporting "
            f"{HARSH_GROUP[0]} \"{HARSH_GROUP[1]}\" are {-LENIENCY:g} log-odds harsher on "
            f"{HARSH_ON} applicants and {FAVOUR:g} more lenient on {FAVOURED} applicants (an "
            f"interaction of {FAVOUR - LENIENCY:g} log-odds): over {n} seeded panels of "
            f"the Adult demo this group effect was found in {MEASURED['group']} of {n} "
            f"(power). One reviewer is {SEVERITY:g} log-odds harsher "
            f"on every case: flagged in {MEASURED['severe']} of {n}; "
            f"{MEASURED['others']} other reviewer(s) flagged over the {n} panels. "
            f"Measured by `python -m audits.demo.power --seeds {n}`.")


def demo_power(seeds: Sequence[int], *, dataset: str = "adult",
               workdir: Path | None = None) -> DemoPower:
    """Measure how often the demo panel's injected biases are found, one panel per seed.

    Parameters
    ----------
    seeds : sequence of int
        Seeds of :func:`audits.demo.panel.ensure_demo_panel` (the demo itself uses 0).
    dataset : str, default "adult"
        The bundled demo dataset.
    workdir : path or None
        Where the stores go (a temporary folder, removed afterwards, when None).

    Returns
    -------
    DemoPower
    """
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds):
        raise ValueError(MSG_SEEDS.format(value=seeds))
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        template = Path(tmp) / "template"
        template.mkdir()
        previous = os.environ.get("FAIRPANEL_HOME")
        os.environ["FAIRPANEL_HOME"] = str(template)  # the model file goes there
        try:
            with Store(f"sqlite:///{template / 'fairpanel.db'}") as store:
                run_id = ensure_demo_queue(store, dataset=dataset).queue.audit_run.id
            findings = tuple(_one(template, Path(tmp) / f"seed-{s}", run_id, s) for s in seeds)
        finally:
            if previous is None:
                os.environ.pop("FAIRPANEL_HOME", None)
            else:
                os.environ["FAIRPANEL_HOME"] = previous
    return DemoPower(dataset, findings)


def _one(template: Path, home: Path, run_id: int, seed: int) -> SeedFinding:
    home.mkdir()
    for file in template.glob("fairpanel.db*"):
        shutil.copy2(file, home / file.name)
    lead = Actor(LEAD.username, LEAD.role)
    with Store(f"sqlite:///{home / 'fairpanel.db'}") as store:
        ensure_demo_panel(store, run_id, random_state=seed)
        analysis = analyse_panel(store, lead, run_id, attribute=HARSH_GROUP[0],
                                 subject_attribute=SUBJECT_ATTRIBUTE)
        severe = next(r.display_name for r in store.list_reviewers(lead)
                      if r.username == SEVERE_REVIEWER)
    severity = analysis.severity  # named: the panel lead reads every rating
    flagged = set() if severity is None else set(
        severity.loc[severity["flagged"].astype(bool), "reviewer_id"].astype(str))
    drf = analysis.drf
    cell = drf[(drf["rater_group"] == HARSH_GROUP[1]) & (drf["subject_group"] == HARSH_ON)]
    effect = float(cell["effect"].iloc[0]) if len(cell) else float("nan")
    p_adjusted = float(cell["p_adjusted"].iloc[0]) if len(cell) else float("nan")
    automation = analysis.automation
    low = float(automation.ci_low) if automation is not None else float("nan")
    return SeedFinding(seed=seed, severe_flagged=severe in flagged,
                       other_flagged=len(flagged - {severe}), drf_effect=effect,
                       drf_p_adjusted=p_adjusted,
                       drf_flagged=bool(len(cell)) and bool(cell["flagged"].iloc[0])
                       and effect < 0,
                       automation_low=low, automation_found=low > 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the detection rates (``python -m audits.demo.power``)."""
    parser = argparse.ArgumentParser(prog="python -m audits.demo.power",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--seeds", type=int, default=10, help="panels 0..N-1 (default 10)")
    args = parser.parse_args(argv)
    print(demo_power(list(range(args.seeds)), dataset=args.dataset).summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

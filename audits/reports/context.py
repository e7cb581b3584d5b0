"""What a report is assembled from: the stored run and the panel's stored ratings.

:class:`Context` is read by every section (:mod:`audits.reports.sections`,
:mod:`audits.reports.oversight`); it lives here so the sections need not import each other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from audits.raters.stored import PanelAnalysis, analyse_panel
from audits.roles import Actor
from audits.store import AuditRunRecord, DatasetRecord, ModelRecord, Store

__all__ = ["FOUR_FIFTHS", "PANEL_N_BOOT", "Context", "PanelLoad", "load_panel"]

FOUR_FIFTHS = 0.8
#: Bootstrap replicates and permutations of the panel statistics in a report.
PANEL_N_BOOT = 200


@dataclass(frozen=True)
class PanelLoad:
    """An audit's stored ratings and, when there are enough, their analysis."""

    ratings: list[dict[str, Any]] = field(repr=False)
    progress: dict[str, int]
    analysis: PanelAnalysis | None
    note: str

    @property
    def simulated_share(self) -> float:
        """Share of the ratings tagged ``simulated`` (0 without ratings)."""
        if not self.ratings:
            return 0.0
        return sum(bool(r.get("simulated")) for r in self.ratings) / len(self.ratings)


def load_panel(store: Store, actor: Actor, audit_run_id: int,
               config: dict[str, Any]) -> PanelLoad:
    """Read an audit's ratings and analyse them (``analysis`` None when too few)."""
    ratings = store.ratings_for_analysis(actor, audit_run_id)
    progress = store.panel_progress(actor, audit_run_id)
    schema = store.background_schema()
    attribute = "gender" if "gender" in schema else next(iter(schema), "gender")
    features = list(config.get("sensitive_features") or [])
    try:
        analysis = analyse_panel(store, actor, audit_run_id, attribute=attribute,
                                 subject_attribute=features[0] if features else None,
                                 n_boot=PANEL_N_BOOT, n_permutations=PANEL_N_BOOT,
                                 random_state=0)
    except ValueError as error:
        return PanelLoad(ratings, progress, None, str(error))
    return PanelLoad(ratings, progress, analysis, "")



@dataclass(frozen=True)
class Context:
    """What a report is assembled from: the run and what is stored beside it."""

    store: Store = field(repr=False)
    actor: Actor
    run: AuditRunRecord
    results: dict[str, Any] = field(repr=False)
    dataset: DatasetRecord
    model: ModelRecord | None
    card: dict[str, str]
    known_issues: tuple[str, ...]
    dataset_title: str
    description: str
    panel: PanelLoad

    @property
    def audit_config(self) -> dict[str, Any]:
        """The audit's own configuration (``AuditConfig.as_dict``)."""
        return dict(self.results.get("config", {}))

    @property
    def favourable(self) -> bool:
        """Whether a positive decision is good for the person."""
        return bool(self.audit_config.get("positive_is_favourable",
                                          self.run.config.get("favourable", True)))

    @property
    def tau(self) -> float:
        """The rule's lower ratio bound."""
        return float(self.run.config.get("tau", FOUR_FIFTHS))

    @property
    def level_pct(self) -> str:
        """The interval level in percent, e.g. ``"95"``."""
        return f"{100 * float(self.audit_config.get('level', 0.95)):g}"

    @property
    def positive_phrase(self) -> str:
        """What a positive decision is, e.g. ``"high_risk = 1: reoffended ..."``."""
        label = dict(self.dataset.roles).get("positive_label") or "positive"
        return f"{self.audit_config.get('y_pred') or 'decision'} = 1, \"{label}\""

    @property
    def sensitive_features(self) -> list[str]:
        """The audited sensitive features, in the run's order."""
        return [str(f) for f in self.audit_config.get("sensitive_features", [])]

    @property
    def simulated_share(self) -> float:
        """Share of the stored ratings that were simulated (0 without ratings)."""
        return self.panel.simulated_share

    def group_n(self, attributes: Mapping[str, Any]) -> int:
        """Return the stored size of a group (0 when the audit has no such group)."""
        key = _key(attributes)
        return next((int(g["n"]) for g in self.results.get("groups", [])
                     if _key(g["attributes"]) == key), 0)

    def slice_groups(self, columns: Sequence[str]) -> list[dict[str, Any]]:
        """Return the stored groups of one slice (given by its columns, in any order)."""
        wanted = set(columns)
        return [g for g in self.results.get("groups", []) if set(g["attributes"]) == wanted]


def _key(attributes: Mapping[str, Any]) -> str:
    return json.dumps(dict(attributes), sort_keys=True)

"""The NYC Local Law 144 public summary of a bias audit, built from an approved report only.

An employer using an automated employment decision tool publishes the date of its most
recent bias audit, a summary of the results and the tool's distribution date (DCWP rules,
6 RCNY § 5-303): the source of the data (historical or test data, § 5-302), the selection
rates and impact ratios of every category of sex, race/ethnicity and their intersection,
the individuals in an unknown category, and the categories under 2% of the data left out
of the impact ratios, with the reason (§ 5-301). Every number is copied from the approved
report's stored body (the blocks ``ll144:<feature>`` and ``ll144:<f1>+<f2>`` of
:func:`audits.reports.sections.impact_ratio_section`, the identity and scope facts), never
recomputed; the summary names the report, its body sha256 and its approver. Its HTML and
PDF are drawn by :mod:`audits.evidence.ll144_render`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from itertools import permutations
from typing import Any

from audits.reports.report import body_sha256
from audits.store import ReportRecord, Store
from audits.store.signing import verify_signature

__all__ = ["KIND_INTERSECTION", "KIND_RACE", "KIND_SEX", "LL144Row", "LL144Summary",
           "LL144Table", "MSG_AMBIGUOUS", "MSG_BAD_ATTRIBUTE", "MSG_BAD_DATE",
           "MSG_BAD_REPORT_ID", "MSG_BODY_CHANGED", "MSG_NOT_APPROVED", "MSG_NO_TABLES",
           "MSG_SAME_ATTRIBUTE", "MSG_UNKNOWN_ATTRIBUTE", "MSG_UNKNOWN_REPORT", "NOT_GIVEN",
           "RULES", "UNKNOWN_MARKERS", "example_summary", "ll144_summary"]

MSG_BAD_REPORT_ID = "report_id must be an int; got {value!r}"
MSG_UNKNOWN_REPORT = "no report with id {id}"
MSG_NOT_APPROVED = ("report {id} is {status}; a Local Law 144 summary is published from an "
                    "approved report only")
MSG_BODY_CHANGED = ("report {id} does not match its signed approval (body sha256 {actual}, "
                    "signed {signed}, or the signature does not verify); verify it first")
MSG_BAD_DATE = "distribution_date must be a datetime.date or None; got {value!r}"
MSG_BAD_ATTRIBUTE = "{role}_attribute must be a str or None; got {value!r}"
MSG_UNKNOWN_ATTRIBUTE = ("{role}_attribute {name!r} has no impact-ratio table in report {id}; "
                         "its audited sensitive features: {choices}")
MSG_AMBIGUOUS = ("report {id} audits several {role} features ({names}); name one with "
                 "{role}_attribute")
MSG_NO_TABLES = "report {id} holds no Local Law 144 impact-ratio table (block id 'll144:...')"
MSG_SAME_ATTRIBUTE = "sex_attribute and race_attribute are both {name!r}; name two features"

KIND_SEX, KIND_RACE = "sex", "race/ethnicity"
KIND_INTERSECTION = "intersection of sex and race/ethnicity"
NOT_GIVEN = "not given"
#: Feature names read as sex, and as race/ethnicity (compared ignoring case).
SEX_NAMES = ("sex", "gender")
RACE_NAMES = ("race", "ethnicity", "race_ethnicity", "race-ethnicity", "race/ethnicity")
#: Category values counted as unknown (compared stripped, ignoring case); ``<missing>`` and
#: ``(missing)`` are the groups fairpanel makes of missing values.
UNKNOWN_MARKERS = frozenset({"unknown", "not given", "not stated", "not reported",
                             "prefer not to say", "?", "", "nan", "none", "missing",
                             "<missing>", "(missing)"})
#: The rules cited; checked against reproductions of the DCWP rule text (§ 5-302 in full,
#: §§ 5-301 and 5-303 in quoted parts and summaries), not the City's own publication.
RULES = (("6 RCNY § 5-301", "bias audit: selection rates and impact ratios for sex, "
          "race/ethnicity and intersectional categories; individuals in an unknown category; "
          "categories under 2% of the data may be excluded from the impact ratios"),
         ("6 RCNY § 5-302", "historical data, or test data with the reason and how it was made"),
         ("6 RCNY § 5-303", "published results: date of the most recent bias audit, summary "
          "of its results, distribution date of the tool"))
_PREFIX = "ll144:"


@dataclass(frozen=True)
class LL144Row:
    """One category row as the report states it: ``category`` is its label (``"race=Asian
    & sex=Male"``), ``values`` its values with sex first; ``unknown`` when any value is an
    unknown marker (:data:`UNKNOWN_MARKERS`)."""

    category: str
    values: tuple[str, ...]
    n: int
    share: float
    rate: float | None
    impact_ratio: float | None
    included: bool
    flag: bool
    note: str
    unknown: bool


@dataclass(frozen=True)
class LL144Table:
    """One impact-ratio table (sex, race/ethnicity or their intersection); ``n_left_out``
    is the rows audited minus the sum of its rows' n (rows left out for lack of a value)."""

    kind: str
    attributes: tuple[str, ...]
    table_id: str
    rows: tuple[LL144Row, ...]
    n_left_out: int

    @property
    def n_unknown(self) -> int:
        """Individuals in an unknown category: unknown-category rows plus rows left out."""
        return sum(r.n for r in self.rows if r.unknown) + self.n_left_out

    @property
    def excluded(self) -> tuple[LL144Row, ...]:
        """The categories the report left out of the impact ratios."""
        return tuple(r for r in self.rows if not r.included)


@dataclass(frozen=True)
class LL144Summary:
    """Everything the published summary states, copied from one approved report.

    The most recent bias audit is dated by the report's approval (:attr:`audit_date`);
    ``distribution_date`` None is stated as "not given"; ``missing_categories`` names the
    tables Local Law 144 requires that the report lacks.
    """

    report_id: int
    report_ref: str
    title: str
    body_sha256: str
    approved_by: str
    approved_at: datetime
    audit_run_id: int
    audit_run_at: datetime
    distribution_date: date | None
    system: str
    data_source: str
    dataset_sha256: str
    rows_audited: int
    historical_data: bool
    data_explanation: str
    rate_definition: str
    positive_label: str
    sex_attribute: str | None
    race_attribute: str | None
    tables: tuple[LL144Table, ...]
    missing_categories: tuple[str, ...]

    @property
    def audit_date(self) -> date:
        """The date of the most recent bias audit: the report's approval date (UTC)."""
        return self.approved_at.astimezone(UTC).date()

    @property
    def gaps(self) -> tuple[str, ...]:
        """What the publisher must still supply or fix before publishing."""
        found = [] if self.distribution_date else ["the distribution date is not given"]
        if not self.historical_data:
            found.append("test data: state why historical data was not used (§ 5-302(b))")
        found += [f"the report has no {kind} table" for kind in self.missing_categories]
        found += [f"unknown category {r.category} is counted in the impact ratios"
                  for t in self.tables for r in t.rows if r.unknown and r.included]
        return tuple(found)

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-safe values (dates in ISO 8601).

        Examples
        --------
        >>> d = example_summary().to_dict()
        >>> d["distribution_date"], d["tables"][0]["rows"][0]["values"], d["audit_date"]
        (None, ['Female'], '2026-01-02')
        """
        out = _json_safe(asdict(self))
        out["audit_date"], out["gaps"] = self.audit_date.isoformat(), list(self.gaps)
        for table, raw in zip(self.tables, out["tables"], strict=True):
            raw["n_unknown"] = table.n_unknown
        return dict(out)


def ll144_summary(store: Store, report_id: int, *, distribution_date: date | None = None,
                  sex_attribute: str | None = None,
                  race_attribute: str | None = None) -> LL144Summary:
    """Return the Local Law 144 summary of an approved report, every number copied from it.

    Parameters
    ----------
    store : Store
    report_id : int
        An approved report version (frozen and signed).
    distribution_date : datetime.date or None, default None
        When the tool was distributed; None is stated as "not given" (and is a gap).
    sex_attribute, race_attribute : str or None, default None
        The audited features that are sex and race/ethnicity; None finds them by name
        (sex/gender; race/ethnicity/race_ethnicity/race-ethnicity, ignoring case). One
        not found is named in ``missing_categories``, with the intersection.

    Returns
    -------
    LL144Summary
        The report's rows, copied. A table's unknown count is the n of its categories
        whose value is an unknown marker (:data:`UNKNOWN_MARKERS`; for the intersection,
        either value) plus the rows audited that are in none of its rows.

    Raises
    ------
    TypeError
        ``report_id``, ``distribution_date`` or an attribute has the wrong type.
    LookupError
        No report with this id (:data:`MSG_UNKNOWN_REPORT`).
    ValueError
        Not approved (:data:`MSG_NOT_APPROVED`), not matching its signature
        (:data:`MSG_BODY_CHANGED`), no impact-ratio table, or an attribute not audited or
        ambiguous.

    Examples
    --------
    >>> with Store("sqlite://") as store:
    ...     ll144_summary(store, 7)
    Traceback (most recent call last):
    ...
    LookupError: no report with id 7
    """
    _check_arguments(report_id, distribution_date, sex_attribute, race_attribute)
    record = store.get_report(report_id)
    if record is None:
        raise LookupError(MSG_UNKNOWN_REPORT.format(id=report_id))
    if not record.approved or record.manifest is None:
        raise ValueError(MSG_NOT_APPROVED.format(id=report_id, status=record.status))
    _check_signed(record)
    run = store.get_audit_run(record.audit_run_id)
    run_at = run.created_at if run is not None else record.created_at
    return _summary(record, run_at, distribution_date, sex_attribute, race_attribute)



def _check_arguments(report_id: object, distribution_date: object, sex: object,
                     race: object) -> None:
    if isinstance(report_id, bool) or not isinstance(report_id, int):
        raise TypeError(MSG_BAD_REPORT_ID.format(value=report_id))
    if distribution_date is not None and (isinstance(distribution_date, datetime)
                                          or not isinstance(distribution_date, date)):
        raise TypeError(MSG_BAD_DATE.format(value=distribution_date))
    for role, value in (("sex", sex), ("race", race)):
        if value is not None and not isinstance(value, str):
            raise TypeError(MSG_BAD_ATTRIBUTE.format(role=role, value=value))
    if sex is not None and sex == race:
        raise ValueError(MSG_SAME_ATTRIBUTE.format(name=sex))


def _check_signed(record: ReportRecord) -> None:
    manifest = record.manifest or {}
    actual = body_sha256(record.body)
    if not (actual == record.body_sha256 == manifest.get("body_sha256")
            and verify_signature(manifest, record.signature or "", record.public_key or "")):
        raise ValueError(MSG_BODY_CHANGED.format(id=record.id, actual=actual,
                                                 signed=manifest.get("body_sha256")))


def _summary(record: ReportRecord, run_at: datetime, distribution: date | None,
             sex_attribute: str | None, race_attribute: str | None) -> LL144Summary:
    body, manifest = record.body, record.manifest or {}
    facts = {str(k): str(v) for s in body.get("sections", []) for b in s.get("blocks", [])
             if b.get("type") == "facts" for k, v in b.get("rows", [])}
    blocks = {str(b["id"])[len(_PREFIX):]: b for s in body.get("sections", [])
              for b in s.get("blocks", []) if str(b.get("id", "")).startswith(_PREFIX)}
    if not blocks:
        raise ValueError(MSG_NO_TABLES.format(id=record.id))
    features = [k for k in blocks if "+" not in k]
    sex = _pick(record.id, features, sex_attribute, SEX_NAMES, "sex")
    race = _pick(record.id, features, race_attribute, RACE_NAMES, "race")
    rows = int(facts["Rows audited"]) if facts.get("Rows audited", "").isdigit() else 0
    both = next((k for k in blocks if sex and race and set(k.split("+")) == {sex, race}), None)
    wanted: list[tuple[str, tuple[str, ...] | None, str | None]] = [
        (KIND_SEX, (sex,) if sex else None, sex), (KIND_RACE, (race,) if race else None, race),
        (KIND_INTERSECTION, (sex, race) if sex and race else None, both)]
    historical = "Decisions" in facts
    return LL144Summary(
        report_id=record.id, report_ref=str(body.get("report_id", "")),
        title=str(body.get("title", "")), body_sha256=record.body_sha256,
        approved_by=str(manifest.get("approved_by")),
        approved_at=datetime.fromisoformat(str(manifest.get("approved_at"))),
        audit_run_id=record.audit_run_id, audit_run_at=run_at,
        distribution_date=distribution, system=facts.get("Dataset", ""),
        data_source=facts.get("Source", ""), dataset_sha256=facts.get("Dataset sha256", ""),
        rows_audited=rows, historical_data=historical, data_explanation=_data_text(facts),
        rate_definition=_rate_text(body), positive_label=facts.get("Positive label", ""),
        sex_attribute=sex, race_attribute=race,
        tables=tuple(_table(blocks[key], kind, attrs, rows)
                     for kind, attrs, key in wanted if attrs and key),
        missing_categories=tuple(kind for kind, attrs, key in wanted if not (attrs and key)))


def _pick(report_id: int, features: list[str], given: str | None, names: tuple[str, ...],
          role: str) -> str | None:
    if given is not None:
        if given not in features:
            raise ValueError(MSG_UNKNOWN_ATTRIBUTE.format(role=role, name=given, id=report_id,
                                                          choices=", ".join(features)))
        return given
    found = [f for f in features if f.strip().lower() in names]
    if len(found) > 1:
        raise ValueError(MSG_AMBIGUOUS.format(id=report_id, role=role, names=", ".join(found)))
    return found[0] if found else None


def _table(block: dict[str, Any], kind: str, attributes: tuple[str, ...],
           rows_audited: int) -> LL144Table:
    rows = tuple(_row(raw, attributes) for raw in block.get("rows", []))
    left_out = max(0, rows_audited - sum(r.n for r in rows))
    return LL144Table(kind, attributes, str(block["id"]), rows, left_out)


def _row(raw: dict[str, Any], attributes: tuple[str, ...]) -> LL144Row:
    values = _values(str(raw["category"]), attributes)
    rate, ratio = raw.get("rate"), raw.get("impact_ratio")
    return LL144Row(category=str(raw["category"]), values=values, n=int(raw["n"]),
                    share=float(raw["share"]), rate=None if rate is None else float(rate),
                    impact_ratio=None if ratio is None else float(ratio),
                    included=bool(raw["included"]), flag=bool(raw.get("flag")),
                    note=str(raw.get("note") or ""),
                    unknown=any(v.strip().lower() in UNKNOWN_MARKERS for v in values))


def _values(label: str, attributes: tuple[str, ...]) -> tuple[str, ...]:
    """Split a report label into values, in ``attributes`` order (the label's may differ).

    >>> _values("race=Asian & sex=Male", ("sex", "race"))
    ('Male', 'Asian')
    """
    for order in permutations(attributes):
        found = re.fullmatch(" & ".join(f"{re.escape(a)}=(.*)" for a in order), label, re.S)
        if found:
            by_name = dict(zip(order, found.groups(), strict=True))
            return tuple(by_name[a] for a in attributes)
    return (label,)


def _data_text(facts: dict[str, str]) -> str:
    period = f" Data period: {facts.get('Data period', 'not stated')}."
    if "Decisions" in facts:
        return f"Historical data: the {facts['Decisions']}.{period}"
    return (f"Test data, not historical data of the tool's use: the decisions of model "
            f"{facts.get('Model', 'not stated')} (sha256 {facts.get('Model sha256', '')}) on "
            f"held-out rows ({facts.get('Held-out split', 'not stated')}).{period} The report "
            "does not state why historical data was not used.")


def _rate_text(body: dict[str, Any]) -> str:
    return next((str(b["text"]) for s in body.get("sections", [])
                 if s.get("key") == "impact_ratios" for b in s.get("blocks", [])
                 if b.get("type") == "paragraph"), "not stated")


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


def example_summary() -> LL144Summary:
    """A two-row summary for the examples of this module's docstrings."""
    rows = tuple(LL144Row(f"sex={v}", (v,), n, n / 100, rate, ratio, True, False, "", False)
                 for v, n, rate, ratio in (("Female", 40, 0.5, 1.0), ("Male", 60, 0.45, 0.9)))
    at = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
    return LL144Summary(1, "FP-AUDIT-1", "Fairness audit report: demo", "0" * 64, "casey",
                        at, 1, at, None, "demo", "a table", "1" * 64, 100, True,
                        "Historical data.", "Selection rates.", "y = 1", "sex", None,
                        (LL144Table(KIND_SEX, ("sex",), "ll144:sex", rows, 0),),
                        (KIND_RACE, KIND_INTERSECTION))

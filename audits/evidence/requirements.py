"""The requirements an evidence pack answers, with the sources they cite.

Each :class:`Requirement` names its framework, the section, article and paragraph,
control or subcategory it comes from, and says in one sentence what it asks. The texts
are summaries, not quotations; the sources are listed in :data:`SOURCES` (and in the
README, "Evidence for auditors"). :mod:`audits.evidence.crosswalk` decides, per release,
which artifacts evidence each one and whether fairpanel found it met.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FRAMEWORKS", "ISO42001_ANNEX_A", "REQUIREMENTS", "SHORT_NAMES", "SOURCES",
           "Requirement", "requirement"]

#: The frameworks, by the short name the command line takes.
FRAMEWORKS = {"ll144": "NYC Local Law 144 (DCWP rules, 6 RCNY 5-300 ff.)",
              "eu-ai-act": "EU AI Act (Regulation (EU) 2024/1689)",
              "iso42001": "ISO/IEC 42001:2023, Annex A",
              "nist-ai-rmf": "NIST AI RMF 1.0 (NIST AI 100-1)"}

#: Short names, for tables.
SHORT_NAMES = {"ll144": "NYC LL144", "eu-ai-act": "EU AI Act", "iso42001": "ISO/IEC 42001",
               "nist-ai-rmf": "NIST AI RMF"}

#: Where each framework's text is published.
SOURCES = {
    "ll144": "NYC Administrative Code §§ 20-870 to 20-874 (Local Law 144 of 2021) and the "
             "DCWP final rules, 6 RCNY §§ 5-300 to 5-304 (adopted April 2023, in force "
             "5 July 2023), https://rules.cityofnewyork.us/rule/automated-employment-"
             "decision-tools-updated/",
    "eu-ai-act": "Regulation (EU) 2024/1689 (Artificial Intelligence Act), OJ L, "
                 "12.7.2024, https://eur-lex.europa.eu/eli/reg/2024/1689/oj",
    "iso42001": "ISO/IEC 42001:2023 Information technology - Artificial intelligence - "
                "Management system, Annex A (normative) reference control objectives and "
                "controls, https://www.iso.org/standard/81230.html",
    "nist-ai-rmf": "NIST AI 100-1, Artificial Intelligence Risk Management Framework "
                   "(AI RMF 1.0), January 2023, Table 3 (MEASURE), "
                   "https://doi.org/10.6028/NIST.AI.100-1",
}


@dataclass(frozen=True)
class Requirement:
    """One requirement of one framework.

    Attributes
    ----------
    id : str
        Stable key, e.g. ``"eu-ai-act:14(4)(b)"``.
    framework : str
        A key of :data:`FRAMEWORKS`.
    citation : str
        Section, article and paragraph, control or subcategory.
    asks : str
        What it asks, in one sentence (a summary, not the text).
    """

    id: str
    framework: str
    citation: str
    asks: str


def _r(framework: str, citation: str, asks: str) -> Requirement:
    return Requirement(f"{framework}:{citation}", framework, citation, asks)


REQUIREMENTS: tuple[Requirement, ...] = (
    _r("ll144", "5-301(b)", "Selection (or scoring) rates and impact ratios for every sex "
       "category and every race/ethnicity category, each calculated separately."),
    _r("ll144", "5-301(b)(intersectional)", "The same rates and impact ratios for the "
       "intersectional categories of sex and race/ethnicity."),
    _r("ll144", "5-301(b)(unknown)", "The number of individuals assessed who fall within an "
       "unknown category, who are left out of the calculations."),
    _r("ll144", "5-301(d)", "A category under 2% of the data may be excluded from the impact "
       "ratios only with a stated justification, its count and rate still reported."),
    _r("ll144", "20-871(a)(1)", "The tool is used only if its bias audit is no more than one "
       "year old."),
    _r("ll144", "5-303", "A public summary of the most recent bias audit's results (data "
       "source, unknown counts, rates, impact ratios) with the audit's date and the tool's "
       "distribution date."),
    _r("eu-ai-act", "10(2)(f)", "The data are examined for possible biases likely to affect "
       "health, safety or fundamental rights or to lead to prohibited discrimination."),
    _r("eu-ai-act", "10(2)(g)", "Appropriate measures detect, prevent and mitigate the "
       "biases identified."),
    _r("eu-ai-act", "10(5)(c)", "Special categories of personal data processed for bias "
       "detection are secured, access-controlled and documented, only authorised persons "
       "having access."),
    _r("eu-ai-act", "10(5)(e)", "Special-category data are deleted once the bias is "
       "corrected or their retention period ends, whichever comes first."),
    _r("eu-ai-act", "10(5)(f)", "The records of processing say why processing special "
       "categories of data was strictly necessary."),
    _r("eu-ai-act", "12(1)", "Events are recorded automatically (logs) over the system's "
       "lifetime."),
    _r("eu-ai-act", "26(6)", "Logs are kept for a period appropriate to the purpose, at "
       "least six months (Art. 19(1) likewise for providers)."),
    _r("eu-ai-act", "14(4)(a)", "Overseers can understand the system's capacities and "
       "limitations and monitor its operation, detecting anomalies."),
    _r("eu-ai-act", "14(4)(b)", "Overseers remain aware of automation bias (over-relying on "
       "the system's output)."),
    _r("eu-ai-act", "14(4)(c)", "Overseers can correctly interpret the system's output, "
       "with the interpretation tools available."),
    _r("eu-ai-act", "14(4)(d)", "Overseers can decide not to use the output, or disregard, "
       "override or reverse it, in any particular situation."),
    _r("eu-ai-act", "14(4)(e)", "Overseers can intervene in the system's operation or "
       "interrupt it (a 'stop' procedure)."),
    _r("eu-ai-act", "26(2)", "Human oversight is assigned to people with the necessary "
       "competence, training and authority."),
    _r("iso42001", "A.4.6", "Human resources: the competences of the people involved in "
       "the AI system are documented."),
    _r("iso42001", "A.5.4", "The impacts of the AI system on individuals and groups of "
       "individuals are assessed and documented."),
    _r("iso42001", "A.6.2.4", "Verification and validation measures for the AI system are "
       "defined and documented, with their results."),
    _r("iso42001", "A.6.2.6", "The AI system's operation is monitored."),
    _r("iso42001", "A.6.2.8", "The phases at which event logs are recorded are determined, "
       "and logs are kept."),
    _r("iso42001", "A.7.4", "The quality of the data used is defined, measured and "
       "documented."),
    _r("iso42001", "A.7.5", "The provenance of the data used is recorded."),
    _r("iso42001", "A.9.2", "Processes for the responsible use of the AI system (here: human "
       "oversight of its decisions) are defined and followed."),
    _r("nist-ai-rmf", "MEASURE 2.11", "Fairness and bias, as identified in MAP, are "
       "evaluated and the results documented."),
    _r("nist-ai-rmf", "MEASURE 1.3", "Internal experts who were not front-line developers "
       "of the system, or independent assessors, take part in regular assessments."),
)

#: Every ISO/IEC 42001:2023 Annex A control (titles shortened), for the Statement of
#: Applicability; the controls fairpanel evidences are also in :data:`REQUIREMENTS`.
ISO42001_ANNEX_A: tuple[tuple[str, str], ...] = (
    ("A.2.2", "AI policy"), ("A.2.3", "Alignment with other organizational policies"),
    ("A.2.4", "Review of the AI policy"), ("A.3.2", "AI roles and responsibilities"),
    ("A.3.3", "Reporting of concerns"), ("A.4.2", "Resource documentation"),
    ("A.4.3", "Data resources"), ("A.4.4", "Tooling resources"),
    ("A.4.5", "System and computing resources"), ("A.4.6", "Human resources"),
    ("A.5.2", "AI system impact assessment process"),
    ("A.5.3", "Documentation of AI system impact assessments"),
    ("A.5.4", "Assessing AI system impact on individuals or groups of individuals"),
    ("A.5.5", "Assessing societal impacts of AI systems"),
    ("A.6.1.2", "Objectives for responsible development of AI system"),
    ("A.6.1.3", "Processes for responsible AI system design and development"),
    ("A.6.2.2", "AI system requirements and specification"),
    ("A.6.2.3", "Documentation of AI system design and development"),
    ("A.6.2.4", "AI system verification and validation"), ("A.6.2.5", "AI system deployment"),
    ("A.6.2.6", "AI system operation and monitoring"),
    ("A.6.2.7", "AI system technical documentation"),
    ("A.6.2.8", "AI system recording of event logs"),
    ("A.7.2", "Data for development and enhancement of AI system"),
    ("A.7.3", "Acquisition of data"), ("A.7.4", "Quality of data for AI systems"),
    ("A.7.5", "Data provenance"), ("A.7.6", "Data preparation"),
    ("A.8.2", "System documentation and information for users"),
    ("A.8.3", "External reporting"), ("A.8.4", "Communication of incidents"),
    ("A.8.5", "Information for interested parties"),
    ("A.9.2", "Processes for responsible use of AI systems"),
    ("A.9.3", "Objectives for responsible use of AI system"),
    ("A.9.4", "Intended use of the AI system"),
    ("A.10.2", "Allocating responsibilities"), ("A.10.3", "Suppliers"),
    ("A.10.4", "Customers"),
)


def requirement(requirement_id: str) -> Requirement:
    """Return the requirement with this id, or raise ``KeyError`` naming the known ones.

    Examples
    --------
    >>> requirement("eu-ai-act:14(4)(b)").citation
    '14(4)(b)'
    """
    for r in REQUIREMENTS:
        if r.id == requirement_id:
            return r
    raise KeyError(f"no requirement {requirement_id!r}; known: "
                   f"{', '.join(r.id for r in REQUIREMENTS)}")

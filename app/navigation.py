"""Which pages exist and which roles see them: the registry the entry script reads.

Kept apart from the entry script so tests can enumerate role x page, and so the one
place that decides what a role may open is easy to find. Hiding a page is a courtesy;
the engine's write paths refuse a wrong role on their own (:mod:`audits.roles`).
"""

from __future__ import annotations

from dataclasses import dataclass

from audits.roles import Role

__all__ = ["PAGES", "SIGN_IN", "PageSpec", "pages_for"]

_ALL = frozenset(Role)
_NOT_REVIEWERS = frozenset(Role) - {Role.REVIEWER}


@dataclass(frozen=True)
class PageSpec:
    """A page of the dashboard.

    Attributes
    ----------
    path : str
        The page file, relative to ``app/`` (the entry script's folder).
    title, icon : str
        What the navigation shows (``icon`` is a Material Symbols name).
    url_path : str
        The page's URL path.
    roles : frozenset of Role
        Who sees the page.
    """

    path: str
    title: str
    icon: str
    url_path: str
    roles: frozenset[Role]


#: Shown instead of the navigation until someone signs in.
SIGN_IN = PageSpec("app_pages/sign_in.py", "Sign in", ":material/login:", "sign-in", _ALL)

#: Every page after sign-in, in menu order; the first one a role sees is its home page.
PAGES: tuple[PageSpec, ...] = (
    # A reviewer's home page: their own queue (only reviewers rate; see audits.roles).
    PageSpec("app_pages/my_reviews.py", "My reviews", ":material/rate_review:", "my-reviews",
             frozenset({Role.REVIEWER})),
    # Everyone else's home page: the answer to their first question (failing verdicts
    # and reports, the panel's progress, the worst disparities), no charts, so it is fast.
    PageSpec("app_pages/home.py", "Findings", ":material/flag:", "findings", _NOT_REVIEWERS),
    PageSpec("app_pages/overview.py", "Dataset & model", ":material/dataset:", "overview",
             _ALL),
    # Panel leads and compliance officers read stored fairness runs; running one is for
    # data scientists and admins (the page hides the form; the store refuses anyone else).
    # Registering an organisation's own system is for data scientists and admins (the
    # store refuses anyone else).
    PageSpec("app_pages/new_system.py", "New system", ":material/add_circle:", "new-system",
             frozenset({Role.DATA_SCIENTIST, Role.ADMIN})),
    PageSpec("app_pages/fairness.py", "Fairness audit", ":material/balance:", "fairness",
             frozenset({Role.DATA_SCIENTIST, Role.PANEL_LEAD, Role.COMPLIANCE_OFFICER,
                        Role.ADMIN})),
    # Computing explanations is for data scientists and admins; panel leads and
    # compliance officers read the stored runs.
    PageSpec("app_pages/explanations.py", "Explanations", ":material/insights:",
             "explanations",
             frozenset({Role.DATA_SCIENTIST, Role.PANEL_LEAD, Role.COMPLIANCE_OFFICER,
                        Role.ADMIN})),
    # The worst-off subgroups nobody declared: whoever sees the Fairness audit. Data
    # scientists and admins store what they run (for the report); the others only look.
    PageSpec("app_pages/slices.py", "Worst-off subgroups", ":material/travel_explore:",
             "slices",
             frozenset({Role.DATA_SCIENTIST, Role.PANEL_LEAD, Role.COMPLIANCE_OFFICER,
                        Role.ADMIN})),
    # The review queue and monitoring are read by panel leads and compliance officers;
    # deferral (what-if on the model's decisions) is for panel leads and data scientists.
    PageSpec("app_pages/review_queue.py", "Review queue", ":material/checklist:",
             "review-queue",
             frozenset({Role.DATA_SCIENTIST, Role.PANEL_LEAD, Role.COMPLIANCE_OFFICER,
                        Role.ADMIN})),
    PageSpec("app_pages/deferral.py", "Deferral", ":material/call_split:", "deferral",
             frozenset({Role.DATA_SCIENTIST, Role.PANEL_LEAD, Role.ADMIN})),
    PageSpec("app_pages/monitoring.py", "Monitoring", ":material/monitoring:", "monitoring",
             frozenset({Role.DATA_SCIENTIST, Role.PANEL_LEAD, Role.COMPLIANCE_OFFICER,
                        Role.ADMIN})),
    # Live decisions (the decision API's stream): read by the same roles as monitoring.
    PageSpec("app_pages/live.py", "Live decisions", ":material/bolt:", "live",
             frozenset({Role.DATA_SCIENTIST, Role.PANEL_LEAD, Role.COMPLIANCE_OFFICER,
                        Role.ADMIN})),
    # Adjudication reads every rating (panel leads and admins); the panel page shows
    # compliance officers only aggregates (composition with small groups suppressed).
    PageSpec("app_pages/adjudication.py", "Adjudication", ":material/gavel:", "adjudication",
             frozenset({Role.PANEL_LEAD, Role.ADMIN})),
    PageSpec("app_pages/panel.py", "Reviewer panel", ":material/groups:", "panel",
             frozenset({Role.PANEL_LEAD, Role.COMPLIANCE_OFFICER, Role.ADMIN})),
    # The panel measured: everyone who may read panel aggregates; only panel leads and
    # admins get per-reviewer results (the engine returns them to no one else).
    PageSpec("app_pages/agreement.py", "Agreement", ":material/handshake:", "agreement",
             frozenset({Role.PANEL_LEAD, Role.ADMIN, Role.COMPLIANCE_OFFICER,
                        Role.DATA_SCIENTIST})),
    PageSpec("app_pages/reviewer_bias.py", "Reviewer bias", ":material/person_search:",
             "reviewer-bias",
             frozenset({Role.PANEL_LEAD, Role.ADMIN, Role.COMPLIANCE_OFFICER,
                        Role.DATA_SCIENTIST})),
    # A chatbot's conversations: the bot across its users and its judge against the panel
    # (aggregates: whoever may read panel aggregates; the export needs every rating).
    PageSpec("app_pages/conversations.py", "Conversations", ":material/forum:",
             "conversations",
             frozenset({Role.PANEL_LEAD, Role.ADMIN, Role.COMPLIANCE_OFFICER,
                        Role.DATA_SCIENTIST})),
    PageSpec("app_pages/audit_runs.py", "Audit runs", ":material/fact_check:", "audit-runs",
             frozenset({Role.DATA_SCIENTIST, Role.PANEL_LEAD, Role.COMPLIANCE_OFFICER,
                        Role.ADMIN})),
    # Retraining: data scientists retrain, compliance officers approve (admins both);
    # panel leads read the comparison.
    PageSpec("app_pages/retraining.py", "Retraining", ":material/model_training:",
             "retraining",
             frozenset({Role.DATA_SCIENTIST, Role.COMPLIANCE_OFFICER, Role.ADMIN,
                        Role.PANEL_LEAD})),
    # Reports: data scientists draft and submit, compliance officers approve or return
    # (admins both); panel leads read them. The engine refuses every other step.
    PageSpec("app_pages/reports.py", "Reports", ":material/description:", "reports",
             frozenset({Role.COMPLIANCE_OFFICER, Role.DATA_SCIENTIST, Role.ADMIN,
                        Role.PANEL_LEAD})),
    # Evidence packs are built by those who may build them (compliance officers, admins).
    PageSpec("app_pages/evidence.py", "Evidence", ":material/verified:", "evidence",
             frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN})),
    PageSpec("app_pages/audit_log.py", "Audit log", ":material/receipt_long:", "audit-log",
             frozenset({Role.COMPLIANCE_OFFICER, Role.ADMIN})),
    PageSpec("app_pages/users.py", "Users", ":material/group:", "users",
             frozenset({Role.ADMIN})),
    PageSpec("app_pages/account.py", "My account", ":material/account_circle:", "account",
             _ALL),
)


def pages_for(role: Role) -> tuple[PageSpec, ...]:
    """Return the pages ``role`` sees, in menu order.

    Examples
    --------
    >>> [p.title for p in pages_for(Role.REVIEWER)]
    ['My reviews', 'Dataset & model', 'My account']
    """
    return tuple(p for p in PAGES if role in p.roles)

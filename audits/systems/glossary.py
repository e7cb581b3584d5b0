"""Readable names and units of the bundled datasets' columns, from their data cards.

The bundled cards (``datasets/*.md``) describe each column in prose; these tables give
the same facts in the form :func:`audits.systems.card.column_labels` reads: a column's
readable name and its unit (None when it has none, e.g. a category). A registered system
whose card carries its own ``label`` and ``unit`` per column does not need them.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = ["BUNDLED_COLUMNS"]

_GERMAN_CREDIT: Final = {
    "status": ("Checking account status", None),
    "duration": ("Duration", "months"),
    "credit_history": ("Credit history", None),
    "purpose": ("Purpose", None),
    "credit_amount": ("Credit amount", "DM"),
    "savings": ("Savings", None),
    "present_employment": ("Employed for", None),
    "installment_rate": ("Instalment rate", "% of disposable income"),
    "other_debtors": ("Other debtors or guarantors", None),
    "present_residence_since": ("At present residence for", "years"),
    "property": ("Property", None),
    "age": ("Age", "years"),
    "installment_plans": ("Other instalment plans", None),
    "housing": ("Housing", None),
    "number_of_existing_credits": ("Existing credits at this bank", None),
    "job": ("Job", None),
    "number_of_people_liable_for": ("People the applicant supports", None),
    "telephone": ("Telephone", None),
    "foreign_worker": ("Foreign worker", None),
    "sex": ("Sex", None),
    "personal_status": ("Personal status", None),
    "age_group": ("Age group", None),
}
_ADULT: Final = {
    "age": ("Age", "years"),
    "workclass": ("Work class", None),
    "fnlwgt": ("Census sampling weight", None),
    "education": ("Education", None),
    "education_num": ("Education", "years"),
    "marital_status": ("Marital status", None),
    "occupation": ("Occupation", None),
    "relationship": ("Relationship", None),
    "race": ("Race", None),
    "sex": ("Sex", None),
    "capital_gain": ("Capital gain", "USD per year"),
    "capital_loss": ("Capital loss", "USD per year"),
    "hours_per_week": ("Hours worked", "per week"),
    "native_country": ("Country of origin", None),
}
_COMPAS: Final = {
    "age": ("Age", "years"),
    "age_cat": ("Age band", None),
    "juv_fel_count": ("Juvenile felonies", "count"),
    "juv_misd_count": ("Juvenile misdemeanours", "count"),
    "juv_other_count": ("Other juvenile charges", "count"),
    "priors_count": ("Prior offences", "count"),
    "days_b_screening_arrest": ("Days between arrest and screening", "days"),
    "c_charge_degree": ("Charge degree", None),
    "c_charge_desc": ("Charge", None),
    "decile_score": ("COMPAS decile score", "1-10"),
}

#: Bundled dataset name -> column -> (readable name, unit or None).
BUNDLED_COLUMNS: Final = MappingProxyType({
    "german_credit": MappingProxyType(_GERMAN_CREDIT),
    "adult": MappingProxyType(_ADULT),
    "compas": MappingProxyType(_COMPAS),
})

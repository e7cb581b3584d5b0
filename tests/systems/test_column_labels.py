"""Readable column labels for the reviewer desk: the card's own label and unit first, then
the bundled glossary, then the column name in words."""

from __future__ import annotations

import pytest


def test_column_labels_prefer_the_card_then_the_glossary_then_words() -> None:
    from audits.systems.card import column_labels, humanise

    card = {"columns": [{"name": "amt", "label": "Loan amount", "unit": "EUR"},
                        {"name": "age", "type": "int64"}]}
    labels = column_labels(["amt", "age", "capital_gain", "x"], card,
                           glossary={"age": ("Age", "years"), "amt": ("Amount", "USD")})
    assert labels == {"amt": "Loan amount (EUR)", "age": "Age (years)",
                      "capital_gain": "Capital gain", "x": "X"}
    assert column_labels(["credit_amount", "duration", "purpose"], system="german_credit") == {
        "credit_amount": "Credit amount (DM)", "duration": "Duration (months)",
        "purpose": "Purpose"}
    assert humanise("hours__per-week") == "Hours per week"
    with pytest.raises(TypeError, match="column name must be a string"):
        humanise(3)  # type: ignore[arg-type]

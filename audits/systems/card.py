"""A system version's data card: what its columns are, what is missing, who is in it.

:func:`card_data` describes a version's data as JSON-ready facts: rows, each column's
type, role and missing values, the categories of each sensitive feature with their
counts (small ones marked), the target's positive rate overall and per category, and
each category's missing rate in every column that has missing values (a gap that falls
on one group is a fairness issue before any model runs). It works on Arrow tables with
:mod:`pyarrow.compute` and hash group-bys, so millions of rows take seconds.
:func:`card_markdown` turns those facts into the readable card stored with the version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from audits.systems.glossary import BUNDLED_COLUMNS
from audits.systems.mapping import ColumnMapping, check_mapping

__all__ = ["MISSING_CATEGORY", "card_data", "card_markdown", "column_label", "column_labels",
           "column_summary", "humanise"]

MSG_SMALL_GROUP = "small_group must be a positive integer, not {value!r}"
MSG_NOT_NAME = "a column name must be a string, not {type}"
MSG_NO_ID = "the sensitive data have no id column {column!r} to join on; columns: {columns}"
#: How a missing (or unmatched) sensitive value is shown as a category.
MISSING_CATEGORY = "(missing)"

_POSITIVE = "__fairpanel_positive"
_ONE = frozenset({"1", "1.0", "true"})


def card_data(
    table: pa.Table,
    mapping: ColumnMapping,
    *,
    sensitive: pa.Table | None = None,
    small_group: int = 30,
) -> dict[str, Any]:
    """Describe a system version's data as JSON-ready facts.

    Parameters
    ----------
    table : pyarrow.Table of shape (n_rows, n_columns)
        The decisions.
    mapping : ColumnMapping
        What each column is for.
    sensitive : pyarrow.Table or None, default None
        Sensitive data held apart: the id column and the sensitive features, joined to
        ``table`` on the id (data rows with no match fall in the category
        ``"(missing)"``). None when ``table`` holds the sensitive features.
    small_group : int, default 30
        A category with fewer rows is marked ``small``: its rates are too uncertain to
        compare on their own.

    Returns
    -------
    dict
        ``n_rows``; ``columns``: list of ``{name, type, role, location, n_missing,
        missing_rate}``; ``target``: ``{column, positive_label, n_known, n_positive,
        positive_rate}``; ``sensitive``: list of ``{feature, categories}`` with
        categories ``{value, count, share, small, n_positive, positive_rate}`` by
        descending count; ``missing_by_group``: tidy list of ``{feature, value, column,
        n, n_missing, missing_rate}`` for every column with missing values;
        ``small_group``.

    Examples
    --------
    >>> t = pa.table({"id": [1, 2, 3], "y": [1, 0, 1], "p": [1, 1, 0],
    ...               "sex": ["f", "m", "f"], "income": [1.0, None, 3.0]})
    >>> d = card_data(t, ColumnMapping(id="id", target="y", sensitive=("sex",), prediction="p"))
    >>> d["target"]["positive_rate"], d["sensitive"][0]["categories"][0]["count"]
    (0.6666666666666666, 2)
    """
    if isinstance(small_group, bool) or not isinstance(small_group, int) or small_group < 1:
        raise ValueError(MSG_SMALL_GROUP.format(value=small_group))
    apart = list(sensitive.column_names) if sensitive is not None else []
    check_mapping(table.schema, mapping, sensitive_elsewhere=apart)
    columns = _columns(table, mapping, "data")
    if sensitive is not None:
        # The id is listed once, with the data; the sensitive file holds it to join on.
        columns += _columns(sensitive.select(_sensitive_names(sensitive, mapping)[1:]),
                            mapping, "sensitive")
    target = table.column(mapping.target)
    positive = _positive(target, mapping.positive_label)
    narrow = _narrow(table, mapping, sensitive, positive, columns)
    n_rows = table.num_rows
    return {
        "n_rows": n_rows,
        "columns": columns,
        "target": _target_facts(target, positive, mapping),
        "sensitive": [_categories(narrow, f, n_rows, small_group) for f in mapping.sensitive],
        "missing_by_group": [row for f in mapping.sensitive
                             for row in _missing_by_group(narrow, f, columns)],
        "small_group": small_group,
    }


def column_summary(table: pa.Table) -> list[dict[str, Any]]:
    """Name, type and missingness of every column, before any role is mapped.

    What a person checks before saying what each column is for (the New system page's
    preview).

    Examples
    --------
    >>> column_summary(pa.table({"x": [1, None, 3]}))
    [{'name': 'x', 'type': 'int64', 'n_missing': 1, 'missing_rate': 0.3333333333333333}]
    """
    n_rows = table.num_rows
    return [{"name": name, "type": str(column.type), "n_missing": _n_missing(column),
             "missing_rate": _n_missing(column) / n_rows if n_rows else 0.0}
            for name, column in zip(table.column_names, table.columns, strict=True)]


def card_markdown(
    name: str,
    description: str,
    intended_use: str,
    favourable: bool,
    card_data: dict[str, Any],
) -> str:
    """Write a system version's data card as markdown.

    Parameters
    ----------
    name, description, intended_use : str
        The system's name and what its owner says it is and is for.
    favourable : bool
        Whether a positive decision is good for the person (an approval) or adverse.
    card_data : dict
        As returned by :func:`card_data`.

    Returns
    -------
    str
        Markdown: summary, a table of columns, each sensitive feature's categories
        (small ones marked), and missing rates by group.

    Examples
    --------
    >>> t = pa.table({"id": [1, 2], "y": [1, 0], "p": [1, 1], "sex": ["f", "m"]})
    >>> m = ColumnMapping(id="id", target="y", sensitive=("sex",), prediction="p")
    >>> card_markdown("credit", "", "", True, card_data(t, m)).splitlines()[0]
    '# credit'
    """
    target = card_data["target"]
    direction = ("favourable (e.g. an approval)" if favourable
                 else "adverse (e.g. a high-risk label)")
    lines = [f"# {name}", "", description.strip() or "_No description given._", "",
             "## Intended use", "", intended_use.strip() or "_Not stated._", "",
             "## Decisions", "",
             f"- Rows: {card_data['n_rows']:,}",
             f"- Outcome `{target['column']}`: positive ({target['positive_label']}) in "
             f"{_percent(target['positive_rate'])} of {target['n_known']:,} rows with a "
             "known outcome",
             f"- A positive decision is {direction} for the person.", "",
             "## Columns", "", "| column | type | role | missing |", "|---|---|---|---|"]
    lines += [f"| {_cell(c['name'])} | {_cell(c['type'])} | {_cell(_role_text(c))} | "
              f"{c['n_missing']:,} ({_percent(c['missing_rate'])}) |"
              for c in card_data["columns"]]
    lines += ["", "## Sensitive groups", "",
              f"Categories with fewer than {card_data['small_group']} rows are marked "
              "**small**: their rates are too uncertain to compare on their own.", ""]
    for feature in card_data["sensitive"]:
        lines += _category_table(feature)
    lines += _missing_section(card_data["missing_by_group"])
    return "\n".join(lines).rstrip() + "\n"


def humanise(name: str) -> str:
    """A column name as words: ``"capital_gain"`` reads ``"Capital gain"``.

    Underscores, hyphens and dots become spaces and the first letter is capitalised; the
    rest is kept (so ``"BMI_score"`` stays ``"BMI score"``).

    Examples
    --------
    >>> humanise("capital_gain"), humanise("hours-per-week"), humanise("BMI_score")
    ('Capital gain', 'Hours per week', 'BMI score')
    """
    if not isinstance(name, str):
        raise TypeError(MSG_NOT_NAME.format(type=type(name).__name__))
    words = " ".join(name.replace("_", " ").replace("-", " ").replace(".", " ").split())
    return (words[:1].upper() + words[1:]) or name


def column_label(name: str, readable: str | None = None, unit: str | None = None) -> str:
    """A column's label for a person: its readable name (else :func:`humanise`) and unit.

    Examples
    --------
    >>> column_label("credit_amount", "Credit amount", "DM")
    'Credit amount (DM)'
    >>> column_label("hours_per_week")
    'Hours per week'
    """
    text = (readable or "").strip() or humanise(name)
    unit = (unit or "").strip()
    return f"{text} ({unit})" if unit else text


def column_labels(
    names: Iterable[str],
    card_data: Mapping[str, Any] | None = None,
    *,
    glossary: Mapping[str, tuple[str, str | None]] | None = None,
    system: str | None = None,
) -> dict[str, str]:
    """Readable labels, with units, for the columns ``names``.

    Parameters
    ----------
    names : iterable of str
        The columns to label (a case's features, say).
    card_data : mapping or None, default None
        A version's card facts (:func:`card_data`); a column entry may carry ``label``
        and ``unit``, which win.
    glossary : mapping or None, default None
        Column -> (readable name, unit or None), e.g. a bundled dataset's entry of
        :data:`audits.systems.glossary.BUNDLED_COLUMNS`; used where the card says nothing.
    system : str or None, default None
        A system's name: when ``glossary`` is None and the system is a bundled dataset,
        that dataset's glossary is used.

    Returns
    -------
    dict
        Column name -> label; a column known to neither reads as :func:`humanise` of
        its name.

    Examples
    --------
    >>> card = {"columns": [{"name": "amt", "label": "Loan amount", "unit": "EUR"}]}
    >>> column_labels(["amt", "age", "num_kids"], card, glossary={"age": ("Age", "years")})
    {'amt': 'Loan amount (EUR)', 'age': 'Age (years)', 'num_kids': 'Num kids'}
    >>> column_labels(["credit_amount"], system="german_credit")
    {'credit_amount': 'Credit amount (DM)'}
    """
    if glossary is None and system is not None:
        glossary = BUNDLED_COLUMNS.get(system)
    described = {str(c.get("name")): c for c in (card_data or {}).get("columns") or []
                 if isinstance(c, Mapping)}
    out = {}
    for name in names:
        entry = described.get(name) or {}
        readable, unit = (glossary or {}).get(name, (None, None))
        out[name] = column_label(name, entry.get("label") or readable,
                                 entry.get("unit") or unit)
    return out


# ---------------------------------------------------------------- facts


def _role(mapping: ColumnMapping, name: str) -> str:
    roles = {col: role for role, col in mapping.named_roles()}
    if name in roles:
        return roles[name]
    if mapping.features is None or name in mapping.features:
        return "feature"
    return "not used"


def _columns(table: pa.Table, mapping: ColumnMapping, location: str) -> list[dict[str, Any]]:
    out = []
    n = table.num_rows
    for name, column in zip(table.column_names, table.columns, strict=True):
        n_missing = _n_missing(column)
        out.append({"name": name, "type": str(column.type), "role": _role(mapping, name),
                    "location": location, "n_missing": n_missing,
                    "missing_rate": n_missing / n if n else 0.0})
    return out


def _n_missing(column: pa.ChunkedArray) -> int:
    if pa.types.is_floating(column.type):
        return int(pc.sum(pc.is_null(column, nan_is_null=True)).as_py() or 0)
    return int(column.null_count)


def _sensitive_names(sensitive: pa.Table, mapping: ColumnMapping) -> list[str]:
    if mapping.id not in sensitive.column_names:
        raise ValueError(MSG_NO_ID.format(column=mapping.id,
                                          columns=", ".join(sensitive.column_names)))
    return [mapping.id, *(c for c in mapping.sensitive if c in sensitive.column_names)]


def _positive_values(column: pa.ChunkedArray, label: str | None) -> pa.Array:
    values = pc.unique(column.drop_null()).to_pylist()
    chosen = [v for v in values if (str(v) == label if label is not None
                                    else str(v).lower() in _ONE)]
    value_type = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    return pa.array(chosen, type=value_type)


def _positive(column: pa.ChunkedArray, label: str | None) -> pa.ChunkedArray:
    """1/0 where the target is positive/negative, null where it is missing."""
    hit = pc.is_in(column, value_set=_positive_values(column, label))
    return pc.if_else(pc.is_null(column), pa.scalar(None, pa.int8()), pc.cast(hit, pa.int8()))


def _target_facts(target: pa.ChunkedArray, positive: pa.ChunkedArray,
                  mapping: ColumnMapping) -> dict[str, Any]:
    n_known = len(target) - target.null_count
    n_positive = int(pc.sum(positive).as_py() or 0)
    return {"column": mapping.target, "positive_label": mapping.positive_label or "1",
            "n_known": n_known, "n_positive": n_positive,
            "positive_rate": n_positive / n_known if n_known else None}


def _missing_name(index: int) -> str:
    return f"__fairpanel_missing_{index}"


def _narrow(table: pa.Table, mapping: ColumnMapping, sensitive: pa.Table | None,
            positive: pa.ChunkedArray, columns: list[dict[str, Any]]) -> pa.Table:
    """The few columns the group-bys need: groups, the target indicator, missingness."""
    arrays: dict[str, Any] = {_POSITIVE: positive}
    for i, col in enumerate(columns):
        if col["location"] == "data" and col["n_missing"] \
                and col["role"] != "sensitive feature":
            arrays[_missing_name(i)] = pc.is_null(table.column(col["name"]), nan_is_null=True)
    in_data = [f for f in mapping.sensitive if sensitive is None
               or f not in sensitive.column_names]
    for f in in_data:
        arrays[f] = table.column(f)
    if sensitive is None:
        return pa.table(arrays)
    arrays[mapping.id] = table.column(mapping.id)
    left = pa.table(arrays)
    right = sensitive.select(_sensitive_names(sensitive, mapping))
    if right.schema.field(mapping.id).type != left.schema.field(mapping.id).type:
        right = right.set_column(0, mapping.id, pc.cast(right.column(0), pa.string()))
        left = left.set_column(left.num_columns - 1, mapping.id,
                               pc.cast(left.column(mapping.id), pa.string()))
    return left.join(right, keys=mapping.id, join_type="left outer")


def _labels(values: Sequence[Any]) -> list[str]:
    return [MISSING_CATEGORY if v is None else str(v) for v in values]


def _categories(narrow: pa.Table, feature: str, n_rows: int, small: int) -> dict[str, Any]:
    grouped = narrow.group_by(feature).aggregate(
        [([], "count_all"), (_POSITIVE, "sum"), (_POSITIVE, "count")])
    rows = []
    for value, count, pos, known in zip(
            _labels(grouped.column(feature).to_pylist()),
            grouped.column("count_all").to_pylist(),
            grouped.column(f"{_POSITIVE}_sum").to_pylist(),
            grouped.column(f"{_POSITIVE}_count").to_pylist(), strict=True):
        rows.append({"value": value, "count": int(count), "share": count / n_rows,
                     "small": count < small, "n_positive": int(pos or 0),
                     "positive_rate": (pos or 0) / known if known else None})
    rows.sort(key=lambda r: (-r["count"], r["value"]))
    return {"feature": feature, "categories": rows}


def _missing_by_group(narrow: pa.Table, feature: str,
                      columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    indicators = [(i, col["name"]) for i, col in enumerate(columns)
                  if _missing_name(i) in narrow.column_names]
    if not indicators:
        return []
    grouped = narrow.group_by(feature).aggregate(
        [([], "count_all"), *[(_missing_name(i), "sum") for i, _ in indicators]])
    values = _labels(grouped.column(feature).to_pylist())
    counts = grouped.column("count_all").to_pylist()
    out = []
    for i, name in indicators:
        missing = grouped.column(f"{_missing_name(i)}_sum").to_pylist()
        for value, n, k in zip(values, counts, missing, strict=True):
            out.append({"feature": feature, "value": value, "column": name, "n": int(n),
                        "n_missing": int(k or 0), "missing_rate": (k or 0) / n})
    out.sort(key=lambda r: (r["column"], r["value"]))
    return out


# ---------------------------------------------------------------- markdown


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.1f}%"


def _role_text(column: dict[str, Any]) -> str:
    if column.get("location") == "sensitive":
        return f"{column['role']} (kept apart)"
    return str(column["role"])


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _category_table(feature: dict[str, Any]) -> list[str]:
    lines = [f"### {_cell(feature['feature'])}", "",
             "| category | rows | share | outcome positive | |", "|---|---|---|---|---|"]
    for cat in feature["categories"]:
        mark = "**small**" if cat["small"] else ""
        lines.append(f"| {_cell(cat['value'])} | {cat['count']:,} | {_percent(cat['share'])} "
                     f"| {_percent(cat['positive_rate'])} | {mark} |")
    return [*lines, ""]


def _missing_section(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["## Missing values by group", ""]
    if not rows:
        return [*lines, "No column has missing values.", ""]
    lines += ["| column | feature | category | missing |", "|---|---|---|---|"]
    lines += [f"| {_cell(r['column'])} | {_cell(r['feature'])} | {_cell(r['value'])} | "
              f"{r['n_missing']:,} of {r['n']:,} ({_percent(r['missing_rate'])}) |"
              for r in rows]
    return [*lines, ""]

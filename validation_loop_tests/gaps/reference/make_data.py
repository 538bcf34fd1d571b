"""Write the (real, synthetic) table pairs that the SDMetrics reference values are computed on.

Run in the project venv, from the repository root:

    .venv/bin/python validation_loop_tests/gaps/reference/make_data.py

Every pair lands in ``data/<name>_real.parquet`` and ``data/<name>_synthetic.parquet`` beside this
file, and ``data/manifest.json`` lists, per pair, what it plants, the type of every column (the
SDMetrics ``sdtype``: numerical, datetime, categorical or boolean) and the column pairs the
reference script compares: numeric pairs (correlation), discrete pairs (contingency) and mixed
(numerical, discrete) pairs (contingency with the numerical column binned). The only randomness
is numpy's ``default_rng`` with fixed seeds, so a re-run writes the same tables.

Storage types: floats are float64, integers int64 (``Int64``, i.e. a nullable int64 Parquet column,
where they have missing values), strings are strings with nulls, booleans are bool (``boolean``
where they have missing values) and datetimes are microsecond timestamps.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from validation_loop.demo import demo_frame

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
MANIFEST = DATA_DIR / "manifest.json"
MAX_PAIRS = 15


@dataclass
class Pair:
    """One (real, synthetic) pair of tables and what it is meant to exercise."""

    name: str
    description: str
    plants: list[str]
    real: pd.DataFrame
    synthetic: pd.DataFrame
    sdtypes: dict[str, str]
    numeric_pairs: list[tuple[str, str]] = field(default_factory=list)
    categorical_pairs: list[tuple[str, str]] = field(default_factory=list)
    mixed_pairs: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if list(self.real.columns) != list(self.synthetic.columns):
            raise ValueError(f"{self.name}: real and synthetic columns differ")
        if set(self.sdtypes) != set(self.real.columns):
            raise ValueError(f"{self.name}: sdtypes do not cover exactly the columns")
        if not self.numeric_pairs:
            self.numeric_pairs = default_pairs(self.sdtypes, ("numerical", "datetime"))
        if not self.categorical_pairs:
            self.categorical_pairs = default_pairs(self.sdtypes, ("categorical", "boolean"))
        if not self.mixed_pairs:
            self.mixed_pairs = default_mixed_pairs(self.sdtypes)
        for pairs in (self.numeric_pairs, self.categorical_pairs, self.mixed_pairs):
            if len(pairs) > MAX_PAIRS:
                raise ValueError(f"{self.name}: more than {MAX_PAIRS} pairs")


def default_pairs(sdtypes: dict[str, str], kinds: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every pair, in column order, of the first six columns of the given kinds (<= 15 pairs)."""
    columns = [column for column, sdtype in sdtypes.items() if sdtype in kinds][:6]
    return list(combinations(columns, 2))


def default_mixed_pairs(sdtypes: dict[str, str]) -> list[tuple[str, str]]:
    """(numerical, discrete) pairs: the first three numerical by the first two discrete columns."""
    numerical = [column for column, sdtype in sdtypes.items() if sdtype == "numerical"][:3]
    discrete = [c for c, sdtype in sdtypes.items() if sdtype in ("categorical", "boolean")][:2]
    return [(number, category) for number in numerical for category in discrete]


def with_missing(
    series: pd.Series, rate: float, rng: np.random.Generator, dtype: str | None = None
) -> pd.Series:
    """A copy of `series` with a random `rate` of its values set missing."""
    out = series.astype(dtype) if dtype else series.copy()
    mask = rng.random(len(out)) < rate
    out[mask] = None
    return out


def iris_identical() -> Pair:
    """Iris against itself (rows shuffled): every metric should score exactly 1."""
    rng = np.random.default_rng(101)
    bunch = load_iris(as_frame=True)
    frame = bunch.frame
    real = pd.DataFrame(
        {
            "sepal_length": frame["sepal length (cm)"].astype("float64"),
            "sepal_width": frame["sepal width (cm)"].astype("float64"),
            "petal_length": frame["petal length (cm)"].astype("float64"),
            "petal_width": frame["petal width (cm)"].astype("float64"),
            "species": pd.Series(bunch.target_names[frame["target"]], dtype="str"),
            "petal_size": pd.cut(
                frame["petal length (cm)"], [0, 2.5, 5.0, 10], labels=["small", "medium", "large"]
            ).astype("str"),
            "is_setosa": frame["target"].eq(0),
        }
    )
    synthetic = real.iloc[rng.permutation(len(real))].reset_index(drop=True)
    return Pair(
        name="iris_identical",
        description="Iris (150 rows) against the same rows in shuffled order.",
        plants=["identical tables: every score is 1", "boolean column (is_setosa)"],
        real=real,
        synthetic=synthetic,
        sdtypes={
            "sepal_length": "numerical",
            "sepal_width": "numerical",
            "petal_length": "numerical",
            "petal_width": "numerical",
            "species": "categorical",
            "petal_size": "categorical",
            "is_setosa": "boolean",
        },
    )


def wine_halves() -> Pair:
    """Two random halves of the wine data: the 'good generator' baseline."""
    rng = np.random.default_rng(202)
    bunch = load_wine(as_frame=True)
    frame = bunch.frame
    full = pd.DataFrame(
        {
            "alcohol": frame["alcohol"],
            "malic_acid": frame["malic_acid"],
            "magnesium": frame["magnesium"].round().astype("int64"),
            "flavanoids": frame["flavanoids"],
            "color_intensity": frame["color_intensity"],
            "proline": frame["proline"].round().astype("int64"),
            "cultivar": pd.Series(bunch.target_names[frame["target"]], dtype="str"),
            "alcohol_level": pd.Series(
                np.where(frame["alcohol"] >= frame["alcohol"].median(), "high", "low"), dtype="str"
            ),
            "deep_color": frame["color_intensity"].gt(5.0),
        }
    )
    order = rng.permutation(len(full))
    half = len(full) // 2
    real = full.iloc[np.sort(order[:half])].reset_index(drop=True)
    synthetic = full.iloc[np.sort(order[half:])].reset_index(drop=True)
    return Pair(
        name="wine_halves",
        description="Wine (178 rows) split at random into two halves of 89 rows.",
        plants=[
            "two random halves of one real dataset",
            "int columns (magnesium, proline)",
            "boolean column (deep_color)",
        ],
        real=real,
        synthetic=synthetic,
        sdtypes={
            "alcohol": "numerical",
            "malic_acid": "numerical",
            "magnesium": "numerical",
            "flavanoids": "numerical",
            "color_intensity": "numerical",
            "proline": "numerical",
            "cultivar": "categorical",
            "alcohol_level": "categorical",
            "deep_color": "boolean",
        },
    )


def diabetes_shift() -> Pair:
    """Diabetes against a bootstrap of itself with one column shifted and others out of range."""
    rng = np.random.default_rng(303)
    frame = load_diabetes(as_frame=True, scaled=False).frame
    real = pd.DataFrame(
        {
            "age": frame["age"].round().astype("int64"),
            "bmi": frame["bmi"],
            "bp": frame["bp"],
            "s1": frame["s1"],
            "s5": frame["s5"],
            "target": frame["target"].round().astype("int64"),
            "sex": pd.Series(np.where(frame["sex"] == 1, "sex_1", "sex_2"), dtype="str"),
            "age_band": pd.cut(
                frame["age"], [0, 39, 59, 200], labels=["<40", "40-59", "60+"]
            ).astype("str"),
        }
    )
    synthetic = real.iloc[rng.integers(0, len(real), len(real))].reset_index(drop=True)
    synthetic["bmi"] = synthetic["bmi"] + 4.0
    synthetic["s5"] = synthetic["s5"] * 1.1
    low = rng.random(len(synthetic)) < 0.05
    synthetic.loc[low, "bp"] = real["bp"].min() - rng.uniform(1.0, 20.0, int(low.sum()))
    return Pair(
        name="diabetes_shift",
        description="Diabetes (442 rows) against a seeded bootstrap of its rows, then distorted.",
        plants=[
            "shifted column: bmi + 4.0 (about 1 sd) in synthetic",
            "synthetic values above the real max: s5 * 1.1",
            "synthetic values below the real min: about 5% of bp",
            "int columns (age, target)",
        ],
        real=real,
        synthetic=synthetic,
        sdtypes={
            "age": "numerical",
            "bmi": "numerical",
            "bp": "numerical",
            "s1": "numerical",
            "s5": "numerical",
            "target": "numerical",
            "sex": "categorical",
            "age_band": "categorical",
        },
    )


def breast_cancer_decorrelated() -> Pair:
    """Breast cancer rows against other rows whose columns were each shuffled on their own."""
    rng = np.random.default_rng(404)
    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame
    full = pd.DataFrame(
        {
            "mean_radius": frame["mean radius"],
            "mean_perimeter": frame["mean perimeter"],
            "mean_area": frame["mean area"],
            "mean_texture": frame["mean texture"],
            "mean_concavity": frame["mean concavity"],
            "worst_radius": frame["worst radius"],
            "diagnosis": pd.Series(bunch.target_names[frame["target"]], dtype="str"),
            "size_class": pd.qcut(
                frame["mean radius"], 3, labels=["small", "medium", "large"]
            ).astype("str"),
        }
    )
    order = rng.permutation(len(full))
    real = full.iloc[np.sort(order[:300])].reset_index(drop=True)
    other = full.iloc[np.sort(order[300:])].reset_index(drop=True)
    synthetic = pd.DataFrame(
        {column: other[column].to_numpy()[rng.permutation(len(other))] for column in other}
    ).astype(other.dtypes.to_dict())
    return Pair(
        name="breast_cancer_decorrelated",
        description=(
            "Breast cancer: 300 rows against the other 269 rows with every column permuted "
            "independently (marginals kept, every correlation and association broken)."
        ),
        plants=[
            "broken correlation: radius/perimeter/area (r ~ 0.99 real, ~ 0 synthetic)",
            "broken association between diagnosis and size_class",
            "unequal row counts (300 vs 269)",
        ],
        real=real,
        synthetic=synthetic,
        sdtypes={
            "mean_radius": "numerical",
            "mean_perimeter": "numerical",
            "mean_area": "numerical",
            "mean_texture": "numerical",
            "mean_concavity": "numerical",
            "worst_radius": "numerical",
            "diagnosis": "categorical",
            "size_class": "categorical",
        },
    )


def adult_census() -> Pair:
    """The project's Adult sample against an independent-marginals generator, with plants."""
    rng = np.random.default_rng(505)
    frame = demo_frame().drop(columns=["person_id"])
    order = rng.permutation(len(frame))
    rows = 800
    real = frame.iloc[np.sort(order[:rows])].reset_index(drop=True)
    source = frame.iloc[np.sort(order[rows : 2 * rows])].reset_index(drop=True)
    synthetic = pd.DataFrame(
        {column: source[column].to_numpy()[rng.integers(0, rows, rows)] for column in source}
    ).astype(source.dtypes.to_dict())
    # A category present in real but absent in synthetic.
    synthetic["workclass"] = synthetic["workclass"].replace({"Self-emp-inc": "Private"})
    # A category present in synthetic but absent in real.
    invented = rng.random(rows) < 0.03
    synthetic.loc[invented, "occupation"] = "Drone-pilot"
    # Missing values in an int column, at different rates.
    real["hours_per_week"] = with_missing(real["hours_per_week"], 0.02, rng, "Int64")
    synthetic["hours_per_week"] = with_missing(synthetic["hours_per_week"], 0.08, rng, "Int64")
    # A boolean column with missing values (missing where native_country is).
    for table in (real, synthetic):
        native = table["native_country"]
        table["us_native"] = pd.array(
            [None if pd.isna(value) else value == "United-States" for value in native],
            dtype="boolean",
        )
    columns = [
        "age",
        "education_num",
        "capital_gain",
        "capital_loss",
        "hours_per_week",
        "workclass",
        "education",
        "marital_status",
        "occupation",
        "sex",
        "native_country",
        "income",
        "us_native",
    ]
    real, synthetic = real[columns], synthetic[columns]
    sdtypes = {column: "categorical" for column in columns}
    for column in ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week"):
        sdtypes[column] = "numerical"
    sdtypes["us_native"] = "boolean"
    return Pair(
        name="adult_census",
        description=(
            "The project's UCI Adult sample (validation_loop.demo.demo_frame): 800 rows against "
            "800 rows sampled column by column from 800 other rows (independent marginals)."
        ),
        plants=[
            "missing values in categorical columns (workclass, occupation, native_country)",
            "missing values in an int column (hours_per_week: ~2% real, ~8% synthetic)",
            "category in real absent in synthetic (workclass 'Self-emp-inc')",
            "category in synthetic absent in real (occupation 'Drone-pilot')",
            "boolean column with missing values (us_native)",
            "heavily tied int columns (capital_gain, capital_loss: mostly 0)",
            "associations between columns broken by the generator",
        ],
        real=real,
        synthetic=synthetic,
        sdtypes=sdtypes,
        categorical_pairs=[
            ("workclass", "education"),
            ("workclass", "occupation"),
            ("workclass", "sex"),
            ("workclass", "us_native"),
            ("education", "income"),
            ("marital_status", "sex"),
            ("marital_status", "income"),
            ("occupation", "sex"),
            ("occupation", "income"),
            ("occupation", "native_country"),
            ("sex", "income"),
            ("sex", "us_native"),
            ("native_country", "income"),
            ("native_country", "us_native"),
            ("income", "us_native"),
        ],
    )


def edge_cases() -> Pair:
    """A hand-made table of edge cases: constants, all-missing columns, datetimes, new values."""
    rng = np.random.default_rng(606)
    n_real, n_syn = 60, 50
    start = pd.Timestamp("2024-01-01")
    real = pd.DataFrame(
        {
            "value": rng.normal(10.0, 2.0, n_real),
            "count": rng.poisson(3.0, n_real).astype("int64"),
            "constant_real": np.full(n_real, 3.0),
            "syn_all_missing": rng.normal(0.0, 1.0, n_real),
            "both_missing": with_missing(pd.Series(rng.uniform(0.0, 100.0, n_real)), 0.1, rng),
            "narrow_syn": rng.uniform(0.0, 10.0, n_real),
            "when": (start + pd.to_timedelta(rng.integers(0, 366, n_real), unit="D")).astype(
                "datetime64[us]"
            ),
            "color": with_missing(
                pd.Series(rng.choice(["red", "green", "blue"], n_real), dtype="str"), 0.1, rng
            ),
            "size": pd.Series(rng.choice(["S", "M", "L", "XL"], n_real, p=[0.4, 0.3, 0.2, 0.1])),
            "flag": with_missing(pd.Series(rng.random(n_real) < 0.3), 0.15, rng, "boolean"),
            "cat_syn_all_missing": pd.Series(rng.choice(["a", "b"], n_real), dtype="str"),
        }
    )
    real["size"] = real["size"].astype("str")
    synthetic = pd.DataFrame(
        {
            "value": rng.normal(10.5, 2.5, n_syn),
            "count": with_missing(
                pd.Series(rng.poisson(3.5, n_syn).astype("int64")), 0.2, rng, "Int64"
            ),
            "constant_real": rng.normal(3.0, 1.0, n_syn).round(0),
            "syn_all_missing": np.full(n_syn, np.nan),
            "both_missing": with_missing(
                pd.Series(rng.uniform(-20.0, 120.0, n_syn)), 0.3, rng, "float64"
            ),
            "narrow_syn": rng.uniform(3.0, 6.0, n_syn),
            "when": (start + pd.to_timedelta(rng.integers(90, 456, n_syn), unit="D")).astype(
                "datetime64[us]"
            ),
            "color": with_missing(
                pd.Series(rng.choice(["red", "green", "purple"], n_syn), dtype="str"), 0.2, rng
            ),
            "size": pd.Series(rng.choice(["S", "M", "L", "XL"], n_syn, p=[0.1, 0.2, 0.3, 0.4])),
            "flag": with_missing(pd.Series(rng.random(n_syn) < 0.6), 0.05, rng, "boolean"),
            "cat_syn_all_missing": pd.Series([None] * n_syn, dtype="str"),
        }
    )
    synthetic["size"] = synthetic["size"].astype("str")
    when_missing = rng.random(n_syn) < 0.1
    synthetic.loc[when_missing, "when"] = pd.NaT
    return Pair(
        name="edge_cases",
        description="Hand-made seeded table of edge cases (60 real rows, 50 synthetic rows).",
        plants=[
            "constant real column (constant_real): RangeCoverage NaN, correlation error",
            "numeric column all missing in synthetic (syn_all_missing)",
            "synthetic missing values where real has none (count: int, ~20% missing) -- "
            "BoundaryAdherence counts them as out of bounds",
            "missing values on both sides and synthetic values beyond both real bounds "
            "(both_missing)",
            "synthetic covering only the middle of the real range (narrow_syn)",
            "datetime column, shifted by 90 days, with NaT in synthetic (when)",
            "categorical with missing values, a real-only value (blue) and a synthetic-only "
            "value (purple) (color)",
            "categorical with the same categories and different frequencies (size)",
            "boolean with missing values on both sides (flag)",
            "categorical all missing in synthetic (cat_syn_all_missing)",
        ],
        real=real,
        synthetic=synthetic,
        sdtypes={
            "value": "numerical",
            "count": "numerical",
            "constant_real": "numerical",
            "syn_all_missing": "numerical",
            "both_missing": "numerical",
            "narrow_syn": "numerical",
            "when": "datetime",
            "color": "categorical",
            "size": "categorical",
            "flag": "boolean",
            "cat_syn_all_missing": "categorical",
        },
        numeric_pairs=[
            ("value", "count"),
            ("value", "constant_real"),
            ("value", "syn_all_missing"),
            ("value", "both_missing"),
            ("value", "narrow_syn"),
            ("value", "when"),
            ("count", "both_missing"),
            ("count", "when"),
            ("both_missing", "narrow_syn"),
            ("both_missing", "when"),
        ],
        categorical_pairs=[
            ("color", "size"),
            ("color", "flag"),
            ("color", "cat_syn_all_missing"),
            ("size", "flag"),
            ("size", "cat_syn_all_missing"),
            ("flag", "cat_syn_all_missing"),
        ],
        mixed_pairs=[
            ("value", "color"),
            ("count", "flag"),
            ("both_missing", "size"),
            ("narrow_syn", "color"),
            ("syn_all_missing", "size"),
        ],
    )


BUILDERS: list[Callable[[], Pair]] = [
    iris_identical,
    wine_halves,
    diabetes_shift,
    breast_cancer_decorrelated,
    adult_census,
    edge_cases,
]


def write_pair(pair: Pair) -> dict[str, Any]:
    """Write one pair's Parquet files and return its manifest entry."""
    for role, table in (("real", pair.real), ("synthetic", pair.synthetic)):
        table.to_parquet(DATA_DIR / f"{pair.name}_{role}.parquet", index=False)
    return {
        "description": pair.description,
        "plants": pair.plants,
        "rows": {"real": len(pair.real), "synthetic": len(pair.synthetic)},
        "sdtypes": pair.sdtypes,
        "numeric_pairs": [list(columns) for columns in pair.numeric_pairs],
        "categorical_pairs": [list(columns) for columns in pair.categorical_pairs],
        "mixed_pairs": [list(columns) for columns in pair.mixed_pairs],
    }


def main() -> None:
    """Write every pair and the manifest."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    manifest = {"datasets": {}}
    for build in BUILDERS:
        pair = build()
        manifest["datasets"][pair.name] = write_pair(pair)
        print(f"{pair.name}: {len(pair.real)} real rows, {len(pair.synthetic)} synthetic rows")
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

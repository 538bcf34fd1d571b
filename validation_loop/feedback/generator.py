"""The reference generator: a config-driven tabular generator the loop can run end to end.

A config (`generator/vNNNN.yaml`) says everything the generator does, so the feedback step can
change it and a person can review the change:

- `slice_column` and `slice_weights`: how often each value of one categorical column occurs;
  rows are generated slice by slice.
- `columns`: per column its marginal, overall and per slice: numeric columns as 21 quantiles
  (0%, 5%, ..., 100%) with a `shift` and a `scale` around the median (and rounded when the human
  values are whole numbers), categorical columns as category probabilities; plus the share of
  missing values.
- `correlation`: a Gaussian copula over the columns and then the label (categories ordered from
  most to least common), so relations between columns, and with the label, survive.
- `label`: per slice the label's category probabilities (classification) or its quantiles
  (regression) — a label model per slice.
- `duplicate_rate` and `noise`: the share of rows that repeat an earlier row, and Gaussian
  noise (in each numeric column's IQR) added after the copula.
- `seed`.

`fit_config` learns a config from human rows; `generate` draws rows from a config.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from validation_loop.spec import ColumnType, LoopSpec, Task

LEVELS = np.linspace(0, 1, 21)
OVERALL = "*"
MISSING = "(missing)"  # the slice of rows whose slice column is empty
MISSING = "(missing)"  # the slice of rows whose slice column is empty


class Marginal(BaseModel):
    """One column's distribution (numeric: quantiles, shift, scale; categorical: probabilities)."""

    model_config = ConfigDict(extra="forbid")

    quantiles: list[float] | None = None
    integer: bool = False
    probabilities: dict[str, float] | None = None
    shift: float = 0.0
    scale: float = 1.0
    missing: float = Field(0.0, ge=0, le=1)


class ColumnConfig(BaseModel):
    """A column's marginal overall (`*`) and in each slice that has its own."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    marginals: dict[str, Marginal]

    def marginal(self, slice_value: str) -> Marginal:
        """The slice's marginal, else the overall one."""
        return self.marginals.get(slice_value, self.marginals[OVERALL])


class GeneratorConfig(BaseModel):
    """A whole generator config, as stored in `generator/vNNNN.yaml`."""

    model_config = ConfigDict(extra="forbid")

    version: str = "v0001"
    seed: int = 0
    rows: int = Field(10_000, ge=1)
    slice_column: str | None = None
    slice_weights: dict[str, float] = Field(default_factory=dict)
    columns: dict[str, ColumnConfig]
    correlation: list[list[float]]
    label: str
    label_model: dict[str, Marginal]
    duplicate_rate: float = Field(0.0, ge=0, lt=1)
    noise: float = Field(0.0, ge=0)


def _marginal(values: pd.Series, kind: ColumnType) -> Marginal:
    """Learn one marginal from human values."""
    missing = float(values.isna().mean()) if len(values) else 0.0
    present = values.dropna()
    if kind is ColumnType.numeric:
        numbers = present.to_numpy(dtype=float)
        quantiles = np.quantile(numbers, LEVELS).tolist() if numbers.size else [0.0] * 21
        integer = bool(numbers.size) and bool(np.all(numbers == np.round(numbers)))
        return Marginal(quantiles=quantiles, integer=integer, missing=missing)
    shares = present.astype(str).value_counts(normalize=True)
    return Marginal(probabilities={str(k): float(v) for k, v in shares.items()}, missing=missing)


def _codes(frame: pd.DataFrame, spec: LoopSpec, names: list[str]) -> np.ndarray:
    """Columns as normal scores (ranks through the normal quantile) for the copula fit.

    Categories are ranked from most to least common, the order `generate` draws them in.
    """
    scores = np.zeros((len(frame), len(names)))
    for index, name in enumerate(names):
        ranks = frame[name].rank(method="average", na_option="keep")
        if spec.columns[name] is not ColumnType.numeric:
            text = frame[name].astype(str).where(frame[name].notna())
            ranks = (-text.map(text.value_counts())).rank(method="average", na_option="keep")
        uniform = (ranks / (ranks.count() + 1)).fillna(0.5).to_numpy()
        scores[:, index] = stats.norm.ppf(np.clip(uniform, 1e-6, 1 - 1e-6))
    return scores


def generated_columns(spec: LoopSpec) -> list[str]:
    """The columns the reference generator makes: every spec column but the id and text."""
    return [
        c
        for c, kind in spec.columns.items()
        if c not in (spec.item_column, spec.label)
        and kind in (ColumnType.numeric, ColumnType.categorical, ColumnType.boolean)
    ]


def fit_config(
    human: pd.DataFrame, spec: LoopSpec, rows: int, version: str = "v0001"
) -> GeneratorConfig:
    """A config that reproduces the human data: marginals per slice, copula, label per slice."""
    names = generated_columns(spec)
    slice_column = spec.slices[0] if spec.slices else None
    keys = (
        human[slice_column].astype("object").where(human[slice_column].notna(), MISSING).astype(str)
        if slice_column
        else None
    )
    groups = {str(k): g for k, g in human.groupby(keys)} if keys is not None else {}
    columns = {}
    for name in names:
        kind = spec.columns[name]
        marginals = {OVERALL: _marginal(human[name], kind)}
        marginals |= {
            value: _marginal(group[name], kind)
            for value, group in groups.items()
            if name != slice_column
        }
        columns[name] = ColumnConfig(
            kind="numeric" if kind is ColumnType.numeric else "categorical", marginals=marginals
        )
    label_kind = ColumnType.numeric if spec.task is Task.regression else ColumnType.categorical
    label_model = {OVERALL: _marginal(human[spec.label], label_kind)}
    label_model |= {
        value: _marginal(group[spec.label], label_kind) for value, group in groups.items()
    }
    copula = [*names, spec.label]
    correlation = np.corrcoef(_codes(human, spec, copula), rowvar=False)
    weights = keys.value_counts(normalize=True).to_dict() if keys is not None else {}
    return GeneratorConfig(
        version=version,
        seed=spec.seed,
        rows=rows,
        slice_column=slice_column,
        slice_weights={str(k): float(v) for k, v in weights.items()},
        columns=columns,
        correlation=np.nan_to_num(correlation, nan=0.0).round(6).tolist(),
        label=spec.label,
        label_model=label_model,
    )


def _numeric(
    uniform: np.ndarray, marginal: Marginal, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """Uniforms through the quantile function, then shift, scale around the median, noise."""
    quantiles = np.asarray(marginal.quantiles, dtype=float)
    values = np.interp(uniform, LEVELS, quantiles)
    median = float(np.interp(0.5, LEVELS, quantiles))
    values = median + (values - median) * marginal.scale + marginal.shift
    if noise:
        spread = float(np.interp(0.75, LEVELS, quantiles) - np.interp(0.25, LEVELS, quantiles))
        values = values + rng.normal(0, noise * (spread or 1.0), values.size)
    return np.round(values) if marginal.integer else values


def _categorical(uniform: np.ndarray, marginal: Marginal) -> np.ndarray:
    """Uniforms through the cumulative category probabilities (most common category first)."""
    probabilities = marginal.probabilities or {"": 1.0}
    names = sorted(probabilities, key=lambda k: -probabilities[k])
    weights = np.array([probabilities[k] for k in names], dtype=float)
    edges = np.cumsum(weights / weights.sum())
    picks = np.minimum(np.searchsorted(edges, uniform, side="right"), len(names) - 1)
    return np.asarray(names, dtype=object)[picks]


def _with_missing(values: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Blank out about `share` of the values."""
    if share <= 0:
        return values
    out = values.astype(object)
    out[rng.random(values.size) < share] = None
    return out


def generate(config: GeneratorConfig, rows: int | None = None) -> pd.DataFrame:
    """Draw rows from a config (deterministic for its seed)."""
    rng = np.random.default_rng(config.seed)
    total = rows or config.rows
    unique_rows = max(1, round(total * (1 - config.duplicate_rate)))
    names = list(config.columns)
    weights = config.slice_weights or {OVERALL: 1.0}
    values_list = list(weights)
    shares = np.array([weights[v] for v in values_list], dtype=float)
    slices = rng.choice(values_list, size=unique_rows, p=shares / shares.sum())
    correlation = np.asarray(config.correlation, dtype=float)
    normals = rng.multivariate_normal(
        np.zeros(len(names) + 1), correlation, size=unique_rows, method="eigh"
    )
    uniform = stats.norm.cdf(normals)
    frame: dict[str, np.ndarray] = {}
    for index, name in enumerate(names):
        column = config.columns[name]
        out = np.empty(unique_rows, dtype=object)
        for value in np.unique(slices):
            inside = slices == value
            marginal = column.marginal(str(value))
            if name == config.slice_column:
                drawn = np.full(inside.sum(), None if value == MISSING else value, dtype=object)
            elif column.kind == "numeric":
                drawn = _numeric(uniform[inside, index], marginal, config.noise, rng)
            else:
                drawn = _categorical(uniform[inside, index], marginal)
            out[inside] = _with_missing(drawn, marginal.missing, rng)
        frame[name] = out
    label = np.empty(unique_rows, dtype=object)
    for value in np.unique(slices):
        inside = slices == value
        model = config.label_model.get(str(value), config.label_model[OVERALL])
        draws = uniform[inside, len(names)]
        label[inside] = (
            _numeric(draws, model, 0.0, rng)
            if model.quantiles is not None
            else _categorical(draws, model)
        )
    frame[config.label] = label
    table = pd.DataFrame(frame)
    if unique_rows < total:
        repeats = table.iloc[rng.integers(0, unique_rows, total - unique_rows)]
        table = pd.concat([table, repeats], ignore_index=True)
    for name, column in config.columns.items():
        if column.kind == "numeric":
            table[name] = pd.to_numeric(table[name], errors="coerce")
    return table.sample(frac=1.0, random_state=config.seed).reset_index(drop=True)

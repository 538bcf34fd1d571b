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
- `label_by_group`: per sensitive column and group, the label's category probabilities; labels
  inside a group are reassigned (as few as possible) to match them, in a few raking passes
  when there are several sensitive columns.
- `duplicate_rate` and `noise`: the share of rows that repeat an earlier row, and Gaussian
  noise (in each numeric column's IQR) added after the copula.
- `min_distance`: generated rows closer to a human row than this share of the typical distance
  between human rows (median nearest-neighbour distance; mixed encoding, Manhattan, as the
  privacy checks measure it) are drawn again; needs the human rows at generation time.
- `seed`; and the version's lineage: `parent`, `report_id`, `created_at`, `changelog`.

`fit_config` learns a config from human rows; `generate` draws rows from a config.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from validation_loop.errors import ValidationLoopError
from validation_loop.gaps.encoding import MixedEncoder, nearest_distances
from validation_loop.spec import ColumnType, LoopSpec, Task

LEVELS = np.linspace(0, 1, 21)
OVERALL = "*"
MISSING = "(missing)"  # the slice of rows whose slice column is empty
RAKING_PASSES = 5  # passes over several sensitive columns, so each one's rates hold at the end
FIT_ROWS = 50_000  # human rows a config is fitted on at most


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


class Change(BaseModel):
    """One changelog entry: which gap caused it, the old and new value, the expected effect."""

    model_config = ConfigDict(extra="forbid")

    path: list[str]
    old: Any = None
    new: Any = None
    gap: dict[str, Any]
    effect: str


class GeneratorConfig(BaseModel):
    """A whole generator config, as stored in `generator/vNNNN.yaml`."""

    model_config = ConfigDict(extra="forbid")

    version: str = "v0001"
    parent: str | None = None
    report_id: str | None = None
    created_at: str | None = None
    changelog: list[Change] = Field(default_factory=list)
    seed: int = 0
    rows: int = Field(10_000, ge=1)
    slice_column: str | None = None
    slice_weights: dict[str, float] = Field(default_factory=dict)
    columns: dict[str, ColumnConfig]
    correlation: list[list[float]]
    label: str
    label_model: dict[str, Marginal]
    label_by_group: dict[str, dict[str, dict[str, float]]] = Field(default_factory=dict)
    duplicate_rate: float = Field(0.0, ge=0, lt=1)
    noise: float = Field(0.0, ge=0)
    min_distance: float = Field(0.0, ge=0)


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

    Categories are ranked from most to least common (ties by name), the order `generate` draws
    them in.
    """
    scores = np.zeros((len(frame), len(names)))
    for index, name in enumerate(names):
        ranks = frame[name].rank(method="average", na_option="keep")
        if spec.columns[name] is not ColumnType.numeric:
            text = frame[name].astype(str).where(frame[name].notna())
            order = {k: i for i, k in enumerate(_draw_order(text.value_counts().to_dict()))}
            codes, seen = pd.factorize(text)  # a missing value gets code -1: the NaN at the end
            position = np.array([*(order[value] for value in seen), np.nan])
            ranks = pd.Series(position[codes]).rank(method="average", na_option="keep")
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
    """A config that reproduces the human data: marginals per slice, copula, label per slice.

    It is fitted on the first `FIT_ROWS` rows of `human` (callers pass a seeded sample, in
    random order): a config's quantiles and correlations need no more, and the copula's ranks
    cost time with every row.
    """
    human = human.head(FIT_ROWS)
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
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant column has no correlation
        correlation = np.corrcoef(_codes(human, spec, copula), rowvar=False)
    weights = keys.value_counts(normalize=True).to_dict() if keys is not None else {}
    by_group = {}
    if spec.task is not Task.regression:
        for column in (c for c in spec.sensitive if c in names):
            labels = human[[column, spec.label]].dropna().astype(str)
            by_group[column] = {
                str(group): {str(k): float(v) for k, v in rows.value_counts(normalize=True).items()}
                for group, rows in labels.groupby(column)[spec.label]
            }
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
        label_by_group=by_group,
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


def _draw_order(weights: dict[str, float]) -> list[str]:
    """Categories in the order the copula maps them: most common first, ties by name."""
    return sorted(weights, key=lambda k: (-weights[k], str(k)))


def _categorical(uniform: np.ndarray, marginal: Marginal) -> np.ndarray:
    """Uniforms through the cumulative category probabilities (most common category first)."""
    probabilities = marginal.probabilities or {"": 1.0}
    names = _draw_order(probabilities)
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


def _class_distance(uniform: np.ndarray, marginal: Marginal, name: str) -> np.ndarray:
    """How far each copula uniform lies from the interval that draws class `name`."""
    probabilities = marginal.probabilities or {}
    if name not in probabilities:
        return np.full(uniform.shape, 2.0)
    names = _draw_order(probabilities)
    weights = np.array([probabilities[k] for k in names], dtype=float)
    edges = np.concatenate([[0.0], np.cumsum(weights / weights.sum())])
    index = names.index(name)
    low, high = edges[index], edges[index + 1]
    return np.maximum(np.maximum(low - uniform, uniform - high), 0.0)


def _match_group_rates(
    labels: np.ndarray,
    groups: np.ndarray,
    targets: dict[str, dict[str, float]],
    uniform: np.ndarray,
    slices: np.ndarray,
    label_model: dict[str, Marginal],
) -> np.ndarray:
    """Relabel as few rows as possible so each group's label shares match its targets.

    A row moves from an over-represented class to a lacking one when its copula uniform lies
    closest to that class's interval (in its slice's label model): the rows that were nearly
    labelled so, so the label keeps its relation with the other columns.
    """
    out = labels.copy()
    for group, target in targets.items():
        inside = np.flatnonzero(groups == group)
        if inside.size == 0:
            continue
        have = pd.Series(out[inside]).astype(str).value_counts()
        classes = sorted(set(target) | set(have.index))
        total = sum(target.values()) or 1.0
        want = {k: round(target.get(k, 0.0) / total * inside.size) for k in classes}
        excess = {k: int(have.get(k, 0)) - want[k] for k in classes}
        for lacking in (k for k in classes if excess[k] < 0):
            for donor in (k for k in classes if excess[k] > 0):
                moving = min(excess[donor], -excess[lacking])
                if moving <= 0:
                    continue
                rows = inside[out[inside].astype(str) == donor]
                distance = np.empty(rows.size)
                for value in np.unique(slices[rows]):
                    part = slices[rows] == value
                    model = label_model.get(str(value), label_model[OVERALL])
                    distance[part] = _class_distance(uniform[rows[part]], model, lacking)
                chosen = rows[np.argsort(distance, kind="stable")[:moving]]
                out[chosen] = lacking
                excess[donor] -= moving
                excess[lacking] += moving
    return out


def _as_text(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Categorical columns as text on both sides (a human bool and a generated "True" match)."""
    return frame.assign(
        **{c: frame[c].astype(object).where(frame[c].isna(), frame[c].astype(str)) for c in columns}
    )


def generate(
    config: GeneratorConfig, rows: int | None = None, reference: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Draw rows from a config (deterministic for its seed and version).

    With `min_distance` and the human rows as `reference`, a row is drawn again while it lies
    closer to a human row than `min_distance` times the median distance between human rows and
    their nearest other human row (mixed encoding, Manhattan), at most five times. Raises when
    fewer than half the rows can be made that far from the human data.
    """
    total = rows or config.rows
    table = _draw(config, total, 0)
    if config.min_distance <= 0 or reference is None or reference.empty:
        return table
    label_numeric = config.label_model[OVERALL].quantiles is not None
    numeric = [n for n, c in config.columns.items() if c.kind == "numeric"]
    numeric += [config.label] if label_numeric else []
    categorical = [n for n in [*config.columns, config.label] if n not in numeric]
    human_rows = _as_text(reference, categorical)
    encoder = MixedEncoder(numeric, categorical).fit(human_rows)
    human = encoder.transform(human_rows)
    typical = float(np.median(nearest_distances(human, human, True))) or 1.0
    floor = config.min_distance * typical

    def far(frame: pd.DataFrame) -> pd.DataFrame:
        coded = encoder.transform(_as_text(frame, categorical))
        return frame[nearest_distances(human, coded, False) >= floor]

    kept = [far(table)]
    for attempt in range(1, 6):
        short = total - sum(len(k) for k in kept)
        if short <= 0:
            break
        kept.append(far(_draw(config, 2 * short, attempt)).head(short))
    made = pd.concat(kept, ignore_index=True).head(total)
    if len(made) < total / 2:
        raise ValidationLoopError(
            f"min_distance {config.min_distance:g}: only {len(made)} of {total} rows lie far "
            "enough from the human rows; lower min_distance"
        )
    return made


def _draw(config: GeneratorConfig, total: int, attempt: int) -> pd.DataFrame:
    """Draw `total` rows; the random stream depends on the seed, the version and the attempt,
    so each version draws fresh rows (and two versions never make the same batch)."""
    number = int(config.version[1:]) if config.version[1:].isdigit() else 0
    rng = np.random.default_rng([config.seed, number, attempt])
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
    table = pd.DataFrame(frame)
    for _ in range(RAKING_PASSES if len(config.label_by_group) > 1 else 1):
        for column, targets in config.label_by_group.items():
            groups = table[column].astype("object").to_numpy()
            label = _match_group_rates(
                label, groups, targets, uniform[:, len(names)], slices, config.label_model
            )
    table[config.label] = label
    if unique_rows < total:
        repeats = table.iloc[rng.integers(0, unique_rows, total - unique_rows)]
        table = pd.concat([table, repeats], ignore_index=True)
    for name, column in config.columns.items():
        if column.kind == "numeric":
            table[name] = pd.to_numeric(table[name], errors="coerce")
    order = rng.permutation(len(table))
    return table.iloc[order].reset_index(drop=True)

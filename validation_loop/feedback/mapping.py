"""Turn a report's gaps into recommendations, and those into changes to the generator config.

Every gap at warn or error lands in exactly one recommendation. A recommendation says what to
do in terms any generator can follow (the human `target` values), and, where the reference
generator has a knob for it, the concrete `changes` to its config: a path, the old and the new
value, and the expected effect. Targets come from a config fitted on the human truth
(`fit_config`), so a change never invents a value the human data does not show: label rates per
group are the human conditional rates, never a disparity of their own.

- numeric column (marginal, coverage, spread): its quantiles, shift, scale and missing share;
- categorical column (marginal, coverage, entropy): its category shares (adds missing ones);
- slice column shares, a missing slice: slice weights, a new slice's marginals and label model
  (a slice oversampled on purpose, up to 1.5x its human share, is left alone; a missing-rate gap
  of the slice column moves only the weight of its missing-value slice);
- pairwise: the copula's correlation entries of the pair; the label's marginal: its label model;
- bias outcome and disparity gaps: `label_by_group`, set to the human conditional rates;
- duplicates, near duplicates, collapse: lower `duplicate_rate`, then raise `noise`;
- privacy copies and DCR: raise `min_distance` (0.5, then +0.25 up to 1 typical human
  nearest-neighbour distance; near copies are drawn again);
- utility gaps in a slice of the slice column: oversample it (at most 1.5x its human share) and
  match its label model;
- detection, overall utility, other slices: a recommendation for a person (`automated: false`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from validation_loop.feedback.generator import MISSING, OVERALL, Change, GeneratorConfig
from validation_loop.gaps.records import SEVERITY_ORDER

NOISE_STEP = 0.05
MAX_NOISE = 0.3
MIN_DISTANCE_START = 0.5  # shares of the typical human nearest-neighbour distance
MIN_DISTANCE_STEP = 0.25
MAX_MIN_DISTANCE = 1.0
PLAN_ORDER = [
    "coverage",
    "marginal",
    "bias",
    "diversity",
    "collapse",
    "privacy",
    "pairwise",
    "utility",
    "detection",
    "freshness",
]
OVERSAMPLE_CAP = 1.5
DIGITS = 6
MARGINAL_METRICS = {
    "ks",
    "wasserstein_iqr",
    "psi",
    "js_distance",
    "tv_distance",
    "chi_square",
    "missing_rate_gap",
    "range_coverage",
    "out_of_bounds_share",
    "boundary_adherence",
    "category_coverage",
    "unseen_category_share",
    "category_share_ratio",
    "entropy_ratio",
    "iqr_ratio",
    "tail_span_ratio",
}


@dataclass
class Recommendation:
    """What to do about a group of gaps; `changes` when the reference generator can do it."""

    key: str
    action: str
    columns: list[str]
    slice: dict[str, Any] | None
    note: str
    target: dict[str, Any] = field(default_factory=dict)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def severity(self) -> str:
        """The worst severity of its gaps."""
        return max((g["severity"] for g in self.gaps), key=SEVERITY_ORDER.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: a team with its own generator can apply `target` and `note`."""
        return {
            "key": self.key,
            "action": self.action,
            "severity": self.severity,
            "columns": self.columns,
            "slice": self.slice,
            "automated": bool(self.changes),
            "note": self.note,
            "target": self.target,
            "gaps": self.gaps,
            "changes": [c.model_dump(mode="json") for c in self.changes],
        }


def _gap_ref(record: dict[str, Any]) -> dict[str, Any]:
    """The fields that identify a gap in a changelog."""
    return {
        k: record.get(k)
        for k in ("kind", "metric", "columns", "slice", "value", "threshold", "severity")
    }


def _rounded(value: Any) -> Any:
    """Values compared and stored at a fixed precision."""
    if isinstance(value, float):
        return round(value, DIGITS)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _effect(record: dict[str, Any], what: str) -> str:
    """The expected effect sentence of a change."""
    value, threshold = record.get("value"), record.get("threshold")
    where = ", ".join(record.get("columns") or [])
    now = "" if value is None else f" (now {value:.3g}, threshold {threshold:.3g})"
    return f"{what}; expected to close {record['kind']}/{record['metric']} on {where}{now}"


class _Planner:
    """Collects recommendations and changes for one report against one config."""

    def __init__(self, config: GeneratorConfig | None, target: GeneratorConfig | None) -> None:
        self.config = config
        self._target = target
        self.recommendations: dict[str, Recommendation] = {}
        self.paths: set[tuple[str, ...]] = set()

    @property
    def target(self) -> GeneratorConfig:
        """The human-fitted config the changes aim at (only planners with one use it)."""
        assert self._target is not None
        return self._target

    def recommend(
        self,
        record: dict[str, Any],
        key: str,
        action: str,
        note: str,
        target: dict[str, Any] | None = None,
        columns: list[str] | None = None,
        changes: Callable[[], list[tuple[list[str], Any, Any, str]]] | None = None,
    ) -> None:
        """Add the gap to its recommendation (made on first use) with the changes it needs.

        A path changed once in a report is not changed again; the first gap claims it.
        """
        rec = self.recommendations.get(key)
        if rec is None:
            rec = Recommendation(key, action, [], record.get("slice"), note, {})
            self.recommendations[key] = rec
        rec.gaps.append(_gap_ref(record))
        for name in columns if columns is not None else record.get("columns") or []:
            if name not in rec.columns:
                rec.columns.append(name)
        for name, value in (target or {}).items():
            if isinstance(value, dict) and isinstance(rec.target.get(name), dict):
                rec.target[name].update(value)
            else:
                rec.target.setdefault(name, value)
        if self.config is None or changes is None:
            return
        for path, old, new, what in changes():
            if _rounded(old) == _rounded(new) or tuple(path) in self.paths:
                continue
            self.paths.add(tuple(path))
            rec.changes.append(
                Change(
                    path=path,
                    old=_rounded(old),
                    new=_rounded(new),
                    gap=_gap_ref(record),
                    effect=_effect(record, what),
                )
            )

    # --- changes per knob -------------------------------------------------------------

    def marginal_changes(self, column: str) -> list[tuple[list[str], Any, Any, str]]:
        """Every marginal of a column (overall and per slice) toward the human one."""
        assert self.config is not None
        out: list[tuple[list[str], Any, Any, str]] = []
        current = self.config.columns.get(column)
        wanted = self.target.columns[column]
        for key, marginal in wanted.marginals.items():
            base = ["columns", column, "marginals", key]
            have = current.marginals.get(key) if current else None
            where = "overall" if key == OVERALL else f"in slice {key}"
            if have is None:
                new = marginal.model_dump(mode="json")
                out.append((base, None, new, f"{column} gets the human marginal {where}"))
                continue
            for name in ("quantiles", "probabilities", "shift", "scale", "missing"):
                old, new = getattr(have, name), getattr(marginal, name)
                what = {
                    "quantiles": f"{column}'s quantiles (location and tails) {where} follow human",
                    "probabilities": f"{column}'s category shares {where} follow human",
                    "shift": f"{column}'s location shift {where} removed",
                    "scale": f"{column}'s scale {where} reset to the human spread",
                    "missing": f"{column}'s missing share {where} matches human",
                }[name]
                if name == "probabilities":
                    what += _added(old, new)
                out.append(([*base, name], old, new, what))
        return out

    def slice_changes(self, only: str | None = None) -> list[tuple[list[str], Any, Any, str]]:
        """Slice weights (all, or `only` one) toward human shares; a slice new to the config
        gets its marginals and label model."""
        assert self.config is not None
        out: list[tuple[list[str], Any, Any, str]] = []
        for value, share in self.target.slice_weights.items():
            if only is not None and value != only:
                continue
            old = self.config.slice_weights.get(value)
            if only is None and old is not None and share <= old <= OVERSAMPLE_CAP * share:
                continue  # a slice oversampled on purpose (utility) stays so
            what = "adds the missing slice" if old is None else "reweights the slice"
            out.append((["slice_weights", value], old, share, f"{what} {value} to its human share"))
            if old is not None:
                continue
            for column, wanted in self.target.columns.items():
                have = self.config.columns.get(column)
                if value in wanted.marginals and (have is None or value not in have.marginals):
                    out.append(
                        (
                            ["columns", column, "marginals", value],
                            None,
                            wanted.marginals[value].model_dump(mode="json"),
                            f"slice {value} gets the human marginal of {column}",
                        )
                    )
            if value in self.target.label_model:
                out.append(self.label_change(value))
        extra = set(self.config.slice_weights) - set(self.target.slice_weights)
        for value in sorted(extra if only is None else extra & {only}):
            old = self.config.slice_weights[value]
            out.append((["slice_weights", value], old, 0.0, f"drops slice {value} (not in human)"))
        return out

    def label_change(self, value: str) -> tuple[list[str], Any, Any, str]:
        """One slice's label model toward the human label distribution in it."""
        assert self.config is not None
        have = self.config.label_model.get(value)
        return (
            ["label_model", value],
            None if have is None else have.model_dump(mode="json"),
            self.target.label_model[value].model_dump(mode="json"),
            f"the label model of slice {value} follows the human label distribution",
        )

    def correlation_changes(self, a: str, b: str) -> list[tuple[list[str], Any, Any, str]]:
        """The copula entries of a pair toward the human correlation."""
        assert self.config is not None
        names = [*self.target.columns, self.target.label]
        if a not in names or b not in names or len(self.config.correlation) != len(names):
            return []
        i, j = names.index(a), names.index(b)
        new = self.target.correlation[i][j]
        what = f"the copula correlation of {a} and {b} follows human"
        return [
            (["correlation", str(i), str(j)], self.config.correlation[i][j], new, what),
            (["correlation", str(j), str(i)], self.config.correlation[j][i], new, what),
        ]

    def group_rate_changes(
        self, column: str, groups: list[str]
    ) -> list[tuple[list[str], Any, Any, str]]:
        """The label rates of groups toward the human conditional rates."""
        assert self.config is not None
        wanted = self.target.label_by_group.get(column, {})
        have = self.config.label_by_group.get(column, {})
        return [
            (
                ["label_by_group", column, group],
                have.get(group),
                wanted[group],
                f"the label rates of {column}={group} match the human conditional rates",
            )
            for group in groups
            if group in wanted
        ]


def _added(old: dict[str, float] | None, new: dict[str, float] | None) -> str:
    """`; adds categories x, y` when `new` has categories `old` lacks."""
    missing = sorted(set(new or {}) - set(old or {}))
    return (
        f"; adds the missing categor{'y' if len(missing) == 1 else 'ies'} " + ", ".join(missing)
        if missing
        else ""
    )


def _single(record: dict[str, Any]) -> str | None:
    """The record's column when it names exactly one."""
    columns = record.get("columns") or []
    return columns[0] if len(columns) == 1 else None


def _plan_one(planner: _Planner, record: dict[str, Any]) -> None:
    """Route one gap to its recommendation."""
    config, target = planner.config, planner.target
    kind, metric = record["kind"], record["metric"]
    columns = list(record.get("columns") or [])
    column = _single(record)
    slice_value = record.get("slice") or {}
    if kind == "coverage" and metric == "slice_share_ratio":
        if columns == [target.slice_column]:
            value = str(slice_value.get(target.slice_column))
            planner.recommend(
                record,
                "slices",
                "reweight_slices",
                f"generate slices of {target.slice_column} in the human shares",
                {"slice_weights": {value: target.slice_weights.get(value)}},
                [target.slice_column],
                lambda: planner.slice_changes(value),
            )
            return
        others = [c for c in columns if c != target.slice_column and c in target.columns]
        for other in others:
            _plan_marginal(planner, record, other)
        if not others:
            _review(planner, record, "no generated column to rebalance for this slice pair")
        return
    if kind in ("marginal", "coverage", "diversity") and metric in MARGINAL_METRICS and column:
        if column == target.label:
            planner.recommend(
                record,
                "label",
                "match_label_model",
                f"generate {column} in its human shares within every slice",
                {k: m.model_dump(mode="json") for k, m in target.label_model.items()},
                [column],
                lambda: [planner.label_change(v) for v in target.label_model],
            )
        elif column == target.slice_column:
            only = MISSING if metric == "missing_rate_gap" else None
            planner.recommend(
                record,
                "slices",
                "reweight_slices",
                f"generate slices of {column} in the human shares",
                {"slice_weights": target.slice_weights},
                [column],
                lambda: planner.slice_changes(only),
            )
        elif column in target.columns:
            _plan_marginal(planner, record, column)
        else:
            _review(planner, record, f"{column} is not generated by the reference generator")
        return
    if kind == "pairwise" and len(columns) == 2:
        a, b = columns
        planner.recommend(
            record,
            "correlation",
            "match_correlations",
            "keep the human relations between columns (the copula's correlation matrix)",
            {"correlations": {f"{a} ~ {b}": _pair_target(target, a, b)}},
            changes=lambda: planner.correlation_changes(a, b),
        )
        return
    if kind == "bias" and metric in ("group_outcome_gap", "disparity_change"):
        column = next(iter(slice_value), None)
        groups = slice_value.get(column) if column else None
        groups = [str(g) for g in (groups if isinstance(groups, list) else [groups])]
        if column is None or column not in target.label_by_group:
            _review(planner, record, "match the human label rate of each group by hand")
            return
        planner.recommend(
            record,
            f"bias:{column}",
            "match_group_label_rates",
            f"give each {column} group the human label rates (never a disparity of its own)",
            {"label_by_group": {column: target.label_by_group[column]}},
            [column, target.label],
            lambda: planner.group_rate_changes(column, list(target.label_by_group[column])),
        )
        return
    if kind == "bias" and metric == "group_share_ratio" and column in target.columns:
        _plan_marginal(planner, record, column)
        return
    if kind in ("diversity", "collapse"):
        _plan_diversity(planner, record)
        return
    if kind == "privacy":
        current = config.min_distance if config else 0.0
        new = min(MAX_MIN_DISTANCE, current + MIN_DISTANCE_STEP) if current else MIN_DISTANCE_START
        planner.recommend(
            record,
            "privacy",
            "exclude_near_copies",
            "draw again any synthetic row that sits closer to a human row than fresh human "
            "rows do (raise the minimum distance)",
            {"min_distance": new},
            changes=lambda: [
                (["min_distance"], current, new, "near copies of human rows are drawn again")
            ],
        )
        return
    if kind == "utility" and metric in ("slice_accuracy_drop", "slice_error_increase"):
        _plan_utility_slice(planner, record)
        return
    _review(planner, record, _review_note(record))


def _pair_target(target: GeneratorConfig, a: str, b: str) -> float | None:
    """The human copula correlation of a pair, if both are in the copula."""
    names = [*target.columns, target.label]
    if a in names and b in names:
        return target.correlation[names.index(a)][names.index(b)]
    return None


def _plan_marginal(planner: _Planner, record: dict[str, Any], column: str) -> None:
    """A column's marginal toward human."""
    wanted = planner.target.columns[column]
    kind = wanted.kind
    action = "match_numeric_marginal" if kind == "numeric" else "match_category_shares"
    what = "location, scale and tails" if kind == "numeric" else "category shares"
    planner.recommend(
        {**record, "columns": record.get("columns") or [column]},
        f"marginal:{column}",
        action,
        f"generate {column} with the human {what} (overall and per slice)",
        {"marginal": wanted.marginals[OVERALL].model_dump(mode="json")},
        [column],
        lambda: planner.marginal_changes(column),
    )


def _plan_diversity(planner: _Planner, record: dict[str, Any]) -> None:
    """Duplicates and collapse: fewer duplicates first, then more noise."""
    config = planner.config
    duplicates = config.duplicate_rate if config else 0.0
    noise = config.noise if config else 0.0

    def changes() -> list[tuple[list[str], Any, Any, str]]:
        if duplicates > planner.target.duplicate_rate:
            return [
                (
                    ["duplicate_rate"],
                    duplicates,
                    planner.target.duplicate_rate,
                    "rows stop repeating earlier rows",
                )
            ]
        new = min(MAX_NOISE, noise + NOISE_STEP)
        return [(["noise"], noise, new, "more variation between rows (temperature)")]

    planner.recommend(
        record,
        "diversity",
        "raise_diversity",
        "lower the duplicate rate; if rows still repeat or variety falls, raise the noise "
        "(temperature) of the generator",
        {"duplicate_rate": planner.target.duplicate_rate},
        changes=changes,
    )


def _plan_utility_slice(planner: _Planner, record: dict[str, Any]) -> None:
    """A slice where a synthetic-trained model does worse: oversample it, match its labels."""
    config, target = planner.config, planner.target
    slice_value = record.get("slice") or {}
    if len(slice_value) != 1 or next(iter(slice_value)) != target.slice_column:
        _review(planner, record, _review_note(record))
        return
    value = str(next(iter(slice_value.values())))
    human_share = target.slice_weights.get(value)
    if human_share is None:
        _review(planner, record, _review_note(record))
        return
    current = config.slice_weights.get(value, 0.0) if config else 0.0
    new = min(OVERSAMPLE_CAP * human_share, max(current, human_share) * 1.25)

    def changes() -> list[tuple[list[str], Any, Any, str]]:
        out = [(["slice_weights", value], current, new, f"oversamples slice {value}")]
        if value in target.label_model:
            out.append(planner.label_change(value))
        return out

    planner.recommend(
        record,
        f"utility:{value}",
        "oversample_slice",
        f"generate more rows of {target.slice_column}={value} and match its label relation",
        {"slice_weight": new, "human_share": human_share},
        [target.slice_column],
        changes,
    )


def _review_note(record: dict[str, Any]) -> str:
    """What a person should look at for a gap no config knob fixes."""
    kind = record["kind"]
    if kind == "freshness":
        return (
            "the data is stale: collect a fresh human batch, or generate a batch with the "
            "current generator config"
        )
    if kind == "detection":
        return (
            "a classifier tells synthetic rows apart; look at the columns it relies on "
            "(detection_importance) and their relations with other columns"
        )
    if kind == "utility":
        return (
            "a model trained on synthetic rows does worse on human rows; check the label's "
            "relation with the features in the slice named here"
        )
    return "no generator setting maps to this gap; review it by hand"


def _review(planner: _Planner, record: dict[str, Any], note: str) -> None:
    """A recommendation for a person."""
    where = "slices" if record.get("slice") else "overall"
    planner.recommend(record, f"review:{record['kind']}:{where}", "review", note)


def plan(
    records: list[dict[str, Any]],
    config: GeneratorConfig | None,
    target: GeneratorConfig | None,
) -> list[Recommendation]:
    """Recommendations (worst first) for the gaps among `records`, with config changes.

    Without a `target` (no generated column, no human row) every gap is for a person. Gaps are
    planned worst first, coverage and marginal gaps before model gaps, so a missing slice gets
    its human share before a utility gap oversamples it.
    """
    gaps = [r for r in records if r["severity"] != "info"]
    gaps.sort(
        key=lambda r: (
            -SEVERITY_ORDER[r["severity"]],
            PLAN_ORDER.index(r["kind"]) if r["kind"] in PLAN_ORDER else len(PLAN_ORDER),
        )
    )
    if target is None:
        fallback = _Planner(config, None)
        for record in gaps:
            _review(fallback, record, _review_note(record))
        return sorted(fallback.recommendations.values(), key=lambda r: -SEVERITY_ORDER[r.severity])
    planner = _Planner(config, target)
    for record in gaps:
        _plan_one(planner, record)
    out = list(planner.recommendations.values())
    out.sort(key=lambda r: (-SEVERITY_ORDER[r.severity], -len(r.gaps)))
    return out


def _nearest_correlation(matrix: np.ndarray) -> np.ndarray:
    """A valid correlation matrix near `matrix`: eigenvalues clipped, unit diagonal."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    if values.min() >= 1e-8:
        return matrix
    fixed = vectors @ np.diag(np.clip(values, 1e-6, None)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    return fixed / np.outer(scale, scale)


def apply_changes(
    config: GeneratorConfig,
    changes: list[Change],
    version: str,
    report_id: str | None,
    created_at: str,
) -> GeneratorConfig:
    """The next version: `config` with every change applied and logged in its changelog."""
    data = config.model_dump(mode="json")
    for change in changes:
        node: Any = data
        for part in change.path[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = change.path[-1]
        if isinstance(node, list):
            node[int(last)] = change.new
        else:
            node[last] = change.new
    matrix = np.asarray(data["correlation"], dtype=float)
    data["correlation"] = np.round(_nearest_correlation(matrix), DIGITS).tolist()
    data["slice_weights"] = {k: v for k, v in data["slice_weights"].items() if v and v > 0}
    data.update(
        version=version,
        parent=config.version,
        report_id=report_id,
        created_at=created_at,
        changelog=[c.model_dump(mode="json") for c in changes],
    )
    if any(not math.isfinite(v) for row in data["correlation"] for v in row):
        data["correlation"] = config.correlation
    return GeneratorConfig.model_validate(data)

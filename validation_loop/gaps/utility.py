"""Utility: train on synthetic, test on human — overall and slice by slice.

The loop's task model is fitted on a bounded synthetic sample and scored on human truth; the
same model cross-validated on that human truth is the reference. Classes too rare in the human
sample to be learned or scored (`models.min_class_rows`), and all beyond the `models.max_classes`
most common, are pooled into one class first, and a record says so. Each overall metric's gap
comes with a paired bootstrap interval over the human rows (resampled predictions, no refits).

Slices are tested on per-row losses: how much more often the synthetic-trained model is wrong
than the reference (classification), or how much larger its error is relative to the
reference's mean error (regression). A slice's effect is its mean loss minus the mean loss of
the other rows, so a slice is named only where the damage concentrates; the one-sided
Mann-Whitney test of inside against outside holds for heavy-tailed errors. The spec's slices
(each value, each pair of values) are declared in advance and tested on every human row.
Automatic slices (every categorical value and numeric quartile, and pairs of the most damaging
ones) are searched on one random half of the human rows and only the `models.slice_candidates`
best are tested, on the other half, so the search does not bias the test. Slices are ranked by
damage, the effect times the slice's share of human rows, and the worst are explained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations, pairwise

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from validation_loop.gaps.distances import tv_distance
from validation_loop.gaps.inputs import GapInputs
from validation_loop.gaps.modeling import (
    describe_estimator,
    features,
    head,
    label_association,
    labels,
    preprocessor,
    strongest,
    task_model,
)
from validation_loop.gaps.profile import aligned_counts
from validation_loop.gaps.records import Finding
from validation_loop.gaps.significance import ks_statistic
from validation_loop.gaps.task_metrics import (
    bootstrap_weights,
    classification_metrics,
    regression_metrics,
)
from validation_loop.resources import fit_threads, limited_threads
from validation_loop.spec import LoopSpec, Task

QUARTILES = [0.25, 0.5, 0.75]
PAIR_CANDIDATES = 10
EXPLAINED_SLICES = 10
POOLED = "(other classes)"


@dataclass(frozen=True)
class Predictions:
    """Both models' predictions on the human test rows (probabilities for classification)."""

    truth: np.ndarray
    classes: list[str]
    synthetic: np.ndarray
    reference: np.ndarray
    model_name: str


RULES: dict[str, str | None] = {  # metric -> the rule its gap is graded by
    "balanced_accuracy": "utility.score_drop",
    "macro_f1": "utility.score_drop",
    "roc_auc": "utility.score_drop",
    "log_loss": None,
    "calibration_error": None,
    "r2": "utility.score_drop",
    "mae": "utility.error_increase",
    "rmse": "utility.error_increase",
}


HIGHER_IS_BETTER = {"balanced_accuracy", "macro_f1", "roc_auc", "r2"}


def _gap(name: str, synthetic: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """How much worse the synthetic-trained model is (relative for MAE and RMSE)."""
    if name in HIGHER_IS_BETTER:
        return reference - synthetic
    if name in ("mae", "rmse"):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(reference > 0, (synthetic - reference) / reference, np.nan)
    return synthetic - reference


@dataclass(frozen=True)
class ClassPooling:
    """Which classes were pooled into one before the utility models saw the label."""

    kept: list[str]
    pooled: list[str]
    human_rows: int
    synthetic_rows: int

    def apply(self, values: np.ndarray) -> np.ndarray:
        """The labels with every class not kept replaced by the pooled class."""
        if not self.pooled and np.isin(values, self.kept).all():
            return values
        return np.where(np.isin(values, self.kept), values, POOLED).astype(object)


def pool_classes(human: np.ndarray, synthetic: np.ndarray, spec: LoopSpec) -> ClassPooling:
    """Keep the human classes with at least `min_class_rows` rows, at most `max_classes` in all
    (the most common; one place goes to the pooled class if anything is pooled); pool the rest,
    and classes only synthetic rows have."""
    names, counts = np.unique(human, return_counts=True)
    order = np.lexsort((names, -counts))  # most common first, ties by name
    common = [str(names[i]) for i in order if counts[i] >= spec.models.min_class_rows]
    everything = set(names.tolist()) | set(np.unique(synthetic).tolist())
    if len(common) == len(everything) and len(common) <= spec.models.max_classes:
        return ClassPooling(sorted(common), [], 0, 0)
    kept = sorted(common[: spec.models.max_classes - 1])
    pooled = sorted(str(c) for c in everything - set(kept))
    return ClassPooling(
        kept,
        pooled,
        int((~np.isin(human, kept)).sum()),
        int((~np.isin(synthetic, kept)).sum()),
    )


def _constant(prepare: ColumnTransformer, task: Task) -> Pipeline:
    """A model that predicts the most frequent class (or the mean): for a one-valued label."""
    if task is Task.classification:
        return Pipeline(
            [("prepare", prepare), ("model", DummyClassifier(strategy="most_frequent"))]
        )
    return Pipeline([("prepare", prepare), ("model", DummyRegressor())])


def _fit_predict(
    inputs: GapInputs,
) -> tuple[Predictions, pd.DataFrame, pd.DataFrame, ClassPooling | None] | None:
    """Fit on synthetic, predict human; cross-validate the same model on human."""
    spec, columns = inputs.spec, inputs.columns
    rows = spec.models.utility_rows
    train = head(inputs.synthetic_sample, rows)
    test = head(inputs.human_sample, rows)
    train = train[train[columns.label].notna()].reset_index(drop=True)
    test = test[test[columns.label].notna()].reset_index(drop=True)
    if len(train) < 20 or len(test) < 2 * spec.models.folds:
        return None
    x_train, y_train = features(train, columns, False), labels(train, columns)
    x_test, y_test = features(test, columns, False), labels(test, columns)
    scope = ""
    if len(x_test.columns) > spec.models.max_columns:
        names = list(x_test.columns)
        kept = strongest(label_association(x_test, names, y_test), spec.models.max_columns)
        x_train, x_test = x_train.iloc[:, kept], x_test.iloc[:, kept]
        scope = (
            f" (on the {len(kept)} of {len(names)} feature columns most associated with the "
            "label in the human rows)"
        )
    classification = spec.task is Task.classification
    pooling = pool_classes(y_test, y_train, spec) if classification else None
    if pooling is not None:
        y_train, y_test = pooling.apply(y_train), pooling.apply(y_test)
    classes = sorted(set(y_test) | set(y_train)) if classification else []
    model = task_model(spec, x_train, columns, len(classes))
    name = describe_estimator(model) + scope
    if np.unique(y_train).size < 2:
        model = _constant(preprocessor(x_train, columns), spec.task)
        what = "class" if classification else "value"
        name = f"constant (synthetic has one {what}, {y_train[0]!r})"
    reference_model = task_model(spec, x_test, columns, len(classes))
    if np.unique(y_test).size < 2:
        reference_model = _constant(preprocessor(x_test, columns), spec.task)
    counts = pd.Series(y_test).value_counts()
    if classification and counts.min() >= spec.models.folds:
        folds = StratifiedKFold(spec.models.folds, shuffle=True, random_state=spec.seed)
    else:
        folds = KFold(spec.models.folds, shuffle=True, random_state=spec.seed)
    threads = fit_threads(spec.resources.threads, max(len(train), len(test)))
    with limited_threads(threads, openmp_only=True):
        model.fit(x_train, y_train)
        if classification:
            synthetic = _aligned_proba(model.predict_proba(x_test), model.classes_, classes)
            reference = np.zeros((len(y_test), len(classes)))
            for fit_rows, score_rows in folds.split(x_test, y_test):
                fold_model = reference_model.fit(x_test.iloc[fit_rows], y_test[fit_rows])
                reference[score_rows] = _aligned_proba(
                    fold_model.predict_proba(x_test.iloc[score_rows]), fold_model.classes_, classes
                )
        else:
            synthetic = model.predict(x_test)
            reference = cross_val_predict(reference_model, x_test, y_test, cv=folds)
    result = Predictions(y_test, classes, synthetic, reference, name)
    return result, test, train, pooling


def _aligned_proba(proba: np.ndarray, fitted: np.ndarray, classes: list[str]) -> np.ndarray:
    """Probabilities over `classes` (a class the model never saw gets 0)."""
    out = np.zeros((proba.shape[0], len(classes)))
    for column, label in enumerate(fitted):
        out[:, classes.index(str(label))] = proba[:, column]
    return out


def _scores(
    result: Predictions, predictions: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Every task metric of one model's predictions under each row weighting."""
    if result.classes:
        truth = np.searchsorted(np.asarray(result.classes), result.truth.astype(str))
        return classification_metrics(truth, predictions, weights)
    return regression_metrics(result.truth, predictions, weights)


def _overall(inputs: GapInputs, result: Predictions) -> list[Finding]:
    """Every task metric for both models, the gap, a paired bootstrap interval and p-value."""
    spec = inputs.spec
    rows = len(result.truth)
    rng = np.random.default_rng(spec.seed)
    weights = np.vstack([np.ones(rows), bootstrap_weights(rows, spec.models.bootstrap, rng)])
    synthetic = _scores(result, result.synthetic, weights)
    reference = _scores(result, result.reference, weights)
    findings = []
    for name, syn_values in synthetic.items():
        gaps = _gap(name, syn_values, reference[name])
        syn, ref, gap, boot = float(syn_values[0]), float(reference[name][0]), gaps[0], gaps[1:]
        boot = boot[np.isfinite(boot)]
        if boot.size == 0 or math.isnan(gap):
            continue
        low, high = np.quantile(boot, [0.025, 0.975])
        spread = float(boot.std(ddof=1)) if boot.size > 1 else 0.0
        # One-sided: is the synthetic-trained model worse? Normal approximation with the
        # bootstrap standard error (the share of resamples <= 0 cannot go below 1/B).
        p = float(stats.norm.sf(gap / spread)) if spread > 0 else (0.0 if gap > 0 else 1.0)
        rule = RULES[name]
        findings.append(
            Finding(
                "utility",
                f"{name}_gap",
                (inputs.columns.label,),
                float(gap),
                f"{result.model_name} trained on synthetic scores {name} {syn:.3f} on human data, "
                f"against {ref:.3f} trained on human data (cross-validated): gap {gap:.3f} "
                f"(95% interval {low:.3f} to {high:.3f}, {rows} human rows)",
                "find the slices where the synthetic-trained model fails, and fix them",
                p if rule else None,
                rule,
            )
        )
    return findings


def _conditions(test: pd.DataFrame, inputs: GapInputs) -> tuple[list[dict], np.ndarray]:
    """Single conditions — each categorical value, each numeric column's human quartile bin —
    and their row masks over `test` (one row of the matrix per condition)."""
    columns = inputs.columns
    conditions: list[dict[str, object]] = []
    masks: list[np.ndarray] = []
    for column in columns.compared:
        if column == columns.label:
            continue
        if column in columns.numeric:
            values = test[column].to_numpy(dtype=float)
            if not np.isfinite(values).any():
                continue
            edges = np.unique(np.nanquantile(values, QUARTILES))
            bounds = [-math.inf, *edges.tolist(), math.inf]
            codes = np.where(np.isnan(values), -1, np.searchsorted(edges, values, side="left"))
            conditions += [{column: (low, high)} for low, high in pairwise(bounds)]
            masks.append(codes[None, :] == np.arange(len(bounds) - 1)[:, None])
        else:
            codes, uniques = pd.factorize(test[column].astype("object"))
            conditions += [{column: value} for value in uniques]
            masks.append(codes[None, :] == np.arange(len(uniques))[:, None])
    matrix = np.vstack(masks) if masks else np.zeros((0, len(test)), dtype=bool)
    return conditions, matrix


def _mask(frame: pd.DataFrame, condition: dict[str, object]) -> np.ndarray:
    """Rows of `frame` that meet every condition."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in condition.items():
        if isinstance(value, tuple):
            values = frame[column].to_numpy(dtype=float)
            mask &= (values > value[0]) & (values <= value[1])
        else:
            mask &= (frame[column].astype("object") == value).to_numpy()
    return mask


def _label(condition: dict[str, object]) -> dict[str, object]:
    """A condition as the record's `slice`: numeric bins as `(low, high]` strings."""
    return {
        c: f"({v[0]:.4g}, {v[1]:.4g}]" if isinstance(v, tuple) else v for c, v in condition.items()
    }


def _explain(
    condition: dict[str, object], test: pd.DataFrame, train: pd.DataFrame, inputs: GapInputs
) -> str:
    """What differs inside a slice: its share, its label, the most different feature."""
    columns = inputs.columns
    h_rows, s_rows = test[_mask(test, condition)], train[_mask(train, condition)]
    parts = [
        f"share {len(s_rows) / max(len(train), 1):.1%} of synthetic against "
        f"{len(h_rows) / len(test):.1%} of human rows"
    ]
    label = columns.label
    if len(s_rows) == 0:
        return parts[0] + " (missing from synthetic)"
    if columns.task is Task.classification:
        common = h_rows[label].astype(str).value_counts().index[0]
        parts.append(
            f"{label}={common} in {np.mean(s_rows[label].astype(str) == common):.0%} "
            f"of synthetic and {np.mean(h_rows[label].astype(str) == common):.0%} "
            "of human rows"
        )
    else:
        parts.append(
            f"mean {label} {s_rows[label].mean():.3g} in synthetic and "
            f"{h_rows[label].mean():.3g} in human"
        )
    worst, worst_value = None, 0.0
    for column in columns.compared:
        if column == label or column in condition:
            continue
        if column in columns.numeric:
            value = ks_statistic(
                h_rows[column].to_numpy(dtype=float), s_rows[column].to_numpy(dtype=float)
            )
        else:
            _, h, s = aligned_counts(
                h_rows[column].dropna().astype(str).value_counts().to_dict(),
                s_rows[column].dropna().astype(str).value_counts().to_dict(),
            )
            value = tv_distance(h, s) if h.sum() and s.sum() else math.nan
        if math.isfinite(value) and value > worst_value:
            worst, worst_value = column, value
    if worst is not None:
        parts.append(f"'{worst}' differs most inside it ({worst_value:.2f})")
    return "; ".join(parts)


def _per_row_loss(result: Predictions, task: Task) -> np.ndarray:
    """How much worse the synthetic-trained model is on each human row."""
    if task is Task.classification:
        classes = np.asarray(result.classes)
        wrong_syn = classes[result.synthetic.argmax(axis=1)] != result.truth
        wrong_ref = classes[result.reference.argmax(axis=1)] != result.truth
        return wrong_syn.astype(float) - wrong_ref.astype(float)
    scale = np.mean(np.abs(result.reference - result.truth)) or 1.0
    return (np.abs(result.synthetic - result.truth) - np.abs(result.reference - result.truth)) / (
        scale
    )


@dataclass(frozen=True)
class SliceTest:
    """One slice's excess loss over the other rows, on the rows it was tested on."""

    condition: dict[str, object]
    rows: int
    share: float
    effect: float
    se: float
    p_value: float
    found_on: int  # rows of the half the slice was searched on; 0 for declared slices

    @property
    def damage(self) -> float:
        """The effect weighted by the slice's share of human rows."""
        return self.effect * self.share


def excess_loss(loss: np.ndarray, inside: np.ndarray) -> tuple[float, float, float]:
    """Mean loss inside minus outside, its standard error, and the one-sided Mann-Whitney
    p-value that losses inside are larger."""
    a, b = loss[inside], loss[~inside]
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan, math.nan
    effect = float(a.mean() - b.mean())
    se = math.sqrt(
        (a.var(ddof=1) / a.size if a.size > 1 else 0.0)
        + (b.var(ddof=1) / b.size if b.size > 1 else 0.0)
    )
    if np.ptp(np.r_[a, b]) == 0:
        return effect, se, 1.0
    p = stats.mannwhitneyu(a, b, alternative="greater", method="asymptotic").pvalue
    return effect, se, float(p)


def _key(condition: dict[str, object]) -> tuple[tuple[str, str], ...]:
    """A hashable, order-free identity of a condition."""
    return tuple(sorted((c, str(v)) for c, v in condition.items()))


def _declared(test: pd.DataFrame, inputs: GapInputs) -> list[dict[str, object]]:
    """The spec's slices: each value of a slice column, each pair of values of two of them."""
    slices = inputs.columns.slices
    singles: list[dict[str, object]] = [
        {column: value} for column in slices for value in test[column].dropna().unique()
    ]
    pairs: list[dict[str, object]] = [
        {a: va, b: vb}
        for a, b in combinations(slices, 2)
        for va in test[a].dropna().unique()
        for vb in test[b].dropna().unique()
    ]
    return [*singles, *pairs]


def _searched(
    test: pd.DataFrame, inputs: GapInputs, loss: np.ndarray, half: np.ndarray, skip: set
) -> list[dict[str, object]]:
    """The most damaging automatic slices on the search half (`half`), best first."""
    support = inputs.spec.models.min_slice_support
    conditions, masks = _conditions(test, inputs)
    if pairs := _top_pairs(conditions, masks, loss, half, support):
        conditions += [condition for condition, _ in pairs]
        masks = np.vstack([masks, np.vstack([mask for _, mask in pairs])])
    damage = _damage(masks, loss, half, support)
    order = np.argsort(-damage, kind="stable")
    found = []
    for index in order:
        if not damage[index] > 0 or len(found) == inputs.spec.models.slice_candidates:
            break
        if _key(conditions[index]) not in skip:
            found.append(conditions[index])
    return found


def _damage(masks: np.ndarray, loss: np.ndarray, half: np.ndarray, support: int) -> np.ndarray:
    """Each slice's excess loss times its share, on the search half; -inf where a slice is too
    small overall or in the test half."""
    inside = masks[:, half].astype(float)
    rows = inside.sum(axis=1)
    total = float(half.sum())
    sums = inside @ loss[half]
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = sums / rows - (loss[half].sum() - sums) / (total - rows)
        damage = effect * rows / total
    enough = (masks.sum(axis=1) >= support) & ((masks & ~half).sum(axis=1) >= max(2, support // 2))
    return np.where(enough & np.isfinite(damage), damage, -np.inf)


def _top_pairs(
    conditions: list[dict], masks: np.ndarray, loss: np.ndarray, half: np.ndarray, support: int
) -> list[tuple[dict, np.ndarray]]:
    """Pairs of the `PAIR_CANDIDATES` most damaging single conditions on different columns."""
    damage = _damage(masks, loss, half, support)
    top = [i for i in np.argsort(-damage, kind="stable")[:PAIR_CANDIDATES] if damage[i] > 0]
    return [
        ({**conditions[a], **conditions[b]}, masks[a] & masks[b])
        for a, b in combinations(top, 2)
        if not set(conditions[a]) & set(conditions[b])
    ]


def _slices(
    inputs: GapInputs, result: Predictions, test: pd.DataFrame, train: pd.DataFrame
) -> list[Finding]:
    """Declared slices on every row; searched slices found on one half, tested on the other."""
    spec = inputs.spec
    loss = _per_row_loss(result, spec.task)
    support = spec.models.min_slice_support
    half = np.zeros(len(test), dtype=bool)
    half[np.random.default_rng(spec.seed).permutation(len(test))[: len(test) // 2]] = True
    tests = []
    declared = [(c, mask) for c in _declared(test, inputs) if (mask := _mask(test, c)).any()]
    for condition, mask in declared:
        if mask.sum() >= support:
            effect, se, p = excess_loss(loss, mask)
            tests.append(
                SliceTest(condition, int(mask.sum()), float(mask.mean()), effect, se, p, 0)
            )
    skip = {_key(c) for c, _ in declared}
    for condition in _searched(test, inputs, loss, half, skip):
        mask = _mask(test, condition)
        effect, se, p = excess_loss(loss[~half], mask[~half])
        tests.append(
            SliceTest(
                condition,
                int(mask[~half].sum()),
                float(mask.mean()),
                effect,
                se,
                p,
                int(half.sum()),
            )
        )
    tests = [t for t in tests if math.isfinite(t.effect)]
    tests.sort(key=lambda t: -t.damage)
    classification = spec.task is Task.classification
    metric = "slice_accuracy_drop" if classification else "slice_error_increase"
    findings = []
    for rank, t in enumerate(tests):
        where = ", ".join(f"{c}={v}" for c, v in _label(t.condition).items())
        how = (
            "declared slice, tested on every human row"
            if not t.found_on
            else f"found on {t.found_on} human rows, tested on the other {len(test) - t.found_on}"
        )
        summary = (
            f"in {where} ({t.rows} human rows; {how}), the synthetic-trained model is "
            f"{'wrong' if classification else 'worse'} {t.effect:+.3f} "
            f"{'more often' if classification else '(relative)'} than elsewhere, beyond the "
            f"human-trained one (95% interval {t.effect - 1.96 * t.se:+.3f} to "
            f"{t.effect + 1.96 * t.se:+.3f}; damage {t.damage:.4f})"
        )
        if rank < EXPLAINED_SLICES and t.p_value < 0.01 and t.effect > 0:
            summary += f"; there: {_explain(t.condition, test, train, inputs)}"
        findings.append(
            Finding(
                "utility",
                metric,
                tuple(t.condition),
                t.effect,
                summary,
                "oversample this slice in the generator and match its label relation",
                t.p_value,
                "utility.slice_drop",
                slice=_label(t.condition),
            )
        )
    return findings


def _pooling_finding(pooling: ClassPooling, label: str) -> Finding:
    """An informational record of the classes pooled for the utility models."""
    shown = ", ".join(repr(c) for c in pooling.pooled[:10])
    more = f" and {len(pooling.pooled) - 10} more" if len(pooling.pooled) > 10 else ""
    return Finding(
        "utility",
        "label_classes_pooled",
        (label,),
        float(len(pooling.pooled)),
        f"{len(pooling.pooled)} classes of '{label}' ({shown}{more}) were pooled into "
        f"{POOLED!r} for the utility models ({pooling.human_rows} human and "
        f"{pooling.synthetic_rows} synthetic rows): too rare in the human sample to learn or "
        f"score, beyond the {len(pooling.kept)} most common classes kept, or only in synthetic",
    )


def utility_findings(inputs: GapInputs) -> list[Finding]:
    """Overall train-on-synthetic, test-on-human gaps and slice gaps."""
    fitted = _fit_predict(inputs)
    if fitted is None:
        return []
    result, test, train, pooling = fitted
    findings = [*_overall(inputs, result), *_slices(inputs, result, test, train)]
    if pooling is not None and pooling.pooled:
        findings.append(_pooling_finding(pooling, inputs.columns.label))
    return findings

"""The thresholds that make a finding a gap: names, defaults, overrides from `loop.yaml`.

Override any of them in `thresholds:` as `<name>.warn` or `<name>.error`, and the false
discovery rates with `fdr_alpha` (a warn needs q <= 0.05 by default) and `fdr_alpha_error` (an
error needs the stronger evidence q <= 0.01).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Severity = Literal["info", "warn", "error"]
DEFAULT_FDR_ALPHA = 0.05
DEFAULT_FDR_ALPHA_ERROR = 0.01
EVIDENCE_KEYS = ("fdr_alpha", "fdr_alpha_error")


@dataclass(frozen=True)
class Rule:
    """Thresholds that make a finding a gap; `higher_is_worse` False for ratios below 1."""

    name: str
    warn: float
    error: float
    higher_is_worse: bool = True
    description: str = ""

    def level(self, value: float) -> Severity:
        """The severity the value alone would have."""
        if math.isnan(value):
            return "info"
        if self.higher_is_worse:
            return "error" if value >= self.error else "warn" if value >= self.warn else "info"
        return "error" if value <= self.error else "warn" if value <= self.warn else "info"


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in [
        Rule("marginal.ks", 0.1, 0.2, description="KS statistic between the two samples"),
        Rule("marginal.wasserstein_iqr", 0.1, 0.25, description="Wasserstein distance / human IQR"),
        Rule("marginal.psi", 0.1, 0.25, description="population stability index, human deciles"),
        Rule("marginal.js_distance", 0.1, 0.2, description="Jensen-Shannon distance (base 2)"),
        Rule("marginal.tv_distance", 0.1, 0.2, description="total variation distance"),
        Rule("marginal.missing_rate_gap", 0.05, 0.2, description="|missing rate difference|"),
        Rule("pairwise.correlation_difference", 0.1, 0.2, description="|r_human - r_synthetic|"),
        Rule("pairwise.contingency_difference", 0.1, 0.2, description="TV of the joint tables"),
        Rule("pairwise.label_conditional", 0.15, 0.3, description="KS or TV within a label"),
        Rule(
            "coverage.share_ratio_low",
            0.5,
            0.2,
            higher_is_worse=False,
            description="synthetic share / human share of a category or slice (too rare)",
        ),
        Rule(
            "coverage.share_ratio_high",
            2.0,
            5.0,
            description="synthetic share / human share of a category or slice (too common)",
        ),
        Rule("coverage.out_of_bounds", 0.01, 0.05, description="share outside the human range"),
        Rule(
            "coverage.range_coverage",
            0.8,
            0.5,
            higher_is_worse=False,
            description="share of the human range the synthetic values span",
        ),
        Rule("diversity.duplicate_excess", 0.02, 0.1, description="duplicate rate above human"),
        Rule(
            "diversity.near_duplicate_excess",
            0.05,
            0.15,
            description="near-duplicate rate above human",
        ),
        Rule(
            "diversity.entropy_ratio",
            0.9,
            0.75,
            higher_is_worse=False,
            description="synthetic / human entropy of a categorical column",
        ),
        Rule(
            "diversity.spread_ratio_low",
            0.8,
            0.5,
            higher_is_worse=False,
            description="synthetic / human IQR or 1%-99% span (collapse)",
        ),
        Rule(
            "diversity.spread_ratio_high",
            1.25,
            2.0,
            description="synthetic / human IQR or 1%-99% span (inflation)",
        ),
        Rule(
            "privacy.copy_excess",
            0.01,
            0.05,
            description="exact copies of human rows above the holdout baseline",
        ),
        Rule(
            "privacy.dcr_ratio",
            0.8,
            0.5,
            higher_is_worse=False,
            description="median DCR synthetic->human / holdout->human",
        ),
        Rule("bias.rate_gap", 0.05, 0.1, description="|label rate difference| within a group"),
        Rule("detection.auc", 0.6, 0.75, description="out-of-fold ROC AUC of the detector"),
        Rule(
            "utility.score_drop",
            0.05,
            0.1,
            description="human-trained score minus synthetic-trained score on human data",
        ),
        Rule(
            "utility.error_increase",
            0.1,
            0.25,
            description="relative error increase of the synthetic-trained model",
        ),
        Rule(
            "utility.slice_drop",
            0.1,
            0.2,
            description="accuracy drop (or relative error increase) inside a slice",
        ),
        Rule(
            "collapse.drop",
            0.1,
            0.2,
            description="fall of a diversity or coverage value since the first generator version",
        ),
        Rule(
            "bias.disparity_change",
            0.05,
            0.1,
            description="change in the gap between groups' label rates",
        ),
    ]
}


def threshold_names() -> list[str]:
    """Every key `thresholds:` accepts."""
    return [*EVIDENCE_KEYS, *(f"{n}.{level}" for n in RULES for level in ("warn", "error"))]


def resolve_rules(overrides: dict[str, float]) -> tuple[dict[str, Rule], float, float]:
    """The rules with `<rule>.warn` / `<rule>.error` overrides applied, and the FDR levels
    a warn and an error need."""
    rules = dict(RULES)
    for key, value in overrides.items():
        if key in EVIDENCE_KEYS:
            continue
        name, _, level = key.rpartition(".")
        if name not in rules or level not in ("warn", "error"):
            raise ValueError(f"thresholds.{key}: unknown threshold (known: {threshold_names()})")
        rule = rules[name]
        rules[name] = Rule(
            rule.name,
            value if level == "warn" else rule.warn,
            value if level == "error" else rule.error,
            rule.higher_is_worse,
            rule.description,
        )
    alpha = overrides.get("fdr_alpha", DEFAULT_FDR_ALPHA)
    alpha_error = overrides.get("fdr_alpha_error", DEFAULT_FDR_ALPHA_ERROR)
    if not 0 < alpha_error <= alpha < 1:
        raise ValueError(
            f"thresholds: need 0 < fdr_alpha_error <= fdr_alpha < 1 (got {alpha_error}, {alpha})"
        )
    for rule in rules.values():
        if (rule.warn > rule.error) == rule.higher_is_worse and rule.warn != rule.error:
            side = "above" if rule.higher_is_worse else "below"
            raise ValueError(
                f"thresholds.{rule.name}: the warn level {rule.warn} must not be {side} the "
                f"error level {rule.error}"
            )
    return rules, alpha, alpha_error

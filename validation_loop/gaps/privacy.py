"""Privacy gaps: synthetic rows that copy human rows, and distance to closest record (DCR).

Both are judged against a baseline from the human data itself: a seeded 20% holdout of the
human rows plays the part of fresh real data, and how often (and how closely) it matches the
other 80% is what an honest generator should not beat. Beyond `NEIGHBOUR_WIDTH` encoded
columns, DCR compares `width_share` of its usual query rows with that share squared of its
reference rows, so its work does not grow with the width.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from validation_loop.gaps.diversity import width_share
from validation_loop.gaps.encoding import MixedEncoder, nearest_distances
from validation_loop.gaps.inputs import GapInputs
from validation_loop.gaps.matches import HOLDOUT_SHARE, ExactMatches
from validation_loop.gaps.records import Finding
from validation_loop.gaps.significance import two_proportion_test

DCR_QUERY_ROWS = 2_000
DCR_REFERENCE_ROWS = 10_000


def copy_findings(inputs: GapInputs, matches: ExactMatches) -> list[Finding]:
    """Exact copies: synthetic rows equal to a human row, against the holdout's rate."""
    columns = inputs.columns.compared
    m, held = inputs.synthetic_rows, matches.holdout_rows
    rate = matches.copies / m if m else math.nan
    baseline = matches.holdout_copies / held if held else 0.0
    return [
        Finding(
            "privacy",
            "exact_copy_rate_excess",
            tuple(columns),
            rate - baseline,
            f"{rate:.2%} of synthetic rows are exact copies of a human row; fresh human rows "
            f"match others {baseline:.2%} of the time",
            "exclude exact copies of training rows from the generator's output",
            two_proportion_test(matches.holdout_copies, held, matches.copies, m),
            "privacy.copy_excess",
        ),
    ]


def dcr_findings(inputs: GapInputs) -> list[Finding]:
    """Median distance to the closest human row, synthetic against the human holdout."""
    columns = inputs.columns
    human = inputs.human_sample
    rng = np.random.default_rng(inputs.seed)
    in_holdout = rng.random(len(human)) < HOLDOUT_SHARE
    reference = human[~in_holdout].iloc[:DCR_REFERENCE_ROWS]
    holdout = human[in_holdout].iloc[:DCR_QUERY_ROWS]
    synthetic = inputs.synthetic_sample.iloc[:DCR_QUERY_ROWS]
    if len(reference) < 10 or len(holdout) < 10 or len(synthetic) < 10:
        return []
    encoder = MixedEncoder(columns.numeric, columns.categorical).fit(reference)
    share = width_share(encoder.width)
    if share < 1:
        queries = max(10, round(DCR_QUERY_ROWS * share))
        reference = reference.iloc[: max(10, round(DCR_REFERENCE_ROWS * share**2))]
        holdout, synthetic = holdout.iloc[:queries], synthetic.iloc[:queries]
    ref = encoder.transform(reference)
    d_holdout = nearest_distances(ref, encoder.transform(holdout), False)
    d_synthetic = nearest_distances(ref, encoder.transform(synthetic), False)
    h_median, s_median = float(np.median(d_holdout)), float(np.median(d_synthetic))
    ratio = (1.0 if s_median == 0 else math.inf) if h_median == 0 else s_median / h_median
    p = float(stats.mannwhitneyu(d_synthetic, d_holdout, alternative="less").pvalue)
    return [
        Finding(
            "privacy",
            "dcr_ratio",
            tuple(columns.compared),
            ratio,
            f"the median distance from a synthetic row to its closest human row is {ratio:.3g} "
            f"times that of a held-out human row ({len(synthetic)} and {len(holdout)} rows)",
            "make the generator keep a minimum distance from training rows",
            p,
            "privacy.dcr_ratio",
        ),
        Finding(
            "privacy",
            "dcr_zero_share",
            tuple(columns.compared),
            float(np.mean(d_synthetic == 0)),
            f"{np.mean(d_synthetic == 0):.2%} of sampled synthetic rows sit at distance 0 from "
            "a human row",
        ),
    ]

"""Partitions: one dynamic partition per batch of a loop, keyed by batch id."""

from __future__ import annotations

import dagster as dg


def batch_partitions(loop: str) -> dg.DynamicPartitionsDefinition:
    """The loop's batch partitions (`human-<sha>` and `synthetic-<sha>` keys)."""
    return dg.DynamicPartitionsDefinition(name=f"{loop}_batches")

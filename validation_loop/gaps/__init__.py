"""The gap library: where synthetic data differs from human data (no Dagster imports)."""

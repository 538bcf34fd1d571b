"""Render loop reports as Markdown (Dagster UI, terminals) and as self-contained HTML."""

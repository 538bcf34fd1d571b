"""Dagster glue: assets, jobs, sensors and resources that call the validation_loop library."""

"""Feedback: generator configs, versions and the reference generator."""

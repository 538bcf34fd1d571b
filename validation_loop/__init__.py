"""validation_loop: keeps synthetic training data honest against human-labelled data."""

__version__ = "0.1.0"

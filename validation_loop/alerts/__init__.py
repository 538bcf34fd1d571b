"""Alerts: which gaps changed (no spam), the messages, the notifiers, and delivery with retries."""

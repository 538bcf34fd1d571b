"""The gap report: assembled from quality results, gap records, history and recommendations."""

"""Quality of batches: GX expectation suites and agreement among human annotators."""

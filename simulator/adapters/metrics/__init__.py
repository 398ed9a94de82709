"""Metrics: latency histograms as bucket arrays, the figures a scrape reads, and the
Prometheus endpoint (the only module that imports prometheus_client)."""

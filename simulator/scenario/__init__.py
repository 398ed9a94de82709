"""Scenario files to validated models: YAML with line numbers, durations, names, notes.ini,
models and load-time checks, the bundled scenarios."""

"""One module per `billsim` command: wiring, live view, summary."""

"""`python -m simulator` runs the billsim command line."""

from simulator.cli import main

# Guarded: a domain's processes (multiprocessing, spawn) import the main module again.
if __name__ == "__main__":
    main()

"""`python -m simulator` runs the billsim command line."""

from simulator.cli import main

main()

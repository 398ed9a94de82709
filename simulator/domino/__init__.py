"""The emulated Domino server, pure: clock and event heap, MQ$BILLING, BillingWrite,
sessions and databases, server tasks, the generated population, the simulation."""

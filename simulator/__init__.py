"""billsim: an emulated Domino server that writes byte-exact BILLMSG frames."""

__version__ = "0.1.0"

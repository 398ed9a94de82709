"""Fixtures shared by test modules (defined in helper modules, exposed here)."""

from brokers import mosquitto, mosquitto_factory

__all__ = ["mosquitto", "mosquitto_factory"]

"""Sockets, files and processes: frame sinks, the embedded broker, MQTT, logging, metrics."""

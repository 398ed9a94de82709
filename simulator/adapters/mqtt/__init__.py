"""MQTT: broker URLs, topics, options and TLS, the in-flight window, the drain, a
subscriber."""

"""The reference billing add-in's logic (as NBILLSES): received frames -> stored rows, the
bill, pacing. Pure: the MQTT consumer and the stores are adapters."""

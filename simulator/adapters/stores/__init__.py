"""Where the add-in stores frames: SQLite (embedded default), PostgreSQL, NBF files."""

"""Where the repository's files are, for tests at any depth under tests/."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
GOLDEN_TRACES = TESTS / "golden"
GOLDEN_FRAMES = REPO / "queue" / "golden"

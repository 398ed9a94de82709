"""Pure readers of a frame stream: the lifecycle invariant checker."""

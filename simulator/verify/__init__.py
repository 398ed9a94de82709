"""Pure readers of a frame stream and of bills: the lifecycle invariant checker, and the
reconciliation of a consumer's bill with a run's ground truth."""

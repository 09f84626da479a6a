"""The call engine: one task per call, running call flows over ARI."""

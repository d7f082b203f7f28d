"""Sub-commands of the `scaffold` CLI, one module each."""

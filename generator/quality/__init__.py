"""`scaffold verify` (served outputs equal the model's) and `scaffold bench` (served speed against
in-process speed)."""

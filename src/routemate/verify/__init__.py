"""Verify-then-escalate: check a cheap model's code by running it; escalate only when it fails."""

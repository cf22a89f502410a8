"""Reusable constructs the level stacks compose: each owns its resources, permissions and alarms."""

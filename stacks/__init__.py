"""Infrastructure of the MLOps maturity ladder: one stack per level, composed from `stacks.components`."""

"""Developer commands behind the Makefile targets (synth summary, benchmark); not deployed."""

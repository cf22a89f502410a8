"""Data and ML pipeline code that runs inside AWS services (Glue, SageMaker), not in CDK synth."""

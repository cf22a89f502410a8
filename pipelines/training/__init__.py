"""Level 1 churn training pipeline: its synth-time definition and the scripts its steps run.

``definition.py`` and ``images.py`` are imported by the CDK stack at synth time (plain Python, no
aws_cdk import, no AWS calls). ``steps/`` holds the scripts SageMaker runs inside its containers.
``local_train.py`` reproduces the built-in XGBoost training step on a laptop so tests can run the whole
chain (preprocess -> train -> evaluate) offline.
"""

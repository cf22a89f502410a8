"""Scripts that SageMaker Processing runs inside its prebuilt containers.

Each script is uploaded as a single file and run as ``python3 <script>.py``, so it must be
self-contained: standard library plus what its container ships (see each module's docstring), and no
import from this project. Tests import them as ordinary modules.
"""

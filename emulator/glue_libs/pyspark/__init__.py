"""Stand-in for PySpark: the subset Glue job scripts here call, run in one process (see ../README.md).

No JVM, no partitions, no shuffles: an RDD is a Python list, every transformation runs at once, and
``cache()`` is a no-op. What the scripts depend on is kept: CSV reading as Spark reads it (header from the
first file, empty cells as null, files starting with ``_`` or ``.`` skipped), schema verification in
``createDataFrame``, and Spark's output layout (``part-*`` files, ``_SUCCESS``, Hive-style partition
folders, dynamic partition overwrite).
"""

from pyspark.context import SparkContext
from pyspark.rdd import RDD

__all__ = ["RDD", "SparkContext"]

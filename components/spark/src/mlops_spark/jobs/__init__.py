"""Runnable Spark jobs (``python -m mlops_spark.jobs.<name>``)."""

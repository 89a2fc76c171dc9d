"""Spark's Python worker daemon for tuning (`spark.python.daemon.module`, set by
`ml.spark_trials`): TensorFlow, Keras and the pipeline are imported once, before the daemon forks
the workers that run the trials. With Spark's own daemon each worker paid those imports itself,
and a 30-trial search on `local[2]` took about twice as long."""

from pyspark import daemon

import ml.tune  # noqa: F401  (TensorFlow and Keras with it, after `ml` quiets their start-up lines)

if __name__ == "__main__":
    daemon.manager()

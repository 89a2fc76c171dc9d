"""The machine-learning pipeline (no Django).

TensorFlow's and LiteRT's own log lines go quiet here, before either is imported, unless
`BIRDSITE_TF_LOGS=1` (`ml.tf_logs`).
"""

from ml import tf_logs

if not tf_logs.wanted():
    tf_logs.quiet()

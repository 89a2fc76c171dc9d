"""gunicorn settings of the web image (and of the deployment smoke test), all from the environment.

Sized for a small instance: the model runs inside each worker (LiteRT, or a faster runtime that
agreed with it on this host), so workers cost memory (one model each) and threads share it;
raise GUNICORN_WORKERS with the number of cores.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# The model's threads per worker (ml.runtimes.THREADS_ENV), unless set: the cores this process
# may use shared out among the workers, so that the workers' model runs never fight for a core.
os.environ.setdefault(
    "BIRDSITE_MODEL_THREADS", str(max(1, len(os.sched_getaffinity(0)) // max(1, workers)))
)
# Threads overlap the waits on PostgreSQL, Redis and S3; prediction itself holds a worker's model.
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# A prediction takes well under a second; a stuck worker is killed and replaced after this.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then (bounded memory growth); the jitter keeps them from restarting
# all at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "1000"))
# Each worker loads Django and, on first use, the active model by itself (no fork-shared state).
preload_app = False
# Django logs every request as a JSON line with its request id (core.logging): no access log.
accesslog = None
errorlog = "-"
# The worker heartbeat file on tmpfs, not on the container's overlay filesystem.
worker_tmp_dir = "/dev/shm"
# No `gunicornc` control socket: nothing uses it, and it would live in the user's home directory.
control_socket_disable = True

"""The web image's HEALTHCHECK: GET /healthz from inside the container, with urllib only.

It sends an allowed Host (the first of DJANGO_ALLOWED_HOSTS); /healthz is exempt from the HTTPS
redirect. Exit status 0 means healthy.
"""

import os
import sys
import urllib.request

port = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").rsplit(":", 1)[1]
allowed = [
    host.strip().lstrip(".") for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",")
]
host = next((name for name in allowed if name and name != "*"), "localhost")
request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
try:
    with urllib.request.urlopen(request, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as exc:  # URLError, HTTPError (non-2xx), timeouts
    sys.exit(f"healthz: {exc}")

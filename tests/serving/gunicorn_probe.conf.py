"""The project's gunicorn config plus, when BIRDSITE_TEST_MODULES_DIR is set, a `post_request`
hook writing the worker's `sorted(sys.modules)` to `<dir>/<pid>.json` (tests only)."""

import json
import os
import runpy
import sys
import threading
from pathlib import Path

_PROJECT_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"
globals().update(
    {k: v for k, v in runpy.run_path(str(_PROJECT_CONFIG)).items() if not k.startswith("__")}
)

if os.environ.get("BIRDSITE_TEST_MODULES_DIR"):

    def post_request(worker, req, environ, resp) -> None:
        # Renamed into place: the test reads the file while the worker's threads rewrite it.
        path = Path(os.environ["BIRDSITE_TEST_MODULES_DIR"]) / f"{os.getpid()}.json"
        partial = path.with_name(f"{path.name}.{threading.get_ident()}.partial")
        partial.write_text(json.dumps(sorted(sys.modules)))
        os.replace(partial, path)

"""This host's CPU as a key: agreement results hold for one CPU (features decide which kernels a
runtime runs), and hosts behind one load balancer can differ."""

from __future__ import annotations

import hashlib
import platform
import re
from functools import cache
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


@cache
def cpu_description() -> tuple[str, frozenset[str]]:
    """(model name, feature flags) from /proc/cpuinfo; the platform's names elsewhere."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return platform.processor() or platform.machine(), frozenset()
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in text.splitlines())
        if value
    )
    name = fields.get("model name") or fields.get("Hardware") or platform.machine()
    flags = fields.get("flags") or fields.get("Features") or ""
    return name, frozenset(flags.split())


def cpu_features() -> frozenset[str]:
    return cpu_description()[1]


def cpu_key() -> str:
    """A short stable key: a readable slug of the model name and a hash of name and flags."""
    name, flags = cpu_description()
    digest = hashlib.sha256((name + "\n" + " ".join(sorted(flags))).encode()).hexdigest()
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "cpu"
    return f"{slug}-{digest[:10]}"

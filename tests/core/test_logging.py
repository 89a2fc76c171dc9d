"""core.logging: one JSON line per request, carrying its request id."""

from __future__ import annotations

import json
import logging

import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_request_log_is_one_json_line_with_request_id_and_latency(client, capsys):
    handler = logging.getLogger().handlers[0]
    records: list[str] = []
    original_emit = handler.emit
    handler.emit = lambda record: records.append(handler.format(record))
    try:
        client.get(reverse("home"), HTTP_X_REQUEST_ID="req-42")
    finally:
        handler.emit = original_emit
    lines = [json.loads(line) for line in records if '"birdsite.request"' in line]
    assert lines, records
    assert lines[-1]["request_id"] == "req-42"
    assert lines[-1]["status"] == 200
    assert lines[-1]["path"] == "/"
    assert lines[-1]["latency_ms"] >= 0

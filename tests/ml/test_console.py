"""Progress on a pipe: complete lines, few of them, and one closing line with the count."""

from __future__ import annotations

import time

from ml import console


def test_a_pipe_gets_a_closing_line_and_no_redraws(capsys) -> None:
    for _ in console.progress(range(500), desc="features", unit="img"):
        pass
    assert capsys.readouterr().err.splitlines() == ["features: 500/500 img (0 s)"]


def test_a_pipe_gets_a_line_per_interval_and_the_summary_once(capsys, monkeypatch) -> None:
    monkeypatch.setattr(console, "PIPE_INTERVAL", 0.05)
    with console.progress(total=3, desc="epochs", unit="epoch") as bar:
        for epoch in range(3):
            time.sleep(0.06)
            bar.set_postfix(loss=f"{1 / (epoch + 1):.4f}")
            bar.update()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "epochs: 1/3 epoch",
        "epochs: 2/3 epoch",
        "epochs: 3/3 epoch",
    ]
    assert lines[-1].endswith("s, loss 0.3333)")


def test_disabled_progress_says_nothing(capsys) -> None:
    for _ in console.progress(range(3), desc="quiet", disable=True):
        pass
    assert capsys.readouterr().err == ""

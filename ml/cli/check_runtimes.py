"""`check_runtimes`: judge every candidate engine against LiteRT fp32 for one model on this
host (`ml.agreement`), and keep the results where `auto` finds them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ml import console
from ml.agreement import (
    AgreementStore,
    CheckPhotosMissing,
    check_engine,
    check_photos,
    choose_engine,
)
from ml.cli import CommandFailed, Log, progress_of
from ml.model_dir import ModelDir, ModelDirError
from ml.runtimes import AUTO, REFERENCE, candidate_engines

HELP = (
    "Check every candidate runtime engine (OpenVINO fp32/bf16, ...) against LiteRT fp32 on "
    "fixed real photos for one model, on this host, and save the results that "
    "BIRDSITE_RUNTIME=auto chooses from."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="model directory")
    parser.add_argument("--store", type=Path, help="results folder (default: data dir)")
    parser.add_argument("--photos", type=Path, help="data folder with field/valid, birds525/valid")
    parser.add_argument("--force", action="store_true", help="check again engines already checked")


def run(options: dict[str, Any], log: Log) -> None:
    try:
        model = ModelDir.open(path=options["model"])
    except ModelDirError as error:
        raise CommandFailed(str(error)) from error
    try:
        photos = check_photos(root=options["photos"])
    except CheckPhotosMissing as error:
        raise CommandFailed(str(error)) from error
    store = AgreementStore(options["store"]) if options["store"] else AgreementStore.default()
    checked = []
    with store.lock(model_version=model.version):
        for engine in candidate_engines():
            if engine == REFERENCE:
                continue
            if not options["force"] and store.result_for(
                model_version=model.version, engine=engine
            ):
                continue
            with console.progress(
                total=len(photos), desc=engine.key, unit="photo", disable=not progress_of(options)
            ) as bar:
                result = check_engine(
                    model_dir=model.path, engine=engine, photos=photos, on_photo=bar.update
                )
            store.save(result)
            checked.append(result)
    for result in checked:
        outcome = (
            "passed" if result.passed else f"failed{f' ({result.error})' if result.error else ''}"
        )
        log(
            f"{result.engine:15} {outcome:8} agree {result.agreement:.1%} (top-1 "
            f"{result.top1_agreement:.1%}, verdict {result.verdict_agreement:.1%}), max diff "
            f"{result.max_probability_diff:.2g}, {result.ms_per_photo} ms vs LiteRT "
            f"{result.reference_ms_per_photo} ms"
        )
    choice = choose_engine(store=store, model_version=model.version, requested=AUTO)
    log(
        f"model {model.version}: {len(checked)} engine(s) checked on {len(photos)} photos; "
        f"auto serves on {choice.engine.key} ({choice.reason}); results in {store.root}"
    )

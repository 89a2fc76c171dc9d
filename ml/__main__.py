"""`python -m ml COMMAND [options]`: the pipeline's commands (`ml.cli`), without Django."""

from __future__ import annotations

import argparse
import sys

from ml.cli import (
    CommandFailed,
    bench_ml,
    build_backbone,
    compare_models,
    evaluate,
    fit_finder,
    subsample,
    train_model,
    tune_model,
)

COMMANDS = (
    subsample,
    build_backbone,
    fit_finder,
    tune_model,
    train_model,
    evaluate,
    compare_models,
    bench_ml,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        name = module.__name__.rsplit(".", 1)[1]
        sub = commands.add_parser(
            name, help=module.HELP.replace("%", "%%"), description=module.HELP
        )
        sub.add_argument(
            "-v", "--verbosity", type=int, choices=(0, 1, 2, 3), default=1, help="0: no progress"
        )
        module.add_arguments(sub)
        sub.set_defaults(module=module)
    options = vars(parser.parse_args(argv))
    try:
        options.pop("module").run(options, print)
    except CommandFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

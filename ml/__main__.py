"""`python -m ml COMMAND [options]`: the pipeline's commands (`ml.cli`), without Django.

Only the command that runs is imported: the web image, which has no training packages
(TensorFlow, scikit-learn, Hyperopt), runs `check_runtimes` this way. `--help` imports them all.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ml.cli import CommandFailed

COMMANDS = (
    "subsample",
    "build_backbone",
    "fit_finder",
    "tune_model",
    "train_model",
    "evaluate",
    "compare_models",
    "bench_ml",
    "check_runtimes",
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m ml", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = [argv[0]] if argv and argv[0] in COMMANDS else COMMANDS
    for name in wanted:
        module = importlib.import_module(f"ml.cli.{name}")
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

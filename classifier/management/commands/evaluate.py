"""`python -m ml evaluate` as a management command (`ml.cli.evaluate`)."""

from classifier.management.ml_command import MlCommand
from ml.cli import evaluate


class Command(MlCommand):
    command = evaluate

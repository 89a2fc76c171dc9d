"""`python -m ml compare_models` as a management command (`ml.cli.compare_models`)."""

from classifier.management.ml_command import MlCommand
from ml.cli import compare_models


class Command(MlCommand):
    command = compare_models

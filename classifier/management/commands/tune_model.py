"""`python -m ml tune_model` as a management command (`ml.cli.tune_model`)."""

from classifier.management.ml_command import MlCommand
from ml.cli import tune_model


class Command(MlCommand):
    command = tune_model

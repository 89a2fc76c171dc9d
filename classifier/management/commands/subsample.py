"""`python -m ml subsample` as a management command (`ml.cli.subsample`)."""

from classifier.management.ml_command import MlCommand
from ml.cli import subsample


class Command(MlCommand):
    command = subsample

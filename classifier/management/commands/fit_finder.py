"""`python -m ml fit_finder` as a management command (`ml.cli.fit_finder`)."""

from classifier.management.ml_command import MlCommand
from ml.cli import fit_finder


class Command(MlCommand):
    command = fit_finder

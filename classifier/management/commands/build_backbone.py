"""`python -m ml build_backbone` as a management command (`ml.cli.build_backbone`)."""

from classifier.management.ml_command import MlCommand
from ml.cli import build_backbone


class Command(MlCommand):
    command = build_backbone

"""`python -m ml bench_ml` as a management command (`ml.cli.bench_ml`)."""

from classifier.management.ml_command import MlCommand
from ml.cli import bench_ml


class Command(MlCommand):
    command = bench_ml

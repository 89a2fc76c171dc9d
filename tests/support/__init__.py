"""Helpers the tests import (not fixtures): the serving stack a test starts and drives."""

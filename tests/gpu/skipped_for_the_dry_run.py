"""A test that is always skipped: tests/gpu/check.py --dry-run --inject STEP=skip runs it, to show that a
skipped GPU test fails the check (tests/test_gpu_check.py). Not named test_*: CI does not collect it."""
import pytest


def test_skipped():
    pytest.skip("dry run: stands for a GPU test skipped for want of a GPU")

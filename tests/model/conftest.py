"""Model tests use tiny tensors: one intra-op thread is faster and immune to CPU oversubscription."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _tiny_tensors(one_thread):
    """Every model test module runs on one thread (the ``one_thread`` fixture of tests/conftest.py)."""

"""The bad-input catalogue (tests/bad_inputs.py): every case fails as listed, and the README table is current."""

from __future__ import annotations

import pytest
from bad_inputs import CASES, README, Context, outcome, readme_table, render_table

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see tests/conftest.py


@pytest.fixture(scope="module")
def ctx() -> Context:
    return Context()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.area}: {c.what}" for c in CASES])
def test_case_raises_its_error_with_a_message(case, ctx):
    err = outcome(case, ctx)
    assert isinstance(err, case.error), f"{case.what}: expected {case.error.__name__}, got {err!r}"
    assert len(str(err)) > 20, f"{case.what}: the message must say what is wrong and what is allowed: {err}"


def test_readme_table_is_current(ctx):
    expected = render_table(ctx)
    assert readme_table(README.read_text()) == expected, (
        "the README's bad-input table is stale: run `python tests/bad_inputs.py --write README.md`"
    )

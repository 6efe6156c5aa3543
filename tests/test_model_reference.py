"""Every "reference §x" cited in the package, its configs and tests names a section of docs/model_reference.md."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CITATION = re.compile(r"[Rr]eference ((?:§\d+(?:\.\d+)?(?:\s*(?:,|/|-|–|and)\s*)?)+)")


def test_cited_sections_exist():
    doc = (REPO / "docs" / "model_reference.md").read_text()
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", doc, flags=re.M))
    cited = {}
    for path in [*(REPO / "nmflowgan_aug").rglob("*.py"), *(REPO / "tests").rglob("*.py"), *REPO.glob("configs/*.yaml")]:
        for group in CITATION.findall(path.read_text()):
            for section in re.findall(r"§(\d+(?:\.\d+)?)", group):
                cited.setdefault(section, path.relative_to(REPO).as_posix())
    assert len(cited) >= 10  # the model code cites the reference throughout
    assert {s: p for s, p in cited.items() if s not in sections} == {}

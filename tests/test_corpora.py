"""The corpus builder reproduces the shipped files byte for byte (needs music21 + abc2midi)."""

import filecmp

from conftest import CORPORA
from musicrnn.corpora import build_corpora


def test_build_reproduces_shipped_files(tmp_path):
    summary = build_corpora(tmp_path, jobs=1, limit=1, progress=False)
    built = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.mid"))
    assert summary["files"] == len(built) >= 5  # 1 chorale + every tune of 1 book per folk collection
    assert {p.parts[0] for p in built} == {"chorales", "folk"}
    for rel in built:
        assert filecmp.cmp(tmp_path / rel, CORPORA / rel, shallow=False), rel


def test_shipped_corpora_sizes():
    chorales = list((CORPORA / "chorales").glob("*.mid"))
    folk = list((CORPORA / "folk").rglob("*.mid"))
    assert len(chorales) >= 300 and len(folk) >= 5000
    assert sum(p.stat().st_size for p in chorales + folk) < 50 * 2**20

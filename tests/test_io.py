"""Safe writing (nmflowgan_aug._io): atomic files and folders, refusing outputs, cleaning leftovers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nmflowgan_aug._io import atomic_write, check_replaceable, remove_stale_temporaries, write_folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tree(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_write_folder_replaces_the_contents_as_one_unit(tmp_path):
    target = tmp_path / "out"
    write_folder(target, lambda tmp: [(tmp / n).write_text(n) for n in ("a", "b")])
    assert _tree(target) == {"a": "a", "b": "b"}
    write_folder(target, lambda tmp: (tmp / "c").write_text("c"))
    assert _tree(target) == {"c": "c"}  # nothing of the old contents is left
    assert oct(target.stat().st_mode & 0o777) == oct(0o777 & ~_umask())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_write_leaves_the_old_folder(tmp_path):
    target = tmp_path / "out"
    write_folder(target, lambda tmp: (tmp / "a").write_text("old"))

    def half(tmp):
        (tmp / "a").write_text("new")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        write_folder(target, half)
    assert _tree(target) == {"a": "old"} and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file exists and is not a folder"):
        write_folder(tmp_path / "file", lambda tmp: None)


def test_check_replaceable(tmp_path):
    owned = lambda rel: rel.suffix == ".hdf5"  # noqa: E731
    check_replaceable(tmp_path / "missing", False, owned, "tool")
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty", False, owned, "tool")
    full = tmp_path / "full"
    (full / "sub").mkdir(parents=True)
    (full / "sub" / "a.hdf5").write_text("")
    with pytest.raises(FileExistsError, match=r"full is not empty \(it holds sub\); .*\(--overwrite\)"):
        check_replaceable(full, False, owned, "tool")
    check_replaceable(full, True, owned, "tool")
    (full / "sub" / "notes.txt").write_text("")
    with pytest.raises(FileExistsError, match=r"1 file\(s\) that tool does not write, e.g. .*sub/notes.txt"):
        check_replaceable(full, True, owned, "tool")
    with pytest.raises(NotADirectoryError, match="notes.txt exists and is not a folder"):
        check_replaceable(full / "sub" / "notes.txt", True, owned, "tool")


def test_remove_stale_temporaries(tmp_path):
    def killed(tmp):
        raise KeyboardInterrupt

    atomic_write(tmp_path / "last.pt", lambda p: Path(p).write_text("ok"))
    leftovers = [tmp_path / ".last.pt.abcd_123.tmp", tmp_path / ".model.x1y2z3w4.tmp", tmp_path / ".0001_a.h5.qwertyui.tmp"]
    leftovers[0].write_text("half")
    leftovers[1].mkdir()
    (leftovers[1] / "model.safetensors").write_text("half")
    leftovers[2].write_text("half")
    kept = [tmp_path / "last.pt", tmp_path / ".hidden", tmp_path / "x.tmp", tmp_path / ".a.short.tmp"]
    for path in kept[1:]:
        path.write_text("mine")
    assert remove_stale_temporaries(tmp_path, "last.pt") == [leftovers[0]]
    assert remove_stale_temporaries(tmp_path) == sorted(leftovers[1:])
    assert sorted(tmp_path.iterdir()) == sorted(kept)
    assert remove_stale_temporaries(tmp_path / "missing") == []
    with pytest.raises(KeyboardInterrupt):  # an interrupted atomic_write removes its own temporary
        atomic_write(tmp_path / "last.pt", killed)
    assert sorted(tmp_path.iterdir()) == sorted(kept) and (tmp_path / "last.pt").read_text() == "ok"

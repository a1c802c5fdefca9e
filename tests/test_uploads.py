"""musicrnn.ui.uploads: uploaded MIDI files and zip archives -> a safe flat folder of MIDI."""

import stat
import struct
import time
import zipfile
from pathlib import Path

import pytest

from musicrnn.ui import uploads
from musicrnn.ui.uploads import UploadError, collect_midi, safe_name

CHORALES = Path(__file__).resolve().parent.parent / "corpora" / "chorales"


@pytest.fixture(scope="module")
def midis() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CHORALES.glob("*.mid"))[:3]]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_zip(path: Path, members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def patch_central(path: Path, index: int, offset: int, fmt: str, value: int) -> None:
    """Overwrite one field of the index-th central directory entry (what zipfile trusts)."""
    data = bytearray(path.read_bytes())
    at = -1
    for _ in range(index + 1):
        at = data.index(b"PK\x01\x02", at + 1)
    struct.pack_into(fmt, data, at + offset, value)
    path.write_bytes(bytes(data))


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_plain_midi_uploads(tmp_path, midis):
    ups = [write(tmp_path / "in" / f"song {i}.MID", m) for i, m in enumerate(midis)]
    got = collect_midi(ups, tmp_path / "job" / "data")
    assert got.folder == tmp_path / "job" / "data"
    assert got.files == ["song_0.MID", "song_1.MID", "song_2.MID"] and got.skipped == []
    assert files_in(got.folder) == dict(zip(got.files, midis))


def test_zip_with_nested_folders_is_flattened(tmp_path, midis):
    z = make_zip(tmp_path / "in" / "bach.zip", {
        "bach/": b"", "bach/set 1/a.mid": midis[0], "bach/set 1/b.midi": midis[1],
        "c.kar": midis[2], "README.txt": b"hello"})
    got = collect_midi([z], tmp_path / "dest")
    assert got.files == ["bach__set_1__a.mid", "bach__set_1__b.midi", "c.kar"]
    assert got.skipped == ["bach.zip/README.txt: not a MIDI file"]
    assert files_in(tmp_path / "dest") == dict(zip(got.files, midis))


def test_path_traversal_members_stay_inside_dest(tmp_path, midis):
    names = ["../../x.mid", "/etc/evil.mid", "..\\..\\win.mid", "C:\\drive.mid", "a/../../b.mid"]
    z = make_zip(tmp_path / "in" / "evil.zip", {n: midis[0] for n in names})
    assert [i.filename for i in zipfile.ZipFile(z).infolist()] == names  # stored as hostile as given
    dest = tmp_path / "job" / "data"
    got = collect_midi([z], dest)
    assert got.files == ["x.mid", "etc__evil.mid", "win.mid", "drive.mid", "a__b.mid"]
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - {z}
    assert written == {dest / n for n in got.files}
    assert not Path("/etc/evil.mid").exists()


def test_safe_name():
    assert safe_name("a/b/c.mid") == "a__b__c.mid"
    assert safe_name("../../x.mid") == "x.mid"
    assert safe_name(".hidden.mid") == "_hidden.mid"
    assert safe_name("Präludium & Fuge.mid") == "Pr_ludium___Fuge.mid"
    long = safe_name("d/" + "x" * 300 + ".midi")
    assert len(long) == 120 and long.endswith(".midi")


def test_empty_zip_is_refused(tmp_path):
    z = make_zip(tmp_path / "empty.zip", {})
    with pytest.raises(UploadError, match=r"^empty.zip: the zip archive is empty$"):
        collect_midi([z], tmp_path / "dest")


def test_no_uploads_is_refused(tmp_path):
    with pytest.raises(UploadError, match="no files uploaded"):
        collect_midi([], tmp_path / "dest")


def test_zip_of_text_files_is_refused(tmp_path):
    z = make_zip(tmp_path / "notes.zip", {"a.txt": b"x", "b.txt": b"y"})
    with pytest.raises(UploadError, match="no MIDI files among the uploads") as err:
        collect_midi([z], tmp_path / "dest")
    assert "notes.zip/a.txt: not a MIDI file" in str(err.value)
    assert list((tmp_path / "dest").iterdir()) == []


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """One member of b'MThd' + 300 MB of zeros, about 300 KB zipped; streamed, little memory."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("big.mid", "w", force_zip64=True) as f:
            f.write(b"MThd")
            zeros = bytes(2**20)
            for _ in range(300):
                f.write(zeros)
    return path


def test_zip_bomb_is_refused(tmp_path, bomb):
    start = time.perf_counter()
    with pytest.raises(UploadError, match="looks like a zip bomb"):
        collect_midi([bomb], tmp_path / "dest")
    assert time.perf_counter() - start < 2
    assert list((tmp_path / "dest").iterdir()) == []


def test_zip_bomb_is_refused_by_size_too(tmp_path, bomb, midis, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_RATIO", 10**9)  # the declared size must catch it alone
    good = write(tmp_path / "in" / "good.mid", midis[0])
    got = collect_midi([bomb, good], tmp_path / "dest")
    assert got.files == ["good.mid"]
    assert got.skipped == ["bomb.zip/big.mid: 300 MB, over the 10 MB limit for one file"]
    assert all(p.stat().st_size <= uploads.MAX_FILE_BYTES for p in (tmp_path / "dest").iterdir())


def test_archive_declaring_too_much_is_refused(tmp_path, midis):
    z = make_zip(tmp_path / "many.zip", {f"{i}.mid": m for i, m in enumerate(midis)})
    with pytest.raises(UploadError, match="zip bomb"):
        collect_midi([z], tmp_path / "dest", max_total_bytes=1000)


def test_member_lying_about_its_size(tmp_path, midis):
    # Central directory says 100 bytes: zipfile stops there and the CRC fails -> skipped.
    z = make_zip(tmp_path / "liar.zip", {"liar.mid": midis[0], "ok.mid": midis[1]}, zipfile.ZIP_STORED)
    patch_central(z, 0, 24, "<I", 100)
    got = collect_midi([z], tmp_path / "dest")
    assert got.files == ["ok.mid"]
    assert len(got.skipped) == 1 and got.skipped[0].startswith("liar.zip/liar.mid: damaged")


def test_bytes_read_are_counted_per_file(tmp_path, midis):
    ups = [write(tmp_path / "in" / "big.mid", midis[0] * 3), write(tmp_path / "in" / "s.mid", midis[1])]
    got = collect_midi(ups, tmp_path / "dest", max_file_bytes=len(midis[0]) * 2)
    assert got.files == ["s.mid"]
    assert got.skipped == [f"big.mid: larger than the {len(midis[0]) * 2 / 2**20:.3g} MB limit for one file"]
    assert files_in(tmp_path / "dest") == {"s.mid": midis[1]}


def test_total_limit_stops_the_job_and_cleans_up(tmp_path, midis):
    z = make_zip(tmp_path / "all.zip", {f"{i}.mid": m for i, m in enumerate(midis)})
    limit = len(midis[0]) + len(midis[1]) // 2
    with pytest.raises(UploadError, match="limit per job"):
        collect_midi([z], tmp_path / "dest", max_total_bytes=limit)
    assert list((tmp_path / "dest").iterdir()) == []


def test_non_midi_non_zip_upload_is_skipped(tmp_path, midis):
    ups = [write(tmp_path / "in" / "notes.txt", b"just text"), write(tmp_path / "in" / "a.mid", midis[0])]
    got = collect_midi(ups, tmp_path / "dest")
    assert got.files == ["a.mid"]
    assert got.skipped == ["notes.txt: not a MIDI file or zip archive"]


def test_text_with_midi_suffix_is_skipped(tmp_path, midis):
    fake = write(tmp_path / "in" / "fake.mid", b"this is not MIDI at all")
    with pytest.raises(UploadError, match=r"fake.mid: not a MIDI file \(no MThd header\)"):
        collect_midi([fake], tmp_path / "dest")
    z = make_zip(tmp_path / "in" / "mixed.zip", {"fake.mid": b"text", "real.mid": midis[0]})
    got = collect_midi([z], tmp_path / "dest2")
    assert got.files == ["real.mid"]
    assert got.skipped == ["mixed.zip/fake.mid: not a MIDI file (no MThd header)"]


def test_duplicate_names_are_deduplicated(tmp_path, midis):
    ups = [write(tmp_path / "u1" / "song.mid", midis[0]), write(tmp_path / "u2" / "song.mid", midis[1]),
           make_zip(tmp_path / "u3" / "more.zip", {"SONG.mid": midis[2], "x/../song.mid": midis[0]})]
    got = collect_midi(ups, tmp_path / "dest")
    assert got.files == ["song.mid", "song_2.mid", "SONG_3.mid", "x__song.mid"]
    assert files_in(tmp_path / "dest") == dict(zip(got.files, [midis[0], midis[1], midis[2], midis[0]]))


def test_max_files_cap(tmp_path, midis):
    z = make_zip(tmp_path / "all.zip", {f"{i}.mid": m for i, m in enumerate(midis)})
    got = collect_midi([z], tmp_path / "dest", max_files=2)
    assert got.files == ["0.mid", "1.mid"]
    assert got.skipped == ["1 more MIDI file(s) not used: the limit is 2 per job"]
    assert sorted(files_in(tmp_path / "dest")) == ["0.mid", "1.mid"]


def test_skipped_lines_are_capped(tmp_path, midis):
    members = {f"n{i:03}.txt": b"x" for i in range(60)} | {"ok.mid": midis[0]}
    got = collect_midi([make_zip(tmp_path / "z.zip", members)], tmp_path / "dest")
    assert got.files == ["ok.mid"]
    assert len(got.skipped) == 51 and got.skipped[-1] == "... and 10 more skipped"


def test_links_and_encrypted_members_are_skipped(tmp_path, midis):
    z = tmp_path / "odd.zip"
    with zipfile.ZipFile(z, "w") as zf:
        link = zipfile.ZipInfo("link.mid")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("secret.mid", midis[0])
        zf.writestr("ok.mid", midis[1])
    patch_central(z, 1, 8, "<H", 0x1)  # zipfile cannot encrypt; set the flag by hand
    got = collect_midi([z], tmp_path / "dest")
    assert got.files == ["ok.mid"]
    assert got.skipped == ["odd.zip/link.mid: a link", "odd.zip/secret.mid: encrypted"]
    assert not (tmp_path / "dest" / "link.mid").is_symlink()


def test_corrupt_archives_and_members(tmp_path, midis):
    z = make_zip(tmp_path / "in" / "bad.zip", {"bad.mid": midis[0] * 4, "ok.mid": midis[1]})
    data = bytearray(z.read_bytes())
    start = data.index(b"bad.mid") + len("bad.mid")  # garble the deflated bytes of bad.mid
    data[start + 20:start + 120] = bytes(100)
    z.write_bytes(bytes(data))
    truncated = write(tmp_path / "in" / "cut.zip", make_zip(tmp_path / "t.zip", {"a.mid": midis[0]})
                      .read_bytes()[:-30])  # no end-of-archive record left
    got = collect_midi([z, truncated], tmp_path / "dest")
    assert got.files == ["ok.mid"]
    assert got.skipped[0].startswith("bad.zip/bad.mid: damaged")
    assert got.skipped[1] == "cut.zip: not a MIDI file or zip archive"
    assert files_in(tmp_path / "dest") == {"ok.mid": midis[1]}


def test_an_empty_file_is_named_as_such(tmp_path):
    (tmp_path / "empty.mid").write_bytes(b"")
    with pytest.raises(UploadError, match=r"empty\.mid: empty file \(0 bytes\)"):
        collect_midi([tmp_path / "empty.mid"], tmp_path / "dest")

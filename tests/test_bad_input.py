"""Bad input gets one clear line naming the file, exit code 2, never a traceback."""

import symusic
import pytest

from conftest import run_cli
from musicrnn.codec import MidiError, read_midi


def _zero_note_midi(path):
    s = symusic.Score(480)
    s.tracks.append(symusic.Track("empty", 0, False))
    s.dump_midi(str(path))


@pytest.mark.parametrize("kind,content,expect", [
    ("empty", b"", "empty file"),
    ("text", b"hello, I am a text file\n", "not a MIDI file"),
    ("corrupt", b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x10\x00\x00\x90", "corrupt MIDI"),
    ("zero-notes", None, "no notes"),
])
def test_bad_file_one_line_exit_2(tmp_path, kind, content, expect):
    path = tmp_path / f"{kind}.mid"
    if content is None:
        _zero_note_midi(path)
    else:
        path.write_bytes(content)
    with pytest.raises(MidiError, match=expect):
        read_midi(path)
    for args in (["codec", "roundtrip", path, "--out", tmp_path / "o.mid"], ["codec", "encode", path]):
        r = run_cli(*args)
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and expect in lines[0], r.stderr
        assert "Traceback" not in r.stderr


def test_missing_path_and_folder(tmp_path):
    r = run_cli("codec", "check", tmp_path / "nope")
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("codec", "encode", tmp_path)
    assert r.returncode == 2 and "folder" in r.stderr

"""The hardening attacks of issue 19, replayed: each row runs one attack as a new user or
a hostile visitor would (the command line, the page, the daily quake update) and records
what happened, the wall time and the peak memory of the process that did the work.

    .venv/bin/python benchmarks/attacks.py [--out docs/attacks.md]

Every attack runs in a child process with a 4 GB address-space cap and a time limit, so
an unfixed attack fails its row instead of taking the machine down. Takes about 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import free_port, one_note_midi as one_note  # noqa: E402
PY = sys.executable
CAP = 4 * 2**30


def _limit():
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


def run(args, timeout=120):
    """(returncode or 'timeout', wall seconds, the child's peak RSS in MB, stdout, stderr)."""
    import threading

    t = time.time()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_limit,
                         cwd=ROOT, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    texts = {}
    readers = [threading.Thread(target=lambda k, f: texts.__setitem__(k, f.read()), args=(k, f))
               for k, f in (("out", p.stdout), ("err", p.stderr))]
    for r in readers:
        r.start()
    rc = "timeout"
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            rc = os.waitstatus_to_exitcode(status)
            p.returncode = rc
            break
        if time.time() - t > timeout:
            p.kill()
            _, _, usage = os.wait4(p.pid, 0)
            p.returncode = -9
            break
        time.sleep(0.02)
    for r in readers:
        r.join()
    return rc, time.time() - t, usage.ru_maxrss / 1024, texts.get("out", ""), texts.get("err", "")


def musicrnn(*args, timeout=120):
    return run([PY, "-m", "musicrnn", *map(str, args)], timeout=timeout)


def edited(tmp: Path, name: str, change) -> Path:
    ck = tmp / name
    shutil.copytree(ROOT / "checkpoints" / "folk", ck)
    if isinstance(change, str):
        (ck / "config.json").write_text(change)
        return ck
    meta = json.loads((ck / "config.json").read_text())
    change(meta)
    (ck / "config.json").write_text(json.dumps(meta))
    return ck


def last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def outcome(rc, err, out="") -> str:
    if rc == "timeout":
        return "**still running at the time limit**"
    if rc == 0:
        return "ran: " + (last_line(err) or last_line(out))[:160]
    line = last_line(err)
    if "Traceback" in err:
        return f"**traceback**: {line[:160]}"
    return f"exit {rc}: {line[:200]}"


def page_rows(tmp: Path, bomb: Path) -> list[tuple]:
    """The page: a visitor uploads the bomb as a primer, then another asks for a normal song."""
    from gradio_client import Client, handle_file

    port = free_port()
    server = subprocess.Popen([PY, "-m", "musicrnn", "ui", "--port", str(port), "--runs", str(tmp / "runs")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    rows = []
    try:
        for line in server.stdout:
            if "Running on" in line:
                break
        c = Client(f"http://127.0.0.1:{port}/", verbose=False)
        t = time.time()
        try:
            r = c.predict(primer=handle_file(str(bomb)), seconds=5, seed=1, api_name="/generate")
            what = f"ran: {r[4][:150]}"
        except Exception as e:  # the page's one-line error
            what = f"refused: {str(e)[:150]}"
        bomb_s = time.time() - t
        t = time.time()
        c.predict(seconds=3, seed=1, api_name="/generate")
        normal_s = time.time() - t
        rss = max(_rss(pid) for pid in _children(server.pid))
        rows.append(("1", "page: upload a 37-byte primer with a 268M-beat note, then another visitor asks for a song",
                     what.replace("\n", " "), f"{bomb_s:.1f} s; the next request {normal_s:.1f} s", f"{rss:.0f}"))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return rows


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()] or [pid]


def _rss(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    m = re.search(r"VmHWM:\s+(\d+)", status)
    return int(m.group(1)) / 1024 if m else 0.0


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def training_outlives_page(tmp: Path) -> tuple:
    data = tmp / "jobdata"
    data.mkdir()
    for f in sorted((ROOT / "corpora" / "chorales").glob("*.mid"))[:6]:
        shutil.copy(f, data / f.name)
    work = tmp / "work"
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from musicrnn.ui.jobs import Trainer
        t = Trainer({str(tmp / 'runs')!r}, {str(work)!r})
        job = t.submit(1, Path({str(data)!r}), "x", "tiny from scratch (1x64, quick test)", 10, [])
        while job.proc is None:
            time.sleep(0.1)
        print(job.proc.pid, flush=True)
        time.sleep(600)
    """)
    server = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    child = int(server.stdout.readline())
    time.sleep(3)
    server.kill()
    server.wait()
    t = time.time()
    while _alive(child) and time.time() - t < 120:
        time.sleep(0.2)
    gone = not _alive(child)
    if not gone:
        os.kill(child, signal.SIGKILL)
    return ("6", "SIGKILL the page's process while a 10-minute training job runs",
            f"training stopped {time.time() - t:.1f} s after the page died" if gone
            else "**training still running after 120 s**", "", "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="write the table here (Markdown) as well")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="musicrnn-attacks-"))
    rows: list[tuple] = []
    try:
        big = one_note(tmp / "big.mid", 0, 0x0FFFFFFF)
        mbeat = one_note(tmp / "mbeat.mid", 0, 1_000_000)
        late = one_note(tmp / "late.mid", 0x0FFFFFFF, 1)
        ten = one_note(tmp / "ten.mid", 0, 120 * 60 * 10)
        for f, what, extra in ((mbeat, "`sample --primer` a 36-byte file, one note 1,000,000 beats long", ()),
                               (big, "`sample --primer` a 37-byte file, one note 268M beats long", ()),
                               (late, "`sample --primer` a 37-byte file, a note starting at beat 268M", ()),
                               (ten, "`sample --primer` a 10-hour note, `--seconds 5`", ("--seconds", 5))):
            out = tmp / f"{f.stem}-out.mid"
            rc, s, rss, o, e = musicrnn("sample", "--primer", f, "--out", out, "--seed", 1, *extra)
            res = outcome(rc, e, o)
            if rc == 0:
                import pretty_midi

                res = (f"wrote a {pretty_midi.PrettyMIDI(str(out)).get_end_time():.0f}-second MIDI that pretty_midi "
                       f"reads; said \"{next((ln for ln in e.splitlines() if ln.startswith('primer')), '')}\"")
            rows.append(("1", what, res, f"{s:.1f} s", f"{rss:.0f}"))
        data = tmp / "zip"
        data.mkdir()
        for f in sorted((ROOT / "corpora" / "chorales").glob("*.mid"))[:20]:
            shutil.copy(f, data / f.name)
        shutil.copy(big, data / "bomb.mid")
        shutil.copy(late, data / "late.mid")
        rc, s, rss, o, e = musicrnn("train", "--data", data, "--out", tmp / "run", "--minutes", 0.05, "--hidden", 64,
                                    "--layers", 1, "--quiet", timeout=300)
        skipped = [ln for ln in e.splitlines() if ln.startswith("skipped")]
        rows.append(("1", "`train` a folder holding both bombs with a 3-second budget",
                     f"exit {rc}; {len(skipped)} file skipped: {skipped[0][8:120] if skipped else ''}...",
                     f"{s:.1f} s", f"{rss:.0f}"))
        for name, change, what in (
                ("hidden", lambda m: m["model"].__setitem__("hidden", 10**9), "config.json `model.hidden` = 10^9"),
                ("tempo", lambda m: m["codec"].__setitem__("tempo_bins", 10**9), "config.json `codec.tempo_bins` = 10^9"),
                ("hstr", lambda m: m["model"].__setitem__("hidden", "256"), 'config.json `model.hidden` = "256"'),
                ("deep", "[" * 100_000 + "]" * 100_000, "config.json nested 100,000 deep"),
                ("h512", lambda m: m["model"].__setitem__("hidden", 512), "config.json `model.hidden` = 512 (weights 256)"),
                ("temp", lambda m: m.__setitem__("sampling", {"temperature": -1.0}),
                 "config.json `sampling.temperature` = -1")):
            ck = edited(tmp, name, change)
            rc, s, rss, o, e = musicrnn("sample", "--checkpoint", ck, "--out", tmp / "x.mid")
            cause = "2" if name in ("hidden", "tempo", "h512") else "3" if name == "hstr" else "4" if name == "deep" else "-"
            rows.append((cause, what, outcome(rc, e).replace(str(ck), "CK"), f"{s:.1f} s", f"{rss:.0f}"))
        rows += quake_rows(tmp)
        rows.append(training_outlives_page(tmp))
        rows += page_rows(tmp, big)
        ck = tmp / "modes"
        rc, *_ = musicrnn("train", "--data", data, "--out", ck, "--steps", 2, "--hidden", 16, "--layers", 1, "--quiet")
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in ck.iterdir() if p.is_file()}
        rows.append(("-", "file modes of a trained model", f"model.safetensors {modes.get('model.safetensors')}, "
                     f"config.json {modes.get('config.json')}", "", ""))
        outside = tmp / "outside"
        outside.mkdir()
        (outside / "link.mid").symlink_to("/etc/passwd")
        shutil.copy(sorted(data.glob("*.mid"))[0], outside / "a.mid")
        rc, s, rss, o, e = musicrnn("train", "--data", outside, "--out", tmp / "r2", "--steps", 1, "--hidden", 16,
                                    "--layers", 1, "--quiet")
        rows.append(("-", "a link in `--data` to /etc/passwd", next((ln for ln in e.splitlines() if "link" in ln),
                                                                      "not mentioned"), f"{s:.1f} s", ""))
        (tmp / "afile").write_text("x")
        rc, s, rss, o, e = musicrnn("train", "--data", ROOT / "corpora" / "folk", "--out", tmp / "afile" / "run")
        rows.append(("-", "`train --out` under a file, on the 12,760-tune folk folder", outcome(rc, e).replace(str(tmp), "TMP"),
                     f"{s:.1f} s", ""))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    table = ["| cause | attack | what happens now | time | peak MB |", "|---|---|---|---|---|"]
    table += [f"| {' | '.join(str(c).replace('|', '/').replace(str(tmp), 'TMP') for c in r)} |" for r in rows]
    text = "\n".join(table)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


def quake_rows(tmp: Path) -> list[tuple]:
    """A tiny quake model on 40 days of a simulated catalog, then updates from hostile catalogs."""
    code = textwrap.dedent(f"""
        import numpy as np
        from musicrnn.tasks import quake as q
        full = q.etas_catalog(60, seed=3)
        keep = full.time < np.datetime64("2000-01-01", "ms") + np.timedelta64(40, "D")
        q.write_comcat(q.Catalog(*(getattr(full, k)[keep] for k in ("time", "latitude", "longitude", "depth", "mag",
                                                                     "mag_type", "event_id"))), {str(tmp / 'train.csv')!r})
        q.write_comcat(full, {str(tmp / 'full.csv')!r})
        q.train({str(tmp / 'quake')!r}, catalog={str(tmp / 'train.csv')!r}, steps=4, hidden=8, bptt=8, batch=4, seed=0,
                log=lambda m: None)
    """)
    run([PY, "-c", code], timeout=300)
    full = (tmp / "full.csv").read_text().splitlines()
    t0 = full[-1].split(",")[0]
    rows = []
    import datetime as dt

    soon = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for name, extra, what in (("y2099", "2099-06-01T00:00:00.000Z", "catalog with a row dated 2099"),
                              ("soon", soon, "catalog with a row dated three days from now"),
                              ("far", "2026-01-01T00:00:00.000Z", "catalog whose last real row is 26 years on")):
        f = tmp / f"{name}.csv"
        f.write_text("\n".join(full + [full[-1].replace(t0, extra)]) + "\n")
        model = tmp / f"q-{name}"
        shutil.copytree(tmp / "quake", model)
        rc, s, rss, o, e = musicrnn("task", "quake", "update", "--model", model, "--catalog", f)
        line = last_line(e).replace(str(tmp) + "/", "")
        if rc == 0:
            line = f"{line[:150]}; " + next((ln.split("skipped: ")[-1][:110] for ln in e.splitlines() if "bad row" in ln), "")
        rows.append(("5", f"quake update: {what}", f"exit {rc}: {line}", f"{s:.1f} s", f"{rss:.0f}"))
    return rows


if __name__ == "__main__":
    sys.exit(main())

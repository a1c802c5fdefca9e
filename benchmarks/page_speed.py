"""The page under use: time from pressing Generate to a playable song, and 20 requests at once.

    .venv/bin/python benchmarks/page_speed.py [--repeats 5] [--busy 1] [--concurrency N]

Starts `musicrnn ui` as its own process (as a user would), then
  1. in headless Chromium (Playwright, Debian's chromium): presses Generate with the default
     settings (a 30-second song) and waits until the audio player has fetched and decoded
     the WAV (it shows the song's length: ready to play). Median of --repeats.
  2. fires 20 concurrent /generate requests (default settings, seeds 0..19) through
     gradio_client; reports the wall time, each request's latency, whether every MIDI is
     valid, and the peak memory of the server and its worker processes together.
  3. one request alone (median of 3), so that 2. can be read against it: with C samplers
     at a time, 20 requests should take about 20/C single requests if overlapping requests
     do not slow each other down (no thread oversubscription).
--busy N runs N busy-looping processes beside it, as on a shared machine.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants (the page's worker processes)."""
    total, todo = 0, [pid]
    while todo:
        q = todo.pop()
        try:
            total += vm(q, "VmRSS")
            for t in Path(f"/proc/{q}/task").iterdir():
                todo += [int(c) for c in (t / "children").read_text().split()]
        except OSError:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--busy", type=int, default=0)
    ap.add_argument("--concurrency", type=int, default=None)
    ap.add_argument("--requests", type=int, default=20)
    a = ap.parse_args()

    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.busy)]
    port = free_port()
    runs = tempfile.mkdtemp(prefix="page-bench-runs-")
    cmd = [sys.executable, "-m", "musicrnn", "ui", "--port", str(port), "--runs", runs]
    if a.concurrency:
        cmd += ["--concurrency", str(a.concurrency)]
    t0 = time.perf_counter()
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        for line in server.stdout:
            if "Running on" in line:
                break
        startup = time.perf_counter() - t0
        rss_idle = vm(server.pid, "VmRSS")

        from playwright.sync_api import sync_playwright
        from test_browser import CHROMIUM, wait_for_song, wav_href

        to_audio, page_load = [], []
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
            for _ in range(a.repeats):
                pg = b.new_page(viewport={"width": 1400, "height": 1000})
                t = time.perf_counter()
                pg.goto(url)
                pg.wait_for_selector("#generate-btn")
                page_load.append(time.perf_counter() - t)
                prev = wav_href(pg)
                t = time.perf_counter()
                pg.click("#generate-btn")
                wait_for_song(pg, prev)
                to_audio.append(time.perf_counter() - t)
                pg.close()
            b.close()

        from gradio_client import Client

        from musicrnn.codec import read_midi

        client = Client(url, verbose=False)
        alone = []
        for i in range(3):
            t = time.perf_counter()
            client.predict(seed=1000 + i, api_name="/generate")
            alone.append(time.perf_counter() - t)

        def one(i):
            t = time.perf_counter()
            r = client.predict(seed=i, api_name="/generate")
            return time.perf_counter() - t, r

        import threading

        peak, stop = [tree_rss(server.pid)], threading.Event()

        def watch():
            while not stop.wait(0.05):
                peak.append(tree_rss(server.pid))

        w = threading.Thread(target=watch)
        w.start()
        t = time.perf_counter()
        with cf.ThreadPoolExecutor(a.requests) as pool:
            done = list(pool.map(one, range(a.requests)))
        wall = time.perf_counter() - t
        stop.set()
        w.join()
        valid = sum(1 for _, r in done if read_midi(r[2][0]).n_notes > 0 and int(r[5]) >= 0)
        seeds = sorted(int(r[5]) for _, r in done)
        lat = sorted(d for d, _ in done)
        conc = a.concurrency or max(1, min(4, os.cpu_count() or 1))
        single = statistics.median(alone)
        print(json.dumps({
            "cores": os.cpu_count(), "busy_processes": a.busy, "concurrency": conc,
            "server_start_s": round(startup, 2), "page_load_s_median": round(statistics.median(page_load), 3),
            "generate_to_playable_s": [round(x, 3) for x in to_audio],
            "generate_to_playable_s_median": round(statistics.median(to_audio), 3),
            "single_request_s_median": round(single, 3),
            "requests": a.requests, "completed_valid": valid, "distinct_seeds": len(set(seeds)),
            "wall_s": round(wall, 2), "latency_s_median": round(statistics.median(lat), 2),
            "latency_s_max": round(lat[-1], 2),
            "wall_vs_ideal": round(wall / (a.requests * single / conc), 2),
            "server_rss_idle_mb": round(rss_idle / 2**20, 1),
            "server_peak_rss_mb": round(vm(server.pid, "VmHWM") / 2**20, 1),
            "server_and_workers_rss_before_mb": round(peak[0] / 2**20, 1),
            "server_and_workers_peak_rss_mb": round(max(peak) / 2**20, 1),
        }))
    finally:
        server.terminate()
        server.wait(timeout=30)
        for q in busy:
            q.kill()


if __name__ == "__main__":
    main()

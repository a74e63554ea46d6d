"""Running a command and measuring it: wall time and peak memory of its process tree."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psutil


def tree_rss(process: psutil.Process) -> tuple[int, int]:
    """(sum, largest) resident set size over a process and its descendants."""
    total = largest = 0
    try:
        procs = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for proc in procs:
        try:
            rss = proc.memory_info().rss
        except psutil.Error:
            continue
        total += rss
        largest = max(largest, rss)
    return total, largest


def run_measured(cmd: list[str], cwd: Path, env=None, timeout: float = 3600) -> dict:
    """Run `cmd` to completion, sampling its tree's memory every 50 ms."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak = {"sum": 0, "largest": 0}
    done = threading.Event()

    def sample():
        ps = psutil.Process(proc.pid)
        while not done.is_set():
            total, largest = tree_rss(ps)
            peak["sum"] = max(peak["sum"], total)
            peak["largest"] = max(peak["largest"], largest)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return {"seconds": seconds, "returncode": proc.returncode, "stdout": out, "stderr": err,
            "peak_rss_mb": peak["sum"] / 2**20, "largest_rss_mb": peak["largest"] / 2**20}


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Re-dub a batch of silent piano videos on a Dask cluster, one task per video.

Each task runs the `pianola redub IN -o OUT/NAME.mp4 [--midi OUT/NAME.mid] -q` command on
whichever worker Dask gives it; Dask does the scheduling, the retries of lost workers and the
transport of results. This script only lists the videos, skips those already done, submits
them and reports.

    # a local cluster of 2 worker processes (1 thread each) on this machine
    redub_dask.py videos/ -o out/ --local 2
    # a running cluster (dask scheduler + dask worker on other machines)
    redub_dask.py /shared/videos -o /shared/out --scheduler tcp://10.0.0.1:8786

The inputs, the output folder and the `pianola` binary must be at the same paths on every
worker (shared storage, or the worker image of cluster/Dockerfile). Outputs are written by
the CLI itself, to a hidden temporary file renamed when the run succeeded, so a video whose
outputs all exist is done and is skipped when the batch is run again. Exit status: 0 when
every video is done, 1 when any failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v"}


@dataclass(frozen=True)
class Job:
    """One video to re-dub and the files it must produce."""

    video: Path
    outputs: tuple[Path, ...]  # the video output first, then the MIDI if asked for
    midi: Path | None

    def done(self) -> bool:
        return all(p.exists() for p in self.outputs)


@dataclass(frozen=True)
class Result:
    """What one task reports back to the driver."""

    video: Path
    ok: bool
    seconds: float  # wall time of the CLI
    cpu: float  # its CPU time, user + system
    worker: str
    message: str  # the CLI's error line when it failed


def redub_one(job: Job, pianola: str, extra: tuple[str, ...], threads: int,
              timeout: float | None) -> Result:
    """Run `pianola redub` on one video (on a Dask worker). Never raises for a bad video:
    a failure is a Result, so that one broken file does not stop the batch."""
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = "local"
    cmd = [pianola, "redub", str(job.video), "-o", str(job.outputs[0]), "-q", *extra]
    if job.midi is not None:
        cmd += ["--midi", str(job.midi)]
    env = dict(os.environ)
    if threads > 0:
        # libtorch sizes its intra-op thread pool from OMP_NUM_THREADS (MKL_NUM_THREADS);
        # the CLI has no flag of its own for it.
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    start = time.monotonic()
    try:
        status, cpu, stderr, timed_out = run_measured(cmd, env, timeout)
    except OSError as e:
        return Result(job.video, False, time.monotonic() - start, 0.0, worker,
                      f"cannot run {pianola}: {e}")
    seconds = time.monotonic() - start
    if timed_out:
        return Result(job.video, False, seconds, cpu, worker, f"timed out after {timeout:g} s")
    if status == 0:
        return Result(job.video, True, seconds, cpu, worker, "")
    return Result(job.video, False, seconds, cpu, worker, error_line(stderr, status))


def run_measured(cmd: list[str], env: dict[str, str],
                 timeout: float | None) -> tuple[int, float, str, bool]:
    """Run cmd to its end: (exit status, its CPU seconds (user + system, from wait4, so this
    child's alone even when tasks share a worker process), its stderr, whether it was killed
    for the timeout)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        _, wait_status, usage = os.wait4(proc.pid, 0)
        if timer:
            timer.cancel()
        proc.returncode = status = os.waitstatus_to_exitcode(wait_status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return status, usage.ru_utime + usage.ru_stime, stderr, killed.is_set()


def error_line(stderr: str, status: int) -> str:
    """The CLI's error from its stderr: the last `pianola: ...` line (a hint naming a flag
    may follow it), else the last line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("pianola:")]
    if errors:
        return errors[-1]
    return lines[-1] if lines else f"exit status {status}, nothing on stderr"


def list_videos(inputs: list[Path]) -> list[Path]:
    """The files given, and the videos (by suffix) directly in the folders given, sorted."""
    videos: list[Path] = []
    for p in inputs:
        if p.is_dir():
            videos += sorted(f for f in p.iterdir()
                             if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
        elif p.is_file():
            videos.append(p)
        else:
            raise SystemExit(f"redub_dask: no such file or folder: {p}")
    return videos


def plan(videos: list[Path], out_dir: Path, suffix: str, midi: bool) -> list[Job]:
    """One Job per video, outputs named after the video in out_dir; two videos of one name
    would write the same outputs, so that is refused."""
    jobs: list[Job] = []
    seen: dict[str, Path] = {}
    for v in videos:
        v = v.resolve()
        if v.stem in seen:
            raise SystemExit(f"redub_dask: {seen[v.stem]} and {v} would both write "
                             f"{out_dir / (v.stem + suffix)}; rename one")
        seen[v.stem] = v
        out = out_dir / f"{v.stem}{suffix}"
        mid = out_dir / f"{v.stem}.mid" if midi else None
        jobs.append(Job(v, (out,) + ((mid,) if mid else ()), mid))
    return jobs


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Re-dub piano videos on a Dask cluster, one `pianola redub` per video.",
        epilog="Arguments after `--` go to every `pianola redub` (e.g. -- --device cpu).")
    ap.add_argument("inputs", nargs="+", type=Path, help="videos, or folders of videos")
    ap.add_argument("-o", "--out-dir", type=Path, required=True, help="output folder")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--scheduler", metavar="ADDR",
                       help="a running Dask scheduler, e.g. tcp://10.0.0.1:8786")
    where.add_argument("--local", type=int, metavar="N",
                       help="start a LocalCluster of N worker processes, 1 thread each")
    ap.add_argument("--pianola", default=os.environ.get("PIANOLA_BIN", "pianola"),
                    help="the pianola CLI as the workers see it (default: $PIANOLA_BIN, "
                         "else pianola on PATH)")
    ap.add_argument("--suffix", default=".mp4", choices=[".mp4", ".mkv", ".mov", ".wav"],
                    help="the output kind (default .mp4: the video with its new audio)")
    ap.add_argument("--midi", action="store_true", help="also write NAME.mid per video")
    ap.add_argument("--threads", type=int, default=1, metavar="T",
                    help="libtorch threads per task, via OMP_NUM_THREADS (default 1: one "
                         "task per core; 0 leaves the workers' environment alone)")
    ap.add_argument("--timeout", type=float, metavar="S",
                    help="give up on a video after S seconds (default: no limit); the killed "
                         "run may leave its .NAME.partial-PID file in the output folder")
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    args = ap.parse_args(argv)
    args.extra = tuple(extra)
    if args.local is not None and args.local < 1:
        ap.error("--local needs at least 1 worker")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from distributed import Client, LocalCluster, as_completed

    pianola = args.pianola
    if args.local is not None and os.sep not in pianola:
        pianola = shutil.which(pianola) or pianola
    jobs = plan(list_videos(args.inputs), args.out_dir.resolve(), args.suffix, args.midi)
    todo = [j for j in jobs if not j.done()]
    skipped = len(jobs) - len(todo)
    for j in jobs:
        if j.done():
            print(f"skip    {j.video.name}: {j.outputs[0]} exists", flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if not todo:
        print(f"summary: 0 done, 0 failed, {skipped} skipped of {len(jobs)} videos; "
              "nothing to do")
        return 0

    t0 = time.monotonic()
    if args.local is not None:
        # Quiet worker logs: the nannies' shutdown races print tracebacks that are no failure;
        # a task's own failure comes back to the driver as its exception.
        cluster = LocalCluster(n_workers=args.local, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.CRITICAL)
        client = Client(cluster)
    else:
        cluster = None
        client = Client(args.scheduler)
    info = client.scheduler_info()["workers"]
    # A worker process runs as many tasks at once as it has threads.
    threads = sum(w.get("nthreads", 1) for w in info.values())
    workers = plural(len(info), "worker") + (f" with {threads} threads" if threads != len(info)
                                             else "")
    print(f"cluster {client.scheduler.address}: {workers} "
          f"(up in {time.monotonic() - t0:.1f} s); {plural(len(todo), 'video')} to do, "
          f"{skipped} skipped", flush=True)

    start = time.monotonic()
    results: list[Result] = []
    try:
        futures = {client.submit(redub_one, j, pianola, args.extra, args.threads,
                                 args.timeout, key=f"redub-{j.video.stem}-{i}", pure=False): j
                   for i, j in enumerate(todo)}
        for fut in as_completed(futures):
            try:
                r: Result = fut.result()
            except Exception as e:  # the task itself failed, e.g. its worker died too often
                r = Result(futures[fut].video, False, 0.0, 0.0, "?",
                           f"task failed: {type(e).__name__}: {e}")
            results.append(r)
            how = f"{r.video.name} in {r.seconds:.1f} s (CPU {r.cpu:.1f} s) on {r.worker}"
            if r.ok:
                print(f"ok      {how}", flush=True)
            else:
                print(f"FAILED  {how}: {r.message}", flush=True)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    wall = time.monotonic() - start

    done = sum(r.ok for r in results)
    failed = [r for r in results if not r.ok]
    rate = done / (wall / 60) if wall > 0 and done else 0.0
    print(f"summary: {done} done, {len(failed)} failed, {skipped} skipped of {len(jobs)} "
          f"videos; wall {wall:.1f} s on {workers}, {rate:.2f} videos/min; "
          f"CPU {sum(r.cpu for r in results):.1f} s in the CLI runs")
    for r in failed:
        print(f"failed: {r.video}: {r.message}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Sandbox cost: per-block latency vs plain in-process exec, pool throughput, worker start time.

    python bench/exec_bench.py                 # ~20 s on a 2-core box
    python bench/exec_bench.py --blocks 2000   # tighter numbers

Targets (brief): <= 10 ms overhead per block; >= 100 trivial blocks/s from a pool on 2 cores.
"""
import argparse
import io
import os
import statistics
import sys
import time
from contextlib import redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import exec_env as E  # noqa: E402

BLOCKS = {"assign": "x = 1 + 1", "print": "print(sum(range(100)))",
          "loop 1e5": "s = 0\nfor i in range(100000):\n    s += i\nprint(s)"}


def in_process_ms(code, n):
    """Plain exec in this process (what WorldModel did), output captured the cheap way."""
    ns, times = {}, []
    for _ in range(n):
        t = time.perf_counter()
        with redirect_stdout(io.StringIO()):
            exec(compile(code, "<code>", "exec"), ns)
        times.append((time.perf_counter() - t) * 1e3)
    return times


def sandbox_ms(box, code, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = box.run(code)
        times.append((time.perf_counter() - t) * 1e3)
        assert r.error is None, r.error
    return times


def p(xs, q):
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=500, help="blocks per latency measurement")
    ap.add_argument("--seconds", type=float, default=2.0, help="duration of each throughput measurement")
    args = ap.parse_args()

    print(f"host: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, uid {os.getuid()}")
    with E.Sandbox() as box:
        box._wait_ready()
        print(f"isolation: {box.isolation}")
        print(f"\nper-block latency over {args.blocks} blocks (ms)")
        print(f"{'block':<10} {'in-proc p50':>12} {'sandbox p50':>12} {'sandbox p90':>12} {'overhead p50':>13}")
        for name, code in BLOCKS.items():
            n = args.blocks if name != "loop 1e5" else max(20, args.blocks // 10)
            a, b = in_process_ms(code, n), sandbox_ms(box, code, n)
            print(f"{name:<10} {statistics.median(a):>12.3f} {statistics.median(b):>12.3f} {p(b, 0.9):>12.3f} "
                  f"{statistics.median(b) - statistics.median(a):>13.3f}")

        # a fresh worker per episode: restart = kill + start, then the first block waits for the boot
        starts = []
        for _ in range(10):
            t = time.perf_counter()
            box.restart()
            box.run("pass")
            starts.append((time.perf_counter() - t) * 1e3)
        print(f"\nworker restart + first block: p50 {statistics.median(starts):.1f} ms, max {max(starts):.1f} ms")

    print(f"\npool throughput, trivial block 'print(sum(range(100)))', {args.seconds:g} s each")
    print(f"{'workers':>7} {'blocks/s':>10} {'blocks':>8}")
    for n in (1, 2, 4, 8):
        with E.SandboxPool(n) as pool:
            boxes = [pool.acquire() for _ in range(n)]
            for b in boxes:
                b._wait_ready()
            done, t = 0, time.perf_counter()
            while time.perf_counter() - t < args.seconds:
                results = pool.run_batch([(b, "print(sum(range(100)))") for b in boxes])
                assert all(r.text == "4950" for r in results)
                done += n
            rate = done / (time.perf_counter() - t)
            print(f"{n:>7} {rate:>10.0f} {done:>8}")

    print("\nepisodes: acquire + 2 blocks + release (release restarts the worker in the background)")
    with E.SandboxPool(4) as pool:
        for b in pool._idle:
            b._wait_ready()
        t, n = time.perf_counter(), 40
        for _ in range(n):
            b = pool.acquire()
            b.run("a = 2")
            b.run("print(a * 21)")
            pool.release(b)
        print(f"{n / (time.perf_counter() - t):.1f} episodes/s (sequential, pool of 4)")


if __name__ == "__main__":
    main()

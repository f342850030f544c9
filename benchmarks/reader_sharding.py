"""What one prepare task pays to read its share of the input, as the task count grows.

A folder of `--files` JSONL files is read by task 0 of T tasks (the reader step alone, no
pipeline), for several T; the reference is one task reading everything, timed in the same run.
With file-level sharding task 0's time falls as 1/T; a reader that scans every line in every
task stays near the reference whatever T is.

    python benchmarks/reader_sharding.py                     # 16 files x 20,000 records
    python benchmarks/reader_sharding.py --tasks 1 4 16 64
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from safereflect.data.sources import InputConfig, build_reader


def write_input(root: Path, files: int, records: int) -> None:
    for f in range(files):
        with (root / f"part-{f:05d}.jsonl").open("w") as fh:
            for i in range(records):
                fh.write(json.dumps({"id": f"{f}-{i}", "text": f"Document {i} of file {f}. " * 8}) + "\n")


def time_task0(path: Path, tasks: int, repeats: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeats):
        reader = build_reader(InputConfig(path=str(path)), skip_bad=False)
        start = time.perf_counter()
        n = sum(1 for _ in reader.run(None, 0, tasks))
        times.append(time.perf_counter() - start)
    return statistics.median(times), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_input(root, args.files, args.records)
        size = sum(p.stat().st_size for p in root.iterdir()) / 2**20
        print(f"input: {args.files} files x {args.records:,} records ({size:,.0f} MiB)")
        reference, total = time_task0(root, 1, args.repeats)
        print(f"  1 task reads all {total:,} records in {reference:.2f} s (reference)")
        for tasks in args.tasks:
            if tasks == 1:
                continue
            seconds, n = time_task0(root, tasks, args.repeats)
            print(
                f"  task 0 of {tasks:>3}: {n:>9,} records in {seconds:.2f} s; ratio to reference "
                f"{seconds / reference:.3f} (ideal {1 / tasks:.3f})"
            )


if __name__ == "__main__":
    main()

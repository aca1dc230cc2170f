"""What the model-free data checks add to the scan/decode of a folder.

Times the training path's read of a folder (scan + decode of every image at --image-size, as `load_images` does with
the disk cache off) without and with the checks measured on the decoded pixels (load_images(checks=True)), then the
Data workspace's own pass (scan + checks only, no training-size decode: `workbench scan`). Each is the best of
--repeats runs, so the page cache is warm for both. Prints a table line per run and one JSON line with the added
fraction (goal: <= 0.20).

    python benchmarks/data_checks.py --data /tmp/fm/train
    python benchmarks/data_checks.py --data resources/demo --repeats 1      # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import time

from workbench.data.cache import load_images
from workbench.data.checks import ISSUES, check_folder
from workbench.data.demo import demo_dataset_path
from workbench.data.scan import scan_folder


def _best(fn, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(demo_dataset_path()), help="image folder (default: the demo)")
    parser.add_argument("--image-size", type=int, default=32, help="training resolution of the decode")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="decode threads")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    def read(checks: bool):
        return load_images(args.data, args.image_size, cache_dir=None, workers=args.workers, checks=checks)

    plain_s, _ = _best(lambda: read(False), args.repeats)
    checked_s, data = _best(lambda: read(True), args.repeats)

    def data_view_pass():
        report = scan_folder(args.data)
        return check_folder(report.root, report.paths, workers=args.workers)

    alone_s, _ = _best(data_view_pass, args.repeats)
    n = len(data)
    print(f"{n:,} images, {args.image_size} px, {args.workers} workers")
    print(f"  scan + decode              {plain_s:8.2f} s")
    print(f"  scan + decode + checks     {checked_s:8.2f} s   (+{checked_s / plain_s - 1:.1%})")
    print(f"  scan + checks (Data view)  {alone_s:8.2f} s")
    counts = {kind: data.checks.count(kind) for kind in ISSUES}
    print(
        json.dumps(
            {
                "images": n,
                "image_size": args.image_size,
                "workers": args.workers,
                "scan_decode_s": round(plain_s, 3),
                "scan_decode_checks_s": round(checked_s, 3),
                "added_fraction": round(checked_s / plain_s - 1, 3),
                "data_view_checks_s": round(alone_s, 3),
                "counts": counts,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

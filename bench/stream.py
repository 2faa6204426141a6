"""The streamed data path: peak memory and images/s on generated VOC-style folders.

Generates folders of N and 10 x N distinct images (500 x 375 JPEGs with palette-PNG masks, the
size of Pascal VOC's) and reads the same number of training batches from each through
``voc_folder`` (the PSPNet preset: scale, rotate, blur, flip, 473 x 473 crops) with its loader
workers, sampling the resident memory of the whole process tree. The old path held a split as
float32 tensors: N x 3 x 473 x 473 x 4 bytes, printed for comparison.

    python bench/stream.py [--images 2000] [--batches 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from folders import voc_ellipses as generate  # noqa: E402


def tree_rss() -> int:
    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(root: Path, batches: int, workers: int, batch_size: int) -> tuple[float, float]:
    """(peak RSS of the process tree in MB, training images per second)."""
    from ablate.registry import DATASETS, load_plugins

    load_plugins()
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss())
            time.sleep(0.05)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    data = DATASETS.get("voc_folder")(root=str(root), crop=473, workers=workers)
    seen, start = 0, None
    for b, (x, _) in enumerate(data.train.batches(batch_size, shuffle=True, seed=0, epoch=0)):
        if b == 2:  # after the workers started and warmed up
            start, seen = time.perf_counter(), 0
        seen += len(x)
        if b + 1 >= batches:
            break
    rate = seen / (time.perf_counter() - start)
    data.train.close()
    stop.set()
    watcher.join()
    return peak[0] / 2**20, rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--root", type=Path, default=Path("bench/out/stream"))
    args = ap.parse_args()
    for n in (args.images, 10 * args.images):
        root = args.root / f"voc{n}"
        t = time.perf_counter()
        generate(root, n)
        made = time.perf_counter() - t
        rss, rate = measure(root, args.batches, args.workers, args.batch_size)
        held = n * 3 * 473 * 473 * 4 / 2**30
        print(f"streamed voc_folder, {n} training images (generated in {made:.0f} s): peak RSS "
              f"{rss:.0f} MB (process and {args.workers} loader workers), {rate:.1f} images/s "
              f"(pspnet preset, 473 crops, batch {args.batch_size}); the old in-memory path "
              f"would hold {held:.1f} GiB", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

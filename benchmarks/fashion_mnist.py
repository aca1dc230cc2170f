"""Export Fashion-MNIST from its IDX files to a folder of PNGs that the workbench can open.

    python benchmarks/fashion_mnist.py OUT --train 10000 --test 2000   # OUT/train/<class>/NNNNN.png, OUT/test/...
    python benchmarks/fashion_mnist.py --demo resources/demo           # 100 per class, flat OUT/<class>/NNNNN.png

Images are the official ones, unchanged: 28x28 grayscale. NNNNN is the image's index in its official split,
so an exported file can always be traced back. Source: https://github.com/zalandoresearch/fashion-mnist
(on Debian/Ubuntu: apt-get install dataset-fashion-mnist).
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_SOURCE = Path("/usr/share/datasets/fashion-mnist")
# Official label order 0..9: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.
CLASS_NAMES = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_split(source: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of the official "train" or "test" split."""
    image_file, label_file = (Path(source) / name for name in _FILES[split])
    for f in (image_file, label_file):
        if not f.is_file():
            raise FileNotFoundError(
                f"Fashion-MNIST file '{f}' not found; install it (apt-get install dataset-fashion-mnist) or "
                "download the .gz files from https://github.com/zalandoresearch/fashion-mnist and pass --source."
            )
    images = _read_idx(image_file, expected_magic=2051)
    labels = _read_idx(label_file, expected_magic=2049)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"'{image_file}' and '{label_file}' do not hold matching images and labels")
    return images, labels


def _read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """An IDX file (big-endian header: magic, then one uint32 per dimension, then uint8 data)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise ValueError(f"'{path}' is not an IDX file of the expected kind (magic {magic}, wanted {expected_magic})")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image, mode="L").save(path, optimize=True)


def export_fashion_mnist(out: Path, n_train: int, n_test: int, source: Path = DEFAULT_SOURCE) -> int:
    """Write the FIRST n_train / n_test images of each split to out/{train,test}/<class>/NNNNN.png.

    Returns the number of files written.
    """
    out = Path(out)
    written = 0
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = read_split(source, split)
        if not 0 <= n <= len(images):
            raise ValueError(f"--{split} must be between 0 and {len(images)}, got {n}")
        for i in range(n):
            _write_png(out / split / CLASS_NAMES[labels[i]] / f"{i:05d}.png", images[i])
        written += n
    return written


def export_demo(out: Path, per_class: int = 100, source: Path = DEFAULT_SOURCE) -> int:
    """Write the first `per_class` train images of each class flat to out/<class>/NNNNN.png (balanced)."""
    images, labels = read_split(source, "train")
    written = 0
    for c, name in enumerate(CLASS_NAMES):
        indices = np.flatnonzero(labels == c)[:per_class]
        if len(indices) < per_class:
            raise ValueError(f"class {name} has only {len(indices)} train images, fewer than {per_class}")
        for i in indices:
            _write_png(Path(out) / name / f"{i:05d}.png", images[i])
        written += len(indices)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, help="output folder for the train/test export")
    parser.add_argument("--train", type=int, default=60000, help="first N images of the train split")
    parser.add_argument("--test", type=int, default=10000, help="first N images of the test split")
    parser.add_argument("--demo", type=Path, metavar="OUT", help="write the balanced demo subset to OUT instead")
    parser.add_argument("--per-class", type=int, default=100, help="images per class in --demo mode")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder with the IDX .gz files")
    args = parser.parse_args(argv)
    if (args.out is None) == (args.demo is None):
        parser.error("give either OUT or --demo OUT")
    try:
        if args.demo is not None:
            n = export_demo(args.demo, args.per_class, args.source)
            print(f"Wrote {n} demo images to {args.demo}")
        else:
            n = export_fashion_mnist(args.out, args.train, args.test, args.source)
            print(f"Wrote {n} images to {args.out}")
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

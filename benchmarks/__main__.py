"""python -m benchmarks <name> [args]: run one benchmark; figures are saved under benchmarks/results/."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "exact": "exact search vs the best numpy/BLAS formulation (siftsmall, glove-100k)",
    "ingest": "durable batch ingest vs chromadb and lancedb",
    "scale": "open time and resident memory of a 1M x 128 collection",
    "compression": "codecs (sign, learned binary, PQ/OPQ, int8, Matryoshka) vs exact and faiss (SciFact, GloVe)",
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        print("usage: python -m benchmarks <name> [args]\n")
        for name, what in BENCHMARKS.items():
            print(f"  {name:12s} {what}")
        sys.exit(2)
    importlib.import_module(f"benchmarks.{sys.argv[1]}").main(sys.argv[2:])


if __name__ == "__main__":
    main()

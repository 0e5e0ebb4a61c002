"""python -m vecdb.compression report VECTORS.npy [...]: the measured price of each codec on your vectors.

Prints a markdown table (bytes/vector, recall@k on codes and after rescoring, QPS, fit time) and, with --budget
or --min-recall, the codec to choose. `add_report_command` lets the main `vecdb` CLI mount the same command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_report_command(sub) -> None:
    p = sub.add_parser("compression-report", help="measure every compression codec on a .npy file of vectors")
    _arguments(p)
    p.set_defaults(fn=cmd_report)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("vectors", help=".npy file (n, dim) of the collection's vectors")
    p.add_argument("--metric", default="cosine", choices=["cosine", "dot", "l2"])
    p.add_argument("--queries", help=".npy file of real queries (default: hold out --sample vectors)")
    p.add_argument(
        "--codec",
        action="append",
        help="codec spec, repeatable: sign, sign:768, sign:scoring=asymmetric, learned:2, pq:48, opq:48, int8, "
        "matryoshka:128 (default: a spread for the vectors' dimension)",
    )
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--sample", type=int, default=500, help="held-out vectors used as queries without --queries")
    p.add_argument("--recall-target", type=float, default=0.95, help="for the oversampling calibration")
    p.add_argument("--budget", type=float, help="bytes per vector: print the best codec within it")
    p.add_argument("--min-recall", type=float, help="print the smallest codec reaching this rescored recall")
    p.add_argument("--repeat", type=int, default=3, help="timing runs (best is kept)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the rows to this JSON file")


def cmd_report(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import VecDBError
    from .report import choose_codec, compression_report, format_table

    try:
        x = np.load(args.vectors)
        q = np.load(args.queries) if args.queries else None
    except (OSError, ValueError) as e:
        print(f"cannot read vectors: {e}", file=sys.stderr)
        return 2
    try:
        rows = compression_report(
            x,
            args.codec,
            args.metric,
            queries=q,
            k=args.k,
            sample=args.sample,
            recall_target=args.recall_target,
            seed=args.seed,
            repeat=args.repeat,
        )
    except VecDBError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(format_table(rows))
    if args.budget is not None or args.min_recall is not None:
        best = choose_codec(rows, max_bytes=args.budget, min_recall=args.min_recall)
        what = " and ".join(
            s
            for s in (
                f"{args.budget:g} bytes/vector" if args.budget is not None else "",
                f"recall {args.min_recall:g}" if args.min_recall is not None else "",
            )
            if s
        )
        print(f"\nchosen for {what}: {best.codec if best else 'none of the measured codecs qualifies'}")
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_dict() for r in rows], indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vecdb.compression", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("report", help="measure codecs on a .npy file of vectors")
    _arguments(p)
    p.set_defaults(fn=cmd_report)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())

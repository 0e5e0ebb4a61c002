"""The `vecdb` command line: serve, demo, info, compact, compression-report."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

DEFAULT_DATA_DIR = "vecdb-data"


def _shared_data() -> Path:
    env = os.environ.get("VECDB_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def cmd_demo(args: argparse.Namespace) -> int:
    """Ingest GloVe word vectors into a collection, then answer nearest-word queries."""
    import numpy as np
    from tqdm.auto import tqdm

    import vecdb

    glove = Path(args.glove or _shared_data() / "glove-6b-50d-angular")
    try:
        x = np.load(glove / "train_100k.npy")
        words = json.loads((glove / "words.json").read_text())
    except FileNotFoundError:
        print(
            f"demo data not found under {glove}: pass --glove DIR (GloVe 6B 50d: train_100k.npy, words.json)",
            file=sys.stderr,
        )
        return 2
    train_words = words["train_100k_words"]
    with vecdb.open(args.data) as db:
        db.drop_collection("glove_demo", missing_ok=True)
        col = db.create_collection(
            "glove_demo",
            vectors={"v": vecdb.Dense(x.shape[1], "cosine")},
            payload={"word": "keyword", "length": "integer"},
        )
        t0 = time.perf_counter()
        step = 5000
        for s in tqdm(range(0, len(x), step), desc="ingest", unit="batch", disable=not sys.stderr.isatty()):
            part = train_words[s : s + step]
            col.upsert(
                list(range(s, s + len(part))), x[s : s + len(part)], [{"word": w, "length": len(w)} for w in part]
            )
        dt = time.perf_counter() - t0
        print(
            f"ingested {col.count():,} GloVe vectors (dim {x.shape[1]}) into {args.data} in {dt:.1f}s "
            f"({col.count() / dt:,.0f} vectors/s, durable)"
        )
        index = {w: i for i, w in enumerate(train_words)}
        for word in args.words:
            if word not in index:
                print(f"  {word!r}: not among the 100k words")
                continue
            t0 = time.perf_counter()
            hits = col.search("v", x[index[word]], k=args.k + 1)
            ms = (time.perf_counter() - t0) * 1000
            near = ", ".join(f"{h.payload['word']} ({h.score:.3f})" for h in hits if h.payload["word"] != word)
            print(f"  {word:>10} -> {near}   [{ms:.1f} ms, {hits.explain['path']}]")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import vecdb

    with vecdb.open(args.data, read_only=True) as db:
        out = {"path": db.path, "collections": [db[n].info() for n in db.list_collections()], **db.stats()}
    print(json.dumps(out, indent=2))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    import vecdb

    print(json.dumps(vecdb.verify(args.data)))
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    import vecdb

    with vecdb.open(args.data) as db:
        print(json.dumps(db[args.collection].compact(progress=True)))
    return 0


def cmd_compression_report(args: argparse.Namespace) -> int:
    """Measure candidate codecs on one field's own vectors and print the table (read-only)."""
    import vecdb
    from vecdb.compression import choose_codec, format_table

    with vecdb.open(args.path, read_only=True) as db:
        col = db[args.collection]
        rows = col.compression_report(
            args.field,
            args.codec or None,
            sample=args.sample,
            k=args.k,
            seed=args.seed,
            recall_target=args.recall_target,
            progress=True,
        )
    print(format_table(rows))
    if args.budget is not None or args.pick_recall is not None:
        best = choose_codec(rows[1:], max_bytes=args.budget, min_recall=args.pick_recall)
        print(f"\npick: {best.codec if best else 'none qualifies'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vecdb", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("demo", help="end-to-end demo on real data: ingest GloVe words, search neighbours")
    p.add_argument("--data", default=DEFAULT_DATA_DIR, help="data directory (default: ./vecdb-data)")
    p.add_argument("--glove", help="folder with train_100k.npy and words.json (default: ../shared/data/...)")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("words", nargs="*", default=["france", "coffee", "music", "football", "rain"])
    p.set_defaults(fn=cmd_demo)

    p = sub.add_parser("info", help="print the collections of a data directory")
    p.add_argument("--data", default=DEFAULT_DATA_DIR)
    p.set_defaults(fn=cmd_info)

    p = sub.add_parser("verify", help="read the whole data directory and check it (in a child process)")
    p.add_argument("--data", default=DEFAULT_DATA_DIR)
    p.set_defaults(fn=cmd_verify)

    p = sub.add_parser("compact", help="reclaim deleted rows of a collection")
    p.add_argument("collection")
    p.add_argument("--data", default=DEFAULT_DATA_DIR)
    p.set_defaults(fn=cmd_compact)

    p = sub.add_parser(
        "compression-report", help="bytes/vector, recall and QPS of compression codecs on a field's own vectors"
    )
    p.add_argument("path", help="data directory")
    p.add_argument("collection")
    p.add_argument("field")
    p.add_argument("--codec", action="append", help="codec to measure, e.g. sign, learned:2, pq:48 (repeatable)")
    p.add_argument("--sample", type=int, default=1000, help="held-out vectors used as queries")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recall-target", type=float, default=0.95, help="oversampling calibrated to reach this")
    p.add_argument("--budget", type=float, help="pick the best codec within this many bytes per vector")
    p.add_argument("--pick-recall", type=float, help="pick the smallest codec reaching this rescored recall")
    p.set_defaults(fn=cmd_compression_report)

    try:
        from vecdb_server.main import add_serve_command
    except ImportError:  # the server package is optional at import time
        add_serve_command = None
    if add_serve_command is not None:
        add_serve_command(sub)

    args = parser.parse_args(argv)
    from .errors import VecDBError

    try:
        return args.fn(args)
    except VecDBError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

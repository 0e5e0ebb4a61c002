"""Query-drift maps on real embeddings: search an index built with one model using queries from another.

SciFact (BEIR): the index is the all-MiniLM-L6-v2 corpus (5,183 docs); queries are the 300 test queries embedded
by paraphrase-MiniLM-L3-v2 (a different model: large drift) or by the int8 ONNX export of L6 (tiny drift). Maps
are fitted on CORPUS pairs only (all 5,183 with the fit's own 10% held-out split, or a seeded sample of 1,000 /
500, as during a migration); the test queries' own pairs are never seen by any fit. L3 maps are also fitted on
the corpus documents plus their titles and sentences (short corpus texts, shaped like queries; drift_queries.py
embeds them with both models and caches them). Quality = nDCG@10 of exact
cosine search (vecdb's fused scan kernel) recomputed here from the qrels.

AG News: 7,600 news texts embedded by L3 and L6. A seeded 1,000 rows are the queries (L3, mapped into L6), the
other 6,600 rows the L6 index; maps are fitted on pairs from the index rows only. Quality = precision@10 of
label matches (share of the 10 nearest rows with the query's class).

Latency: time added to one query (and per query in a batch of 300) by DriftMap.apply for each map kind, 384-d,
median over many calls; the exact scan of the 5,183-doc SciFact corpus is timed beside it for scale.

    python -m benchmarks drift                       # everything (about 15 min on 2 busy cores: the MLP fits)
    python -m benchmarks drift --kinds procrustes ridge ridge:alpha=0 --skip-agnews
"""

from __future__ import annotations

import argparse
import csv
import json
import time

import numpy as np

from vecdb.drift import DriftMapSpec, fit_map
from vecdb.evaluation import ndcg_at_k
from vecdb.kernels.dense import scan_topk

from .common import RESULTS, save
from .datasets import DATA

L6, L6_INT8, L3 = "all-MiniLM-L6-v2", "all-MiniLM-L6-v2-int8onnx", "paraphrase-MiniLM-L3-v2"
DEFAULT_KINDS = ["mean_shift", "procrustes", "ridge", "ridge:alpha=0", "low_rank", "low_rank:rank=192", "mlp", "auto"]
BUDGETS = ["all", 1000, 500]


def parse_kind(text: str) -> DriftMapSpec:
    """'ridge', 'low_rank:rank=192,alpha=0.1' or 'auto:kinds=procrustes+ridge' -> DriftMapSpec (values parsed as
    JSON when they are JSON, '+' separates list items)."""
    kind, _, rest = text.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        k, _, v = item.partition("=")
        if "+" in v:  # a list: auto:kinds=procrustes+ridge
            params[k] = v.split("+")
            continue
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    return DriftMapSpec(kind, params)


def unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def top10(queries: np.ndarray, index_unit: np.ndarray) -> np.ndarray:
    _, rows = scan_topk(unit(queries), [(0, index_unit)], np.ones(len(index_unit), np.uint8), 10, "cosine")
    return rows


# ---------------------------------------------------------------- SciFact


def load_scifact() -> dict:
    d = DATA / "embeddings" / "scifact"
    ids = json.loads((d / "ids.json").read_text())
    qrels: dict[str, dict[str, int]] = {}
    with open(DATA / "beir-scifact" / "qrels" / "test.tsv") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(r["query-id"], {})[r["corpus-id"]] = int(r["score"])
    out = {"doc_ids": ids["doc_ids"], "qrels": [qrels.get(q, {}) for q in ids["query_ids"]]}
    for m in (L6, L6_INT8, L3):
        out[("corpus", m)] = np.load(d / f"corpus_{m}.npy").astype(np.float32)
        out[("queries", m)] = np.load(d / f"queries_{m}.npy").astype(np.float32)
    return out


def scifact_ndcg(sf: dict, queries: np.ndarray, index_unit: np.ndarray) -> float:
    rows = top10(queries, index_unit)
    return ndcg_at_k([[sf["doc_ids"][j] for j in r if j >= 0] for r in rows], sf["qrels"], 10)


def _label(spec: DriftMapSpec) -> str:
    default = DriftMapSpec(spec.kind).params  # name only what differs from the kind's defaults
    p = {k: v for k, v in spec.params.items() if v != default[k]}
    return spec.kind + (f"({', '.join(f'{k}={v}' for k, v in p.items())})" if p and spec.kind != "auto" else "")


def fit_row(spec: DriftMapSpec, src: np.ndarray, dst: np.ndarray, seed: int, progress: bool | None, **kw) -> tuple:
    t0 = time.perf_counter()
    m = fit_map(spec, src, dst, seed=seed, progress=progress, **kw)
    row = {
        "map": spec.kind if spec.kind == "auto" else _label(spec),
        "fitted": m.kind,
        "fitted_spec": m.spec.to_dict(),
        "fit_s": time.perf_counter() - t0,
        "holdout_cosine": m.info.holdout_cosine,
        "holdout_recall_at_10": m.info.holdout_recall_at_10,
        "holdout_neighbour_recall_at_10": m.info.holdout_neighbour_recall_at_10,
    }
    return m, row


def run_scifact(specs: list[DriftMapSpec], budgets: list, seed: int, progress: bool | None) -> dict:
    sf = load_scifact()
    index = unit(sf[("corpus", L6)])
    n = len(index)
    baselines = {
        "L6 queries -> L6 index (same model: ceiling)": scifact_ndcg(sf, sf[("queries", L6)], index),
        "L6-int8 queries -> L6 index, no map": scifact_ndcg(sf, sf[("queries", L6_INT8)], index),
        "L3 queries -> L6 index, no map": scifact_ndcg(sf, sf[("queries", L3)], index),
        "L3 queries -> L3 index (new model re-indexed)": scifact_ndcg(
            sf, sf[("queries", L3)], unit(sf[("corpus", L3)])
        ),
    }
    rows = []
    for source in (L3, L6_INT8):
        for budget in budgets:
            pick = np.arange(n) if budget == "all" else np.sort(np.random.default_rng(seed).choice(n, budget, False))
            for spec in specs:
                m, row = fit_row(spec, sf[("corpus", source)][pick], sf[("corpus", L6)][pick], seed, progress)
                row.update(
                    source=source,
                    pairs=len(pick),
                    pairs_label=f"{len(pick):,} corpus",
                    ndcg_at_10=scifact_ndcg(sf, m.apply(sf[("queries", source)]), index),
                )
                rows.append(row)
                print(f"  scifact {source} pairs={len(pick)} {row['map']}: nDCG@10 {row['ndcg_at_10']:.4f}", flush=True)
    rows += scifact_passage_rows(sf, specs, budgets, seed, progress, index)
    rows += scifact_query_pair_rows(sf, specs, seed, progress, index)
    return {"baselines": baselines, "rows": rows}


def scifact_passage_rows(sf: dict, specs: list[DriftMapSpec], budgets: list, seed: int, progress, index) -> list:
    """L3 -> L6 maps fitted on corpus documents AND their short passages (title, sentences), both models. Still
    corpus pairs only, but shaped like queries: whole-document pairs alone teach the map long texts."""
    from . import drift_queries

    try:
        p3, p6, doc_row = drift_queries.corpus_passage_pairs()
    except (ImportError, FileNotFoundError) as e:
        print(f"  (passage rows skipped: {e})")
        return []
    c3, c6 = sf[("corpus", L3)], sf[("corpus", L6)]
    n = len(c3)
    rows = []
    for budget in budgets:
        pick = np.arange(n) if budget == "all" else np.sort(np.random.default_rng(seed).choice(n, budget, False))
        sub = np.isin(doc_row, pick)
        X, Y = np.vstack([c3[pick], p3[sub]]), np.vstack([c6[pick], p6[sub]])
        label = f"{len(pick):,} corpus docs + their {int(sub.sum()):,} titles and sentences"
        for spec in specs:
            m, row = fit_row(spec, X, Y, seed, progress)
            ndcg = scifact_ndcg(sf, m.apply(sf[("queries", L3)]), index)
            row.update(source=L3, pairs=len(X), pairs_label=label, ndcg_at_10=ndcg)
            rows.append(row)
            print(f"  scifact L3 {label} {row['map']}: nDCG@10 {row['ndcg_at_10']:.4f}", flush=True)
    return rows


def scifact_query_pair_rows(sf: dict, specs: list[DriftMapSpec], seed: int, progress: bool | None, index) -> list:
    """L3 -> L6 maps that also use the 809 NON-test SciFact queries embedded by both models (see drift_queries)."""
    from . import drift_queries

    try:
        q3, q6, qids = drift_queries.train_query_pairs()
    except (ImportError, FileNotFoundError) as e:
        print(f"  (query-pair rows skipped: {e})")
        return []
    test_ids = set(json.loads((DATA / "embeddings" / "scifact" / "ids.json").read_text())["query_ids"])
    if set(qids) & test_ids:
        raise RuntimeError("query pairs overlap the test queries: refusing to fit on the evaluation set")
    c3, c6 = sf[("corpus", L3)], sf[("corpus", L6)]
    nc, nq = len(c3), len(q3)
    # Balanced: the query pairs as a whole weigh as much as the corpus pairs (a rule, not a tuned value).
    balanced = np.concatenate([np.ones(nc), np.full(nq, nc / nq)])
    settings = [
        (f"{nq} queries", q3, q6, {}),
        (f"{nc:,} corpus + {nq} queries", np.vstack([c3, q3]), np.vstack([c6, q6]), {}),
        (
            f"{nc:,} corpus + {nq} queries, balanced weights",
            np.vstack([c3, q3]),
            np.vstack([c6, q6]),
            {"weights": balanced},
        ),
    ]
    rows = []
    for label, X, Y, kw in settings:
        for spec in specs:
            m, row = fit_row(spec, X, Y, seed, progress, **kw)
            row.update(
                source=L3,
                pairs=len(X),
                pairs_label=label,
                ndcg_at_10=scifact_ndcg(sf, m.apply(sf[("queries", L3)]), index),
            )
            rows.append(row)
            print(f"  scifact L3 {label} {row['map']}: nDCG@10 {row['ndcg_at_10']:.4f}", flush=True)
    auto = next((s for s in specs if s.kind == "auto"), None)
    if auto is not None:  # auto fitted on corpus pairs but choosing on held-out QUERY pairs
        m, row = fit_row(auto, c3, c6, seed, progress, val=(q3, q6))
        label = f"{nc:,} corpus, auto chosen on {nq} query pairs"
        row.update(
            source=L3, pairs=nc, pairs_label=label, ndcg_at_10=scifact_ndcg(sf, m.apply(sf[("queries", L3)]), index)
        )
        rows.append(row)
        print(f"  scifact L3 {label}: {m.kind} nDCG@10 {row['ndcg_at_10']:.4f}", flush=True)
    return rows


# ---------------------------------------------------------------- AG News


def run_agnews(specs: list[DriftMapSpec], budgets: list, seed: int, progress: bool | None, n_queries: int = 1000):
    d = DATA / "embeddings" / "ag_news_test"
    e6 = np.load(d / f"emb_{L6}.npy").astype(np.float32)
    e3 = np.load(d / f"emb_{L3}.npy").astype(np.float32)
    label = np.load(d / "label.npy")
    perm = np.random.default_rng(seed).permutation(len(label))
    qi, di = np.sort(perm[:n_queries]), np.sort(perm[n_queries:])
    index6, index3 = unit(e6[di]), unit(e3[di])

    def precision(queries: np.ndarray, index_unit: np.ndarray) -> float:
        rows = top10(queries, index_unit)
        return float(np.mean(label[di][rows] == label[qi][:, None]))

    baselines = {
        "L6 queries -> L6 index (same model)": precision(e6[qi], index6),
        "L3 queries -> L6 index, no map": precision(e3[qi], index6),
        "L3 queries -> L3 index (new model re-indexed)": precision(e3[qi], index3),
    }
    rows = []
    for budget in budgets:
        pick = di if budget == "all" else np.sort(np.random.default_rng(seed).choice(di, budget, False))
        for spec in specs:
            m, row = fit_row(spec, e3[pick], e6[pick], seed, progress)
            row.update(pairs=len(pick), precision_at_10=precision(m.apply(e3[qi]), index6))
            rows.append(row)
            print(f"  ag_news pairs={len(pick)} {row['map']}: P@10 {row['precision_at_10']:.4f}", flush=True)
    return {"baselines": baselines, "rows": rows, "n_queries": len(qi), "n_index": len(di)}


# ---------------------------------------------------------------- latency


def _timing_us(fn, calls: int, repeat: int) -> tuple[float, float]:
    """(best, median) per-call time in microseconds over `repeat` timings of `calls` back-to-back calls: the best
    is the least disturbed by the other jobs on this shared 2-core machine, the median what a busy server sees."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter_ns() - t0) / calls / 1e3)
    return float(np.min(times)), float(np.median(times))


def run_latency(specs: list[DriftMapSpec], seed: int, progress: bool | None) -> list[dict]:
    sf = load_scifact()
    src, dst = sf[("corpus", L3)], sf[("corpus", L6)]
    queries = sf[("queries", L3)]
    index = unit(dst)
    allowed = np.ones(len(index), np.uint8)
    one = queries[:1].copy()
    rows = []
    seen = set()
    for spec in specs:
        if spec.kind == "auto":
            continue  # auto stores one of the other kinds: timed under that kind
        m = fit_map(spec, src, dst, seed=seed, progress=progress, holdout=0)
        label = _label(spec)
        if label in seen:
            continue
        seen.add(label)
        for _ in range(200):  # warm caches and BLAS threads
            m.apply(one)
        single = _timing_us(lambda m=m: m.apply(one), 500, 41)
        batch = _timing_us(lambda m=m: m.apply(queries), 20, 41)
        rows.append(
            {
                "map": label,
                "bytes": m.nbytes(),
                "single_us": single[0],
                "single_median_us": single[1],
                "batch_per_query_us": batch[0] / len(queries),
                "batch_per_query_median_us": batch[1] / len(queries),
            }
        )
    search = _timing_us(lambda: scan_topk(unit(one), [(0, index)], allowed, 10, "cosine"), 100, 21)
    rows.append(
        {
            "map": "(for scale) exact cosine top-10 over the 5,183 x 384 corpus",
            "single_us": search[0],
            "single_median_us": search[1],
        }
    )
    return rows


# ---------------------------------------------------------------- report


def _fmt(v, spec=".3f"):
    return "-" if v is None else format(v, spec)


def tables(res: dict) -> str:
    out = []
    if "scifact" in res:
        sc = res["scifact"]
        out.append("SciFact nDCG@10, 300 test queries, exact cosine search over the L6 corpus\n")
        out.append("| baseline | nDCG@10 |\n|---|---|")
        out += [f"| {k} | {v:.4f} |" for k, v in sc["baselines"].items()]
        out.append("")
        out.append(
            "| query model | fitting pairs | map | nDCG@10 | held-out cos | held-out R@10 | held-out neighbour R@10 "
            "| fit s |\n|---|---|---|---|---|---|---|---|"
        )
        for r in sc["rows"]:
            name = r["map"] + (f" -> {r['fitted']}" if r["map"] == "auto" else "")
            out.append(
                f"| {r['source']} | {r['pairs_label']} | {name} | {r['ndcg_at_10']:.4f} | {_fmt(r['holdout_cosine'])} "
                f"| {_fmt(r['holdout_recall_at_10'])} | {_fmt(r['holdout_neighbour_recall_at_10'])} "
                f"| {r['fit_s']:.1f} |"
            )
        out.append("")
    if "agnews" in res:
        ag = res["agnews"]
        out.append(
            f"AG News label precision@10: {ag['n_queries']:,} L3 queries against {ag['n_index']:,} L6 rows; maps "
            "fitted on index-row pairs\n"
        )
        out.append("| baseline | P@10 |\n|---|---|")
        out += [f"| {k} | {v:.4f} |" for k, v in ag["baselines"].items()]
        out.append("")
        out.append("| pairs | map | P@10 | held-out cos | fit s |\n|---|---|---|---|---|")
        for r in ag["rows"]:
            name = r["map"] + (f" -> {r['fitted']}" if r["map"] == "auto" else "")
            out.append(
                f"| {r['pairs']:,} | {name} | {r['precision_at_10']:.4f} | {_fmt(r['holdout_cosine'])} "
                f"| {r['fit_s']:.1f} |"
            )
        out.append("")
    if "latency" in res:
        out.append("Added query latency of DriftMap.apply, 384-d (L3 -> L6 maps)\n")
        out.append(
            "| map | stored bytes | single query: best / median (us) | per query, batch of 300: best / median (us) |"
            "\n|---|---|---|---|"
        )
        for r in res["latency"]:
            out.append(
                f"| {r['map']} | {r.get('bytes', '-')} | {r['single_us']:.1f} / {r['single_median_us']:.1f} "
                f"| {_fmt(r.get('batch_per_query_us'), '.2f')} / {_fmt(r.get('batch_per_query_median_us'), '.2f')} |"
            )
    return "\n".join(out)


def plot(res: dict, path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = [r for r in res["scifact"]["rows"] if r["source"] == L3]
    maps = list(dict.fromkeys(r["map"] for r in rows))
    groups = list(dict.fromkeys(r["pairs_label"] for r in rows))
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.8 / len(groups)
    for i, g in enumerate(groups):
        vals = [next((r["ndcg_at_10"] for r in rows if r["map"] == m and r["pairs_label"] == g), 0) for m in maps]
        ax.bar(np.arange(len(maps)) + i * width, vals, width, label=f"fitted on {g}")
    for name, v in res["scifact"]["baselines"].items():
        if "ceiling" in name or "L3 queries -> L3" in name:
            ax.axhline(v, ls="--", lw=1, color="grey")
            ax.text(len(maps) - 0.5, v, name, fontsize=7, va="bottom", ha="right")
    ax.set_xticks(np.arange(len(maps)) + 0.4 - width / 2, maps, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("nDCG@10")
    ax.set_title("SciFact: L3 queries mapped into an L6 index")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kinds", nargs="*", default=DEFAULT_KINDS, help="map kinds, e.g. ridge:alpha=0 low_rank:rank=32")
    p.add_argument("--budgets", nargs="*", default=[str(b) for b in BUDGETS], help="'all' or pair counts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-scifact", action="store_true")
    p.add_argument("--skip-agnews", action="store_true")
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--progress", action="store_true", help="show the MLP's progress bars")
    a = p.parse_args(argv)
    specs = [parse_kind(k) for k in a.kinds]
    budgets = [b if b == "all" else int(b) for b in a.budgets]
    progress = True if a.progress else False
    res: dict = {"kinds": a.kinds, "budgets": a.budgets, "seed": a.seed}
    if not a.skip_scifact:
        res["scifact"] = run_scifact(specs, budgets, a.seed, progress)
    if not a.skip_agnews:
        res["agnews"] = run_agnews(specs, budgets, a.seed, progress)
    if not a.skip_latency:
        res["latency"] = run_latency(specs, a.seed, progress)
    params = {
        "seed": a.seed,
        "kinds": len(specs),
        "parts": "+".join(k for k in ("scifact", "agnews", "latency") if k in res),
    }
    path = save("drift", params, res)
    if "scifact" in res:
        plot(res, RESULTS / (path.stem + ".png"))
    print(tables(res))
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()

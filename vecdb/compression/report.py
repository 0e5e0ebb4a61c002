"""compression_report: the measured price of every codec on one collection's vectors, and choose_codec for a
memory budget or a recall target.

For each codec: bytes per vector, recall@k of search on codes alone and after rescoring (oversampling calibrated
for the recall target on the collection's own vectors, then measured on separate held-out queries), queries per
second of both, and fit time. The exact float32 scan is the first row, so the ratios are side by side.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..errors import InvalidArgument
from ..evaluation import recall_at_k
from ..kernels import dense
from ..kernels.rescore import gathered_distances
from ..storage.blocks import block_rows_for
from .base import CompressionSpec, as_unit_if_cosine, check_metric, check_vectors, make_codec, sample_rows
from .rescore import candidates_for, oversampling_for, rescore


@dataclass(frozen=True)
class ReportRow:
    codec: str
    spec: dict[str, Any] | None  # None: the exact float32 baseline
    bytes_per_vector: float
    compression: float  # float32 bytes / code bytes
    recall: float  # recall@k of the code search alone
    recall_rescored: float | None
    oversampling: float | None
    target_reached: bool | None
    qps: float
    qps_rescored: float | None
    fit_seconds: float
    k: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def label(spec: CompressionSpec) -> str:
    """Short name: the kind plus the parameters that differ from their defaults."""
    default = type(spec)()
    changed = [
        f"{f.name}={getattr(spec, f.name)}" for f in fields(spec) if getattr(spec, f.name) != getattr(default, f.name)
    ]
    return f"{spec.kind}({', '.join(changed)})" if changed else spec.kind


_POSITIONAL = {"sign": "bits", "learned_binary": "bits_per_dim", "pq": "m", "int8": "quantile", "matryoshka": "dims"}
_ALIASES = {"learned": ("learned_binary", {}), "opq": ("pq", {"opq": True})}


def _value(text: str, default: object) -> object:
    t = text.strip()
    if isinstance(default, bool):
        if t.lower() in ("1", "true", "yes", "on"):
            return True
        if t.lower() in ("0", "false", "no", "off"):
            return False
        raise InvalidArgument(f"expected a boolean, got {t!r}")
    if t.lower() == "none":
        return None
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t


def parse_spec(text: str) -> CompressionSpec:
    """'kind[:value][,key=value...]' -> spec, e.g. 'sign', 'sign:768,projection=random', 'learned:2',
    'pq:48', 'opq:48', 'int8', 'matryoshka:128'. The bare value sets the kind's main parameter."""
    from .base import _SPECS

    kind, _, rest = text.strip().partition(":")
    kind, preset = _ALIASES.get(kind, (kind, {}))
    cls = _SPECS.get(kind)
    if cls is None:
        raise InvalidArgument(f"unknown compression kind {kind!r}: choose one of {', '.join(sorted(_SPECS))}")
    defaults = {f.name: f.default for f in fields(cls)}
    args: dict[str, object] = dict(preset)
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, val = part.partition("=")
        if not eq:
            key, val = _POSITIONAL[kind], part
        if key not in defaults:
            raise InvalidArgument(f"unknown parameter {key!r} for {kind}: choose from {', '.join(defaults)}")
        args[key] = _value(val, defaults[key])
    if kind == "sign" and args.get("bits") is not None and "projection" not in args:
        args["projection"] = "random"  # more (or fewer) bits than dimensions need a projection
    return cls(**args)


def default_specs(dim: int) -> list[CompressionSpec]:
    """A spread of codecs for a dim-dimensional field."""
    from .learned import LearnedBinary
    from .matryoshka import Matryoshka
    from .pq import ProductQuantization
    from .scalar import ScalarInt8
    from .sign import SignBinary

    m = max(d for d in range(1, dim + 1) if dim % d == 0 and dim // d >= 8) if dim >= 8 else 1
    specs: list[CompressionSpec] = [
        SignBinary(),
        SignBinary(scoring="asymmetric"),
        LearnedBinary(bits_per_dim=2),
        ProductQuantization(m=m),
        ProductQuantization(m=m, opq=True),
        ScalarInt8(),
    ]
    if dim >= 4:
        specs.append(Matryoshka(dims=dim // 2))
    return specs


def _blocks(x: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Row blocks of the size the engine stores (about 1 MiB each)."""
    step = block_rows_for(x.shape[1] * x.dtype.itemsize)
    return [(s, x[s : s + step]) for s in range(0, x.shape[0], step)]


def _timed(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def compression_report(
    vectors: np.ndarray,
    specs: list[CompressionSpec | str] | None,
    metric: str,
    *,
    queries: np.ndarray | None = None,
    k: int = 10,
    sample: int = 500,
    recall_target: float = 0.95,
    seed: int = 0,
    repeat: int = 3,
    progress: bool | None = None,
) -> list[ReportRow]:
    """Fit, encode and measure each codec on `vectors` (the collection's own vectors).

    queries: real queries if you have them (half calibrate the oversampling, half measure); otherwise `sample`
    vectors are held out of the collection and used as queries, and oversampling is calibrated on others.
    Recall is tie-tolerant recall@k against exact search; QPS is a batch of all evaluation queries, best of
    `repeat`, on this machine."""
    metric = check_metric(metric)
    x = as_unit_if_cosine(check_vectors(vectors, None), metric)
    cal_q = None
    if queries is None:
        if x.shape[0] < 4:
            raise InvalidArgument("a report without queries needs at least 4 vectors to hold some out")
        held = sample_rows(x.shape[0], min(sample, x.shape[0] // 4), seed)
        q = x[held]
        x = np.delete(x, held, axis=0)
    else:
        q = as_unit_if_cosine(check_vectors(queries, x.shape[1], "queries"), metric)
        if q.shape[0] >= 2:  # calibrate on one half of the real queries, measure on the other
            order = np.random.default_rng(seed).permutation(q.shape[0])
            cal_q, q = q[np.sort(order[: q.shape[0] // 2])], q[np.sort(order[q.shape[0] // 2 :])]
    k = min(k, x.shape[0])
    allowed = np.ones(x.shape[0], np.uint8)
    float_blocks = _blocks(x)
    t_exact, (true_d, _) = _timed(lambda: dense.scan_topk(q, float_blocks, allowed, k, metric), repeat)
    float_bytes = 4.0 * x.shape[1]
    rows = [ReportRow("float32 (exact)", None, float_bytes, 1.0, 1.0, None, None, None, len(q) / t_exact, None, 0.0, k)]
    for spec in specs if specs is not None else default_specs(x.shape[1]):
        if isinstance(spec, str):
            spec = parse_spec(spec)
        codec = make_codec(spec)
        t0 = time.perf_counter()
        codec.fit(x, metric=metric, seed=seed, progress=progress)
        codes = codec.encode(x)
        fit_s = time.perf_counter() - t0
        code_blocks = _blocks(codes)
        t_scan, (_, crows) = _timed(lambda c=codec, b=code_blocks: c.scan_topk(q, b, allowed, k), repeat)
        recall = recall_at_k(np.sort(gathered_distances(q, x, crows, metric), axis=1), true_d, k)
        cal = oversampling_for(recall_target, codec, x, codes=codes, queries=cal_q, k=k, seed=seed + 1)
        n_cand = min(candidates_for(k, cal.factor), x.shape[0])

        def two_stage(c=codec, b=code_blocks, n=n_cand):
            _, cand = c.scan_topk(q, b, allowed, n)
            return rescore(q, cand, x, metric, k)

        t_two, (rd, _) = _timed(two_stage, repeat)
        rows.append(
            ReportRow(
                codec=label(spec),
                spec=spec.to_dict(),
                bytes_per_vector=codec.bytes_per_vector,
                compression=float_bytes / codec.bytes_per_vector,
                recall=recall,
                recall_rescored=recall_at_k(rd, true_d, k),
                oversampling=cal.factor,
                target_reached=cal.reached,
                qps=len(q) / t_scan,
                qps_rescored=len(q) / t_two,
                fit_seconds=fit_s,
                k=k,
            )
        )
    return rows


def choose_codec(
    rows: list[ReportRow], *, max_bytes: float | None = None, min_recall: float | None = None
) -> ReportRow | None:
    """The codec to use, from measured rows: within max_bytes per vector, the best recall (after rescoring);
    for min_recall, the smallest codes reaching it; with both, the smallest codes meeting both. Ties go to the
    faster one. None when no row qualifies."""
    if max_bytes is None and min_recall is None:
        raise InvalidArgument("give a byte budget per vector, a recall target, or both")

    def rec(r: ReportRow) -> float:
        return r.recall_rescored if r.recall_rescored is not None else r.recall

    def qps(r: ReportRow) -> float:
        return r.qps_rescored if r.qps_rescored is not None else r.qps

    ok = [r for r in rows if (max_bytes is None or r.bytes_per_vector <= max_bytes)]
    ok = [r for r in ok if (min_recall is None or rec(r) >= min_recall)]
    if not ok:
        return None
    if min_recall is not None:
        return min(ok, key=lambda r: (r.bytes_per_vector, -qps(r)))
    return max(ok, key=lambda r: (rec(r), qps(r)))


def format_table(rows: list[ReportRow]) -> str:
    """A markdown table of report rows."""
    k = rows[0].k if rows else 10
    lines = [
        f"| codec | bytes/vector | compression | recall@{k} codes | recall@{k} rescored | oversampling "
        "| QPS codes | QPS rescored | fit s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rr = "-" if r.recall_rescored is None else f"{r.recall_rescored:.3f}"
        missed = "" if r.target_reached else " (target missed)"
        os_ = "-" if r.oversampling is None else f"{r.oversampling:g}x{missed}"
        qr = "-" if r.qps_rescored is None else f"{r.qps_rescored:,.0f}"
        lines.append(
            f"| {r.codec} | {r.bytes_per_vector:g} | {r.compression:.1f}x | {r.recall:.3f} | {rr} | {os_} "
            f"| {r.qps:,.0f} | {qr} | {r.fit_seconds:.1f} |"
        )
    return "\n".join(lines)

"""Compression codecs for vector fields: more vectors per GiB at a measured price in recall.

Each codec has a frozen spec (CompressionSpec subclasses below), fit / encode / decode, scoring on codes
(scan_topk over row blocks, distances of selected rows) and persisted state (dict + numpy arrays). Search on codes
is followed by `rescore` with the full-precision vectors; `oversampling_for` picks how many candidates to rescore
for a recall target, and `compression_report` / `choose_codec` put numbers on every codec for one collection.
"""

from .base import Codec, CompressionSpec, PreparedQueries, codec_from_state, make_codec, spec_kinds
from .learned import LearnedBinary, LearnedBinaryCodec
from .matryoshka import Matryoshka, MatryoshkaCodec
from .pq import PQCodec, ProductQuantization
from .report import ReportRow, choose_codec, compression_report, format_table, parse_spec
from .rescore import OversamplingCalibration, oversampling_for, rescore, two_stage_search
from .scalar import Int8Codec, ScalarInt8
from .sign import SignBinary, SignCodec

__all__ = [
    "Codec",
    "CompressionSpec",
    "Int8Codec",
    "LearnedBinary",
    "LearnedBinaryCodec",
    "Matryoshka",
    "MatryoshkaCodec",
    "OversamplingCalibration",
    "PQCodec",
    "PreparedQueries",
    "ProductQuantization",
    "ReportRow",
    "ScalarInt8",
    "SignBinary",
    "SignCodec",
    "choose_codec",
    "codec_from_state",
    "compression_report",
    "format_table",
    "make_codec",
    "oversampling_for",
    "parse_spec",
    "rescore",
    "spec_kinds",
    "two_stage_search",
]

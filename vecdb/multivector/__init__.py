"""Multi-vector documents: token storage (plain or compressed), MUVERA fixed dimensional encodings, query-token
reduction, and FDE-candidates -> exact-MaxSim search. A library the engine wires into MultiVector fields."""

from .codecs import TokenCodec, TokenCompression
from .fde import FDEParams, encode_documents, encode_queries
from .reduce import ball_carve
from .search import Calibration, MultiVectorIndex, MultiVectorSearchParams
from .tokens import TokenStore, as_token_sets

__all__ = [
    "Calibration",
    "FDEParams",
    "MultiVectorIndex",
    "MultiVectorSearchParams",
    "TokenCodec",
    "TokenCompression",
    "TokenStore",
    "as_token_sets",
    "ball_carve",
    "encode_documents",
    "encode_queries",
]

"""Query-drift compensation: map queries embedded by a new model version into the space of the index's version.

    from vecdb.drift import fit_map, DriftMap
    m = fit_map("procrustes", new_vectors, old_vectors)      # paired embeddings of the same texts
    meta, arrays = m.state()                                  # what the engine stores (LMDB)
    m = DriftMap.from_state(meta, arrays)
    index_space_queries = m.apply(new_model_queries)          # then normalise (cosine) and search

See maps.py (what a map is), fit.py (fitting + held-out evaluation), migration.py (serving through a map while
the corpus is re-embedded, then flipping versions).
"""

from .fit import evaluate, fit_map
from .maps import FITTED_KINDS, KINDS, SAME_DIM_KINDS, DriftMap, DriftMapSpec, FitInfo
from .migration import MigrationProgress, PairReservoir, reembed, resolve_map

__all__ = [
    "FITTED_KINDS",
    "KINDS",
    "SAME_DIM_KINDS",
    "DriftMap",
    "DriftMapSpec",
    "FitInfo",
    "MigrationProgress",
    "PairReservoir",
    "evaluate",
    "fit_map",
    "reembed",
    "resolve_map",
]

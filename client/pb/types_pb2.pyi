from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    FLOAT32: _ClassVar[DType]
    UINT8: _ClassVar[DType]
    UINT64: _ClassVar[DType]
    INT8: _ClassVar[DType]
    FLOAT16: _ClassVar[DType]
    FLOAT64: _ClassVar[DType]
DTYPE_UNSPECIFIED: DType
FLOAT32: DType
UINT8: DType
UINT64: DType
INT8: DType
FLOAT16: DType
FLOAT64: DType

class Tensor(_message.Message):
    __slots__ = ("dtype", "shape", "data")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dtype: DType
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    def __init__(self, dtype: _Optional[_Union[DType, str]] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ...) -> None: ...

class RaggedTensor(_message.Message):
    __slots__ = ("values", "lengths")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    LENGTHS_FIELD_NUMBER: _ClassVar[int]
    values: Tensor
    lengths: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Union[Tensor, _Mapping]] = ..., lengths: _Optional[_Iterable[int]] = ...) -> None: ...

class PointId(_message.Message):
    __slots__ = ("num", "str")
    NUM_FIELD_NUMBER: _ClassVar[int]
    STR_FIELD_NUMBER: _ClassVar[int]
    num: int
    str: str
    def __init__(self, num: _Optional[int] = ..., str: _Optional[str] = ...) -> None: ...

class PointIds(_message.Message):
    __slots__ = ("uint64_le", "ids")
    UINT64_LE_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    uint64_le: bytes
    ids: _containers.RepeatedCompositeFieldContainer[PointId]
    def __init__(self, uint64_le: _Optional[bytes] = ..., ids: _Optional[_Iterable[_Union[PointId, _Mapping]]] = ...) -> None: ...

class HNSWParams(_message.Message):
    __slots__ = ("m", "ef_construction", "ef_search", "index_threshold", "seed")
    M_FIELD_NUMBER: _ClassVar[int]
    EF_CONSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    INDEX_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    m: int
    ef_construction: int
    ef_search: int
    index_threshold: int
    seed: int
    def __init__(self, m: _Optional[int] = ..., ef_construction: _Optional[int] = ..., ef_search: _Optional[int] = ..., index_threshold: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class NoIndex(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class IndexParams(_message.Message):
    __slots__ = ("hnsw", "none")
    HNSW_FIELD_NUMBER: _ClassVar[int]
    NONE_FIELD_NUMBER: _ClassVar[int]
    hnsw: HNSWParams
    none: NoIndex
    def __init__(self, hnsw: _Optional[_Union[HNSWParams, _Mapping]] = ..., none: _Optional[_Union[NoIndex, _Mapping]] = ...) -> None: ...

class CompressionSpec(_message.Message):
    __slots__ = ("kind", "params_json")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    kind: str
    params_json: bytes
    def __init__(self, kind: _Optional[str] = ..., params_json: _Optional[bytes] = ...) -> None: ...

class DenseField(_message.Message):
    __slots__ = ("dim", "metric", "index")
    DIM_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    dim: int
    metric: str
    index: IndexParams
    def __init__(self, dim: _Optional[int] = ..., metric: _Optional[str] = ..., index: _Optional[_Union[IndexParams, _Mapping]] = ...) -> None: ...

class TokenCompression(_message.Message):
    __slots__ = ("kind", "nbits", "n_centroids", "train_tokens", "kmeans_iters", "seed")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NBITS_FIELD_NUMBER: _ClassVar[int]
    N_CENTROIDS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_TOKENS_FIELD_NUMBER: _ClassVar[int]
    KMEANS_ITERS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    kind: str
    nbits: int
    n_centroids: int
    train_tokens: int
    kmeans_iters: int
    seed: int
    def __init__(self, kind: _Optional[str] = ..., nbits: _Optional[int] = ..., n_centroids: _Optional[int] = ..., train_tokens: _Optional[int] = ..., kmeans_iters: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class FDEParams(_message.Message):
    __slots__ = ("k_sim", "reps", "d_proj", "no_d_proj", "final_dim", "fill_empty", "projection", "seed")
    K_SIM_FIELD_NUMBER: _ClassVar[int]
    REPS_FIELD_NUMBER: _ClassVar[int]
    D_PROJ_FIELD_NUMBER: _ClassVar[int]
    NO_D_PROJ_FIELD_NUMBER: _ClassVar[int]
    FINAL_DIM_FIELD_NUMBER: _ClassVar[int]
    FILL_EMPTY_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    k_sim: int
    reps: int
    d_proj: int
    no_d_proj: bool
    final_dim: int
    fill_empty: bool
    projection: str
    seed: int
    def __init__(self, k_sim: _Optional[int] = ..., reps: _Optional[int] = ..., d_proj: _Optional[int] = ..., no_d_proj: _Optional[bool] = ..., final_dim: _Optional[int] = ..., fill_empty: _Optional[bool] = ..., projection: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class MultiVectorField(_message.Message):
    __slots__ = ("dim", "metric", "normalize", "compression", "fde", "index")
    DIM_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    NORMALIZE_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    FDE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    dim: int
    metric: str
    normalize: bool
    compression: TokenCompression
    fde: FDEParams
    index: IndexParams
    def __init__(self, dim: _Optional[int] = ..., metric: _Optional[str] = ..., normalize: _Optional[bool] = ..., compression: _Optional[_Union[TokenCompression, _Mapping]] = ..., fde: _Optional[_Union[FDEParams, _Mapping]] = ..., index: _Optional[_Union[IndexParams, _Mapping]] = ...) -> None: ...

class BinaryField(_message.Message):
    __slots__ = ("bits", "metric")
    BITS_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    bits: int
    metric: str
    def __init__(self, bits: _Optional[int] = ..., metric: _Optional[str] = ...) -> None: ...

class VectorField(_message.Message):
    __slots__ = ("dense", "multi_vector", "binary", "compression")
    DENSE_FIELD_NUMBER: _ClassVar[int]
    MULTI_VECTOR_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    dense: DenseField
    multi_vector: MultiVectorField
    binary: BinaryField
    compression: CompressionSpec
    def __init__(self, dense: _Optional[_Union[DenseField, _Mapping]] = ..., multi_vector: _Optional[_Union[MultiVectorField, _Mapping]] = ..., binary: _Optional[_Union[BinaryField, _Mapping]] = ..., compression: _Optional[_Union[CompressionSpec, _Mapping]] = ...) -> None: ...

class NamedVectorField(_message.Message):
    __slots__ = ("name", "field")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    name: str
    field: VectorField
    def __init__(self, name: _Optional[str] = ..., field: _Optional[_Union[VectorField, _Mapping]] = ...) -> None: ...

class PayloadField(_message.Message):
    __slots__ = ("name", "type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ...) -> None: ...

class CollectionSchema(_message.Message):
    __slots__ = ("vectors", "payload")
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    vectors: _containers.RepeatedCompositeFieldContainer[NamedVectorField]
    payload: _containers.RepeatedCompositeFieldContainer[PayloadField]
    def __init__(self, vectors: _Optional[_Iterable[_Union[NamedVectorField, _Mapping]]] = ..., payload: _Optional[_Iterable[_Union[PayloadField, _Mapping]]] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("string_value", "int_value", "float_value", "bool_value", "datetime_micros", "big_int", "json")
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    FLOAT_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    DATETIME_MICROS_FIELD_NUMBER: _ClassVar[int]
    BIG_INT_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    string_value: str
    int_value: int
    float_value: float
    bool_value: bool
    datetime_micros: int
    big_int: str
    json: bytes
    def __init__(self, string_value: _Optional[str] = ..., int_value: _Optional[int] = ..., float_value: _Optional[float] = ..., bool_value: _Optional[bool] = ..., datetime_micros: _Optional[int] = ..., big_int: _Optional[str] = ..., json: _Optional[bytes] = ...) -> None: ...

class FieldValue(_message.Message):
    __slots__ = ("field", "value")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    field: str
    value: Value
    def __init__(self, field: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class FieldValues(_message.Message):
    __slots__ = ("field", "values")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    field: str
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, field: _Optional[str] = ..., values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class FieldRef(_message.Message):
    __slots__ = ("field",)
    FIELD_FIELD_NUMBER: _ClassVar[int]
    field: str
    def __init__(self, field: _Optional[str] = ...) -> None: ...

class RangeFilter(_message.Message):
    __slots__ = ("field", "gt", "gte", "lt", "lte")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    GT_FIELD_NUMBER: _ClassVar[int]
    GTE_FIELD_NUMBER: _ClassVar[int]
    LT_FIELD_NUMBER: _ClassVar[int]
    LTE_FIELD_NUMBER: _ClassVar[int]
    field: str
    gt: Value
    gte: Value
    lt: Value
    lte: Value
    def __init__(self, field: _Optional[str] = ..., gt: _Optional[_Union[Value, _Mapping]] = ..., gte: _Optional[_Union[Value, _Mapping]] = ..., lt: _Optional[_Union[Value, _Mapping]] = ..., lte: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class FilterList(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedCompositeFieldContainer[Filter]
    def __init__(self, filters: _Optional[_Iterable[_Union[Filter, _Mapping]]] = ...) -> None: ...

class Filter(_message.Message):
    __slots__ = ("eq", "ne", "is_in", "not_in", "range", "contains_any", "contains_all", "exists", "all_of", "any_of", "not_filter")
    EQ_FIELD_NUMBER: _ClassVar[int]
    NE_FIELD_NUMBER: _ClassVar[int]
    IS_IN_FIELD_NUMBER: _ClassVar[int]
    NOT_IN_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    CONTAINS_ANY_FIELD_NUMBER: _ClassVar[int]
    CONTAINS_ALL_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    ALL_OF_FIELD_NUMBER: _ClassVar[int]
    ANY_OF_FIELD_NUMBER: _ClassVar[int]
    NOT_FILTER_FIELD_NUMBER: _ClassVar[int]
    eq: FieldValue
    ne: FieldValue
    is_in: FieldValues
    not_in: FieldValues
    range: RangeFilter
    contains_any: FieldValues
    contains_all: FieldValues
    exists: FieldRef
    all_of: FilterList
    any_of: FilterList
    not_filter: Filter
    def __init__(self, eq: _Optional[_Union[FieldValue, _Mapping]] = ..., ne: _Optional[_Union[FieldValue, _Mapping]] = ..., is_in: _Optional[_Union[FieldValues, _Mapping]] = ..., not_in: _Optional[_Union[FieldValues, _Mapping]] = ..., range: _Optional[_Union[RangeFilter, _Mapping]] = ..., contains_any: _Optional[_Union[FieldValues, _Mapping]] = ..., contains_all: _Optional[_Union[FieldValues, _Mapping]] = ..., exists: _Optional[_Union[FieldRef, _Mapping]] = ..., all_of: _Optional[_Union[FilterList, _Mapping]] = ..., any_of: _Optional[_Union[FilterList, _Mapping]] = ..., not_filter: _Optional[_Union[Filter, _Mapping]] = ...) -> None: ...

class SearchParams(_message.Message):
    __slots__ = ("ef", "exact", "candidates", "recall_target", "reduce_tau", "rescore", "oversample", "use_codes")
    EF_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    RECALL_TARGET_FIELD_NUMBER: _ClassVar[int]
    REDUCE_TAU_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    OVERSAMPLE_FIELD_NUMBER: _ClassVar[int]
    USE_CODES_FIELD_NUMBER: _ClassVar[int]
    ef: int
    exact: bool
    candidates: int
    recall_target: float
    reduce_tau: float
    rescore: bool
    oversample: float
    use_codes: bool
    def __init__(self, ef: _Optional[int] = ..., exact: _Optional[bool] = ..., candidates: _Optional[int] = ..., recall_target: _Optional[float] = ..., reduce_tau: _Optional[float] = ..., rescore: _Optional[bool] = ..., oversample: _Optional[float] = ..., use_codes: _Optional[bool] = ...) -> None: ...

from . import collections_pb2 as _collections_pb2
from . import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SetModelVersionRequest(_message.Message):
    __slots__ = ("collection", "field", "version")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    version: str
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class SetModelVersionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelVersionsRequest(_message.Message):
    __slots__ = ("collection", "field")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ...) -> None: ...

class QueryMapInfo(_message.Message):
    __slots__ = ("version", "kind", "d_src", "d_dst", "fit_json")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    D_SRC_FIELD_NUMBER: _ClassVar[int]
    D_DST_FIELD_NUMBER: _ClassVar[int]
    FIT_JSON_FIELD_NUMBER: _ClassVar[int]
    version: str
    kind: str
    d_src: int
    d_dst: int
    fit_json: bytes
    def __init__(self, version: _Optional[str] = ..., kind: _Optional[str] = ..., d_src: _Optional[int] = ..., d_dst: _Optional[int] = ..., fit_json: _Optional[bytes] = ...) -> None: ...

class ModelVersionsResponse(_message.Message):
    __slots__ = ("index_version", "maps")
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAPS_FIELD_NUMBER: _ClassVar[int]
    index_version: str
    maps: _containers.RepeatedCompositeFieldContainer[QueryMapInfo]
    def __init__(self, index_version: _Optional[str] = ..., maps: _Optional[_Iterable[_Union[QueryMapInfo, _Mapping]]] = ...) -> None: ...

class PairRows(_message.Message):
    __slots__ = ("src", "dst", "weights")
    SRC_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    src: _types_pb2.Tensor
    dst: _types_pb2.Tensor
    weights: _types_pb2.Tensor
    def __init__(self, src: _Optional[_Union[_types_pb2.Tensor, _Mapping]] = ..., dst: _Optional[_Union[_types_pb2.Tensor, _Mapping]] = ..., weights: _Optional[_Union[_types_pb2.Tensor, _Mapping]] = ...) -> None: ...

class FitQueryMapRequest(_message.Message):
    __slots__ = ("collection", "field", "version", "kind", "args_json", "pairs", "val")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    VAL_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    version: str
    kind: str
    args_json: bytes
    pairs: PairRows
    val: PairRows
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., version: _Optional[str] = ..., kind: _Optional[str] = ..., args_json: _Optional[bytes] = ..., pairs: _Optional[_Union[PairRows, _Mapping]] = ..., val: _Optional[_Union[PairRows, _Mapping]] = ...) -> None: ...

class DropQueryMapRequest(_message.Message):
    __slots__ = ("collection", "field", "version")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    version: str
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class DropQueryMapResponse(_message.Message):
    __slots__ = ("dropped",)
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dropped: bool
    def __init__(self, dropped: _Optional[bool] = ...) -> None: ...

class TrainCompressionRequest(_message.Message):
    __slots__ = ("collection", "field", "sample", "seed", "queries")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    sample: int
    seed: int
    queries: _types_pb2.Tensor
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., sample: _Optional[int] = ..., seed: _Optional[int] = ..., queries: _Optional[_Union[_types_pb2.Tensor, _Mapping]] = ...) -> None: ...

class SetCompressionRequest(_message.Message):
    __slots__ = ("collection", "field", "spec")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    spec: _types_pb2.CompressionSpec
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., spec: _Optional[_Union[_types_pb2.CompressionSpec, _Mapping]] = ...) -> None: ...

class CompressionReportRequest(_message.Message):
    __slots__ = ("collection", "field", "codecs", "sample", "k", "recall_target", "seed")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    CODECS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    RECALL_TARGET_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    codecs: _containers.RepeatedCompositeFieldContainer[_types_pb2.CompressionSpec]
    sample: int
    k: int
    recall_target: float
    seed: int
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., codecs: _Optional[_Iterable[_Union[_types_pb2.CompressionSpec, _Mapping]]] = ..., sample: _Optional[int] = ..., k: _Optional[int] = ..., recall_target: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class CompressionReportRow(_message.Message):
    __slots__ = ("codec", "spec", "bytes_per_vector", "compression", "recall", "recall_rescored", "oversampling", "target_reached", "qps", "qps_rescored", "fit_seconds", "k")
    CODEC_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_VECTOR_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    RECALL_FIELD_NUMBER: _ClassVar[int]
    RECALL_RESCORED_FIELD_NUMBER: _ClassVar[int]
    OVERSAMPLING_FIELD_NUMBER: _ClassVar[int]
    TARGET_REACHED_FIELD_NUMBER: _ClassVar[int]
    QPS_FIELD_NUMBER: _ClassVar[int]
    QPS_RESCORED_FIELD_NUMBER: _ClassVar[int]
    FIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    codec: str
    spec: _types_pb2.CompressionSpec
    bytes_per_vector: float
    compression: float
    recall: float
    recall_rescored: float
    oversampling: float
    target_reached: bool
    qps: float
    qps_rescored: float
    fit_seconds: float
    k: int
    def __init__(self, codec: _Optional[str] = ..., spec: _Optional[_Union[_types_pb2.CompressionSpec, _Mapping]] = ..., bytes_per_vector: _Optional[float] = ..., compression: _Optional[float] = ..., recall: _Optional[float] = ..., recall_rescored: _Optional[float] = ..., oversampling: _Optional[float] = ..., target_reached: _Optional[bool] = ..., qps: _Optional[float] = ..., qps_rescored: _Optional[float] = ..., fit_seconds: _Optional[float] = ..., k: _Optional[int] = ...) -> None: ...

class CompressionReportResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[CompressionReportRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[CompressionReportRow, _Mapping]]] = ...) -> None: ...

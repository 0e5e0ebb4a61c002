from . import collections_pb2 as _collections_pb2
from . import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SetCompressionRequest(_message.Message):
    __slots__ = ("collection", "field", "spec", "seed")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    spec: _types_pb2.CompressionSpec
    seed: int
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., spec: _Optional[_Union[_types_pb2.CompressionSpec, _Mapping]] = ..., seed: _Optional[int] = ...) -> None: ...

class CompressionReportRequest(_message.Message):
    __slots__ = ("collection", "field", "candidates", "sample", "k")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    candidates: _containers.RepeatedCompositeFieldContainer[_types_pb2.CompressionSpec]
    sample: int
    k: int
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., candidates: _Optional[_Iterable[_Union[_types_pb2.CompressionSpec, _Mapping]]] = ..., sample: _Optional[int] = ..., k: _Optional[int] = ...) -> None: ...

class DriftMapSpec(_message.Message):
    __slots__ = ("kind", "params_json")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    kind: str
    params_json: bytes
    def __init__(self, kind: _Optional[str] = ..., params_json: _Optional[bytes] = ...) -> None: ...

class RegisterModelVersionRequest(_message.Message):
    __slots__ = ("collection", "field", "version", "dim", "is_index_version")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    IS_INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    version: str
    dim: int
    is_index_version: bool
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., version: _Optional[str] = ..., dim: _Optional[int] = ..., is_index_version: _Optional[bool] = ...) -> None: ...

class FitQueryMapRequest(_message.Message):
    __slots__ = ("collection", "field", "source_version", "target_version", "spec", "source", "target", "holdout", "seed")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    SOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGET_VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    source_version: str
    target_version: str
    spec: DriftMapSpec
    source: _types_pb2.Tensor
    target: _types_pb2.Tensor
    holdout: float
    seed: int
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., source_version: _Optional[str] = ..., target_version: _Optional[str] = ..., spec: _Optional[_Union[DriftMapSpec, _Mapping]] = ..., source: _Optional[_Union[_types_pb2.Tensor, _Mapping]] = ..., target: _Optional[_Union[_types_pb2.Tensor, _Mapping]] = ..., holdout: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class ListModelVersionsRequest(_message.Message):
    __slots__ = ("collection", "field")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ...) -> None: ...

class DeleteModelVersionRequest(_message.Message):
    __slots__ = ("collection", "field", "version")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    version: str
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class SetActiveVersionRequest(_message.Message):
    __slots__ = ("collection", "field", "version")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    version: str
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

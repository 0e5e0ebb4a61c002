from . import collections_pb2 as _collections_pb2
from . import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FieldVectors(_message.Message):
    __slots__ = ("field", "dense", "ragged")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DENSE_FIELD_NUMBER: _ClassVar[int]
    RAGGED_FIELD_NUMBER: _ClassVar[int]
    field: str
    dense: _types_pb2.Tensor
    ragged: _types_pb2.RaggedTensor
    def __init__(self, field: _Optional[str] = ..., dense: _Optional[_Union[_types_pb2.Tensor, _Mapping]] = ..., ragged: _Optional[_Union[_types_pb2.RaggedTensor, _Mapping]] = ...) -> None: ...

class UpsertRequest(_message.Message):
    __slots__ = ("collection", "ids", "vectors", "payloads", "atomic")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    ATOMIC_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    ids: _types_pb2.PointIds
    vectors: _containers.RepeatedCompositeFieldContainer[FieldVectors]
    payloads: _containers.RepeatedScalarFieldContainer[bytes]
    atomic: bool
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., ids: _Optional[_Union[_types_pb2.PointIds, _Mapping]] = ..., vectors: _Optional[_Iterable[_Union[FieldVectors, _Mapping]]] = ..., payloads: _Optional[_Iterable[bytes]] = ..., atomic: _Optional[bool] = ...) -> None: ...

class UpsertResponse(_message.Message):
    __slots__ = ("upserted",)
    UPSERTED_FIELD_NUMBER: _ClassVar[int]
    upserted: int
    def __init__(self, upserted: _Optional[int] = ...) -> None: ...

class GetPointsRequest(_message.Message):
    __slots__ = ("collection", "ids", "with_payload", "with_vectors")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    WITH_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    ids: _types_pb2.PointIds
    with_payload: bool
    with_vectors: bool
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., ids: _Optional[_Union[_types_pb2.PointIds, _Mapping]] = ..., with_payload: _Optional[bool] = ..., with_vectors: _Optional[bool] = ...) -> None: ...

class PointsResponse(_message.Message):
    __slots__ = ("ids", "with_payload", "payloads", "with_vectors", "vectors")
    IDS_FIELD_NUMBER: _ClassVar[int]
    WITH_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    ids: _types_pb2.PointIds
    with_payload: bool
    payloads: _containers.RepeatedScalarFieldContainer[bytes]
    with_vectors: bool
    vectors: _containers.RepeatedCompositeFieldContainer[FieldVectors]
    def __init__(self, ids: _Optional[_Union[_types_pb2.PointIds, _Mapping]] = ..., with_payload: _Optional[bool] = ..., payloads: _Optional[_Iterable[bytes]] = ..., with_vectors: _Optional[bool] = ..., vectors: _Optional[_Iterable[_Union[FieldVectors, _Mapping]]] = ...) -> None: ...

class DeletePointsRequest(_message.Message):
    __slots__ = ("collection", "ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    ids: _types_pb2.PointIds
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., ids: _Optional[_Union[_types_pb2.PointIds, _Mapping]] = ...) -> None: ...

class DeletePointsResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class ScrollRequest(_message.Message):
    __slots__ = ("collection", "limit", "offset", "with_payload", "with_vectors")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    WITH_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    limit: int
    offset: _types_pb2.PointId
    with_payload: bool
    with_vectors: bool
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., limit: _Optional[int] = ..., offset: _Optional[_Union[_types_pb2.PointId, _Mapping]] = ..., with_payload: _Optional[bool] = ..., with_vectors: _Optional[bool] = ...) -> None: ...

class ScrollResponse(_message.Message):
    __slots__ = ("points", "next_offset")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    points: PointsResponse
    next_offset: _types_pb2.PointId
    def __init__(self, points: _Optional[_Union[PointsResponse, _Mapping]] = ..., next_offset: _Optional[_Union[_types_pb2.PointId, _Mapping]] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

from . import collections_pb2 as _collections_pb2
from . import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchRequest(_message.Message):
    __slots__ = ("collection", "field", "dense", "multi", "k", "with_payload", "filter", "params", "model_version", "multi_single")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DENSE_FIELD_NUMBER: _ClassVar[int]
    MULTI_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    WITH_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    MULTI_SINGLE_FIELD_NUMBER: _ClassVar[int]
    collection: _collections_pb2.CollectionRef
    field: str
    dense: _types_pb2.Tensor
    multi: _types_pb2.RaggedTensor
    k: int
    with_payload: bool
    filter: _types_pb2.Filter
    params: _types_pb2.SearchParams
    model_version: str
    multi_single: bool
    def __init__(self, collection: _Optional[_Union[_collections_pb2.CollectionRef, _Mapping]] = ..., field: _Optional[str] = ..., dense: _Optional[_Union[_types_pb2.Tensor, _Mapping]] = ..., multi: _Optional[_Union[_types_pb2.RaggedTensor, _Mapping]] = ..., k: _Optional[int] = ..., with_payload: _Optional[bool] = ..., filter: _Optional[_Union[_types_pb2.Filter, _Mapping]] = ..., params: _Optional[_Union[_types_pb2.SearchParams, _Mapping]] = ..., model_version: _Optional[str] = ..., multi_single: _Optional[bool] = ...) -> None: ...

class QueryResult(_message.Message):
    __slots__ = ("ids", "scores", "payloads", "explain")
    IDS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    ids: _types_pb2.PointIds
    scores: _types_pb2.Tensor
    payloads: _containers.RepeatedScalarFieldContainer[bytes]
    explain: bytes
    def __init__(self, ids: _Optional[_Union[_types_pb2.PointIds, _Mapping]] = ..., scores: _Optional[_Union[_types_pb2.Tensor, _Mapping]] = ..., payloads: _Optional[_Iterable[bytes]] = ..., explain: _Optional[bytes] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("results", "single")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SINGLE_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[QueryResult]
    single: bool
    def __init__(self, results: _Optional[_Iterable[_Union[QueryResult, _Mapping]]] = ..., single: _Optional[bool] = ...) -> None: ...

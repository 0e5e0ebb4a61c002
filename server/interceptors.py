"""Server interceptors: token authentication, and the mapping of every engine error to a gRPC status.

The error interceptor is the one place where exceptions become statuses: a vecdb.errors class gives its own
`grpc_code`, and its class name travels in the trailing metadata key `vecdb-error-class`, so the client rebuilds
the same class (vecdb.errors.error_for). Anything else is a bug: logged with its traceback, answered INTERNAL.
A request that does not parse (random bytes, a message nested deeper than protobuf's recursion limit, invalid
UTF-8 in a string) is the caller's fault: INVALID_ARGUMENT, where grpc alone would answer INTERNAL.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterable

import grpc

from vecdb.errors import DeadlineExceeded, InvalidArgument, Unauthenticated, Unimplemented, VecDBError

ERROR_CLASS_KEY = "vecdb-error-class"
log = logging.getLogger("vecdb_server")

# Servicers raise vecdb.errors.Unimplemented for a call the engine behind this server cannot do (yet): a VecDBError
# like any other, so it travels as UNIMPLEMENTED with its class name and the client raises the same class.
__all__ = ["ErrorInterceptor", "TokenAuthInterceptor", "Unimplemented", "abort_with"]


def _status_of(e: BaseException) -> tuple[grpc.StatusCode, str, str | None]:
    if isinstance(e, VecDBError):
        return grpc.StatusCode[e.grpc_code], str(e), type(e).__name__
    return grpc.StatusCode.INTERNAL, f"internal error ({type(e).__name__}: {e})", None


def abort_with(context: grpc.ServicerContext, e: BaseException) -> None:
    code, message, cls = _status_of(e)
    if cls is not None:
        context.set_trailing_metadata(((ERROR_CLASS_KEY, cls),))
    context.abort(code, message)


class MalformedRequest:
    """Stands in for a request message that failed to parse (grpc answers INTERNAL when a deserializer raises,
    before any interceptor code runs; a value that is not None reaches the guarded behaviour instead)."""

    __slots__ = ("error",)

    def __init__(self, error: InvalidArgument) -> None:
        self.error = error


def _lenient(deserializer: Callable | None) -> Callable | None:
    if deserializer is None:
        return None
    cls = getattr(deserializer, "__self__", None)
    name = getattr(getattr(cls, "DESCRIPTOR", None), "full_name", "the request message")

    def parse(raw: bytes):
        try:
            return deserializer(raw)
        except Exception as e:  # noqa: BLE001 - whatever the parser raises, the bytes were bad
            return MalformedRequest(
                InvalidArgument(
                    f"malformed request: the bytes do not parse as {name} ({type(e).__name__}); "
                    "protobuf also refuses messages nested more than 100 levels deep"
                )
            )

    return parse


def _well_formed(request):
    if isinstance(request, MalformedRequest):
        raise request.error
    return request


def _well_formed_stream(requests: Iterable) -> Iterable:
    for request in requests:
        yield _well_formed(request)


def _wrap_handler(
    handler: grpc.RpcMethodHandler, wrap: Callable, deserializer: Callable | None = None
) -> grpc.RpcMethodHandler:
    """The same handler with its behaviour function replaced by wrap(behaviour, streaming_response), and its
    request deserializer by `deserializer` when one is given."""
    kinds = (
        ("unary_unary", grpc.unary_unary_rpc_method_handler, False),
        ("unary_stream", grpc.unary_stream_rpc_method_handler, True),
        ("stream_unary", grpc.stream_unary_rpc_method_handler, False),
        ("stream_stream", grpc.stream_stream_rpc_method_handler, True),
    )
    for attr, make, streaming in kinds:
        fn = getattr(handler, attr)
        if fn is not None:
            return make(
                wrap(fn, streaming),
                request_deserializer=deserializer or handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    return handler  # pragma: no cover - grpc always sets one


def _check_deadline(context: grpc.ServicerContext) -> None:
    left = context.time_remaining()
    if left is not None and left <= 0:
        raise DeadlineExceeded("the call's deadline passed before the server could start it")


class ErrorInterceptor(grpc.ServerInterceptor):
    """Maps exceptions to statuses, refuses calls whose deadline already passed, and logs each call.
    Wrapped handlers are built once per (method, handler) and reused: this runs on the server's dispatch thread."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        key = (handler_call_details.method, id(handler))
        hit = self._cache.get(key)
        if hit is not None and hit[0] is handler:
            return hit[1]
        wrapped = self._wrap(handler, handler_call_details.method)
        if len(self._cache) > 4096:  # handlers made per call by an outer interceptor: keep the cache bounded
            self._cache.clear()
        self._cache[key] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        request_streaming = handler.request_streaming
        check = _well_formed_stream if request_streaming else _well_formed

        def wrap(fn: Callable, streaming: bool) -> Callable:
            if streaming:

                def guarded_stream(request, context) -> Iterable:
                    t0 = time.perf_counter()
                    try:
                        _check_deadline(context)
                        yield from fn(check(request), context)
                    except Exception as e:  # noqa: BLE001 - every error must become a status
                        _log(method, t0, e)
                        abort_with(context, e)
                    else:
                        _log(method, t0, None)

                return guarded_stream

            def guarded(request, context):
                t0 = time.perf_counter()
                try:
                    _check_deadline(context)
                    out = fn(check(request), context)
                except Exception as e:  # noqa: BLE001 - every error must become a status
                    _log(method, t0, e)
                    abort_with(context, e)
                    return None  # unreachable: abort raises
                _log(method, t0, None)
                return out

            return guarded

        return _wrap_handler(handler, wrap, _lenient(handler.request_deserializer))


def _log(method: str, t0: float, e: BaseException | None) -> None:
    ms = (time.perf_counter() - t0) * 1e3
    if e is None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s OK %.2f ms", method, ms)
    elif isinstance(e, VecDBError):
        log.info("%s %s %.2f ms: %s", method, _status_of(e)[0].name, ms, e)
    else:
        log.error("%s INTERNAL %.2f ms", method, ms, exc_info=e)


class TokenAuthInterceptor(grpc.ServerInterceptor):
    """Requires `authorization: Bearer <token>` metadata (compared in constant time). Health checks are exempt so
    load balancers and orchestrators can probe the server without the secret. A refused call's request bytes are
    never parsed: unauthenticated input reaches no code beyond this check."""

    EXEMPT = ("/grpc.health.v1.Health/",)

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(self.EXEMPT):
            return handler
        got = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(got.encode(), self._expected):
            return handler
        reason = "missing" if not got else "invalid"

        def wrap(fn: Callable, streaming: bool) -> Callable:
            def deny(request, context):
                abort_with(context, Unauthenticated(f"{reason} token: send metadata 'authorization: Bearer <token>'"))

            return deny

        return _wrap_handler(handler, wrap, _unparsed)


def _unparsed(raw: bytes) -> bytes:
    return raw

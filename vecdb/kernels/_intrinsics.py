"""LLVM operations Numba does not expose: a prefetch of one row of a 2-D array (for graph walks, whose next
vectors are random memory reads the CPU cannot predict), and typed pointers from addresses (rescoring reads
candidate rows straight from LMDB's memory map, block by block, without a Python call per block)."""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic


def _emit_prefetch(context, builder, signature, args) -> None:
    # llvm.prefetch(read, high locality, data cache) of &arr[args[1], args[2] or 0]
    arrty = signature.args[0]
    ary = context.make_array(arrty)(context, builder, args[0])
    idx = [context.cast(builder, a, t, types.intp) for a, t in zip(args[1:], signature.args[1:])]
    if len(idx) == 1:
        idx.append(context.get_constant(types.intp, 0))
    ptr = cgutils.get_item_pointer2(
        context,
        builder,
        ary.data,
        cgutils.unpack_tuple(builder, ary.shape),
        cgutils.unpack_tuple(builder, ary.strides),
        arrty.layout,
        idx,
        wraparound=False,
    )
    _call_prefetch(builder, builder.bitcast(ptr, ir.IntType(8).as_pointer()))


def _call_prefetch(builder, ptr) -> None:
    # llvm.prefetch(ptr, read, high locality, data cache)
    i8p = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0"
    )
    builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])


def _codegen(context, builder, signature, args):
    _emit_prefetch(context, builder, signature, args)
    return context.get_dummy_value()


@intrinsic
def prefetch_row(typingctx, arr, idx):
    """Hint the CPU to load arr[idx, 0] into cache (read, high locality); no effect on results."""
    return types.void(arr, idx), _codegen


@intrinsic
def prefetch_item(typingctx, arr, idx, col):
    """Hint the CPU to load arr[idx, col] (read, high locality): with col stepping by a cache line, a whole row."""
    return types.void(arr, idx, col), _codegen


def _pointer_intrinsic(element, doc: str):
    @intrinsic
    def pointer(typingctx, addr):
        if not isinstance(addr, types.Integer):
            return None
        sig = types.CPointer(element)(addr)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

        return sig, codegen

    pointer.__doc__ = doc
    return pointer


f32_pointer = _pointer_intrinsic(
    types.float32,
    "The address (an integer) as a float32 pointer, for numba.carray. The caller guarantees the memory is valid for "
    "as long as the array is used.",
)
u8_pointer = _pointer_intrinsic(types.uint8, "The address (an integer) as a uint8 pointer (as f32_pointer).")


@intrinsic
def prefetch_address(typingctx, addr):
    """Hint the CPU to load the cache line at an address (an integer); no effect on results."""
    if not isinstance(addr, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        _call_prefetch(builder, builder.inttoptr(args[0], ir.IntType(8).as_pointer()))
        return context.get_dummy_value()

    return types.void(addr), codegen


i32_pointer = _pointer_intrinsic(types.int32, "The address (an integer) as an int32 pointer (as f32_pointer).")
u64_pointer = _pointer_intrinsic(types.uint64, "The address (an integer) as a uint64 pointer (as f32_pointer).")
u16_pointer = _pointer_intrinsic(types.uint16, "The address (an integer) as a uint16 pointer (as f32_pointer).")

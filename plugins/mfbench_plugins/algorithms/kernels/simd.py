"""Explicit 8-wide vector passes over two factor rows, for the per-rating numba kernels.

A per-rating SGD step is two short passes over a user row ``p`` and an item row ``q``: three dot
products (``p.q``, ``p.p``, ``q.q``), then both rows updated from each other. Left to LLVM's loop
vectorizer, a pass over a row of run-time length ``k`` becomes a 32-wide loop with four
accumulators per sum, scalar and 4-wide remainder loops, three separate horizontal reductions and a
run-time alias check between the rows: at k = 32 its dot pass spent about 60 instructions (12
zeroings, 23 of loop control, 27 of reductions) on 8 loads and 12 FMAs.
These intrinsics emit the passes directly over ``<8 x float>`` chunks, with one accumulator per sum,
one joint reduction of the three, and the last ``n % 8`` elements as one masked chunk (masked-off
lanes are neither read nor written). On a CPU without 256-bit vectors LLVM splits each chunk in
two. At k = 32 this made the 10M-rating epoch about 7% faster; at k = 100 (12 chunks and a
masked one) it is as fast as LLVM's own loops.
A length that is a numba literal (known when compiling) needs no loop control: the passes unroll,
the tail test goes, and ``update2`` on up to 8 chunks loads them all before it stores any, so the
chunks the dot pass just loaded serve again.

- ``dot3(p, q, n)`` returns ``(p.q, p.p, q.q)`` over ``p[:n]`` and ``q[:n]``;
- ``update2(p, q, n, a, b, c, d)`` sets ``p <- p + a p + b q`` and ``q <- q + c q + d p`` there
  (both from the old values: the rows must not overlap).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["WIDTH", "dot3", "update2"]

#: float32 lanes of a chunk (the reduction's shuffles below are written for 8)
WIDTH = 8
#: rows of at most this many chunks, of a length known when compiling, are updated with all
#: their chunks held in registers
_HELD_CHUNKS = 8
_F32 = ir.FloatType()
_VEC = ir.VectorType(_F32, WIDTH)
_I32 = ir.IntType(32)
# lane pairs (0,1), (2,3) of x then of y, in each 128-bit half: one vshufps each on x86
_EVEN = (0, 2, 8, 10, 4, 6, 12, 14)
_ODD = (1, 3, 9, 11, 5, 7, 13, 15)


def _is_row(ty):
    return isinstance(ty, types.Array) and ty.ndim == 1 and ty.dtype == types.float32 and ty.layout == "C"


def _chunks(context, builder, aryty, value):
    """The row's data as a pointer to chunks."""
    ary = context.make_array(aryty)(context, builder, value)
    return builder.bitcast(ary.data, _VEC.as_pointer())


def _length(context, builder, n, nty):
    """``n`` as an unsigned machine integer (a row length is never negative)."""
    return context.cast(builder, n, nty, types.uintp)


def _two_rows(context, builder, signature, args):
    """The rows ``args[0]`` and ``args[1]`` as chunk pointers, the length ``args[2]``, and its
    number of full chunks."""
    pv = _chunks(context, builder, signature.args[0], args[0])
    qv = _chunks(context, builder, signature.args[1], args[1])
    nty = signature.args[2]
    if isinstance(nty, types.IntegerLiteral):  # a length known when compiling: unrolled, no tail test
        uintp = context.get_value_type(types.uintp)
        return pv, qv, ir.Constant(uintp, nty.literal_value), ir.Constant(uintp, nty.literal_value // WIDTH)
    n = _length(context, builder, args[2], nty)
    return pv, qv, n, builder.lshr(n, ir.Constant(n.type, WIDTH.bit_length() - 1))


def _shuffle(builder, x, y, lanes):
    return builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(_I32, len(lanes)), list(lanes)))


def _pair_sums(builder, x, y):
    """``[x0+x1, x2+x3, y0+y1, y2+y3 | the same of lanes 4..7]``."""
    return builder.fadd(_shuffle(builder, x, y, _EVEN), _shuffle(builder, x, y, _ODD))


def _tail_mask(builder, n):
    """Lanes ``0 .. n % 8 - 1`` of the last, partial chunk."""
    rem = builder.trunc(builder.and_(n, ir.Constant(n.type, WIDTH - 1)), _I32)
    lanes = ir.Constant(ir.VectorType(_I32, WIDTH), list(range(WIDTH)))
    splat = builder.insert_element(ir.Constant(ir.VectorType(_I32, WIDTH), None), rem, ir.Constant(_I32, 0))
    splat = _shuffle(builder, splat, splat, (0,) * WIDTH)
    return builder.icmp_unsigned("<", lanes, splat)


def _masked_load(builder, ptr, mask):
    fnty = ir.FunctionType(_VEC, [_VEC.as_pointer(), _I32, mask.type, _VEC])
    fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.load.v{WIDTH}f32.p0")
    return builder.call(fn, [ptr, ir.Constant(_I32, 4), mask, ir.Constant(_VEC, None)])


def _masked_store(builder, value, ptr, mask):
    fnty = ir.FunctionType(ir.VoidType(), [_VEC, _VEC.as_pointer(), _I32, mask.type])
    fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.store.v{WIDTH}f32.p0")
    builder.call(fn, [value, ptr, ir.Constant(_I32, 4), mask])


def _has_tail(builder, n):
    return builder.icmp_unsigned("!=", builder.and_(n, ir.Constant(n.type, WIDTH - 1)), ir.Constant(n.type, 0))


def _fma(builder):
    fnty = ir.FunctionType(_VEC, [_VEC, _VEC, _VEC])
    return cgutils.get_or_insert_function(builder.module, fnty, f"llvm.fma.v{WIDTH}f32")


def _splat(builder, value):
    v = builder.insert_element(ir.Constant(_VEC, None), value, ir.Constant(_I32, 0))
    return _shuffle(builder, v, v, (0,) * WIDTH)


@intrinsic(prefer_literal=True)
def dot3(typingctx, p, q, n):
    """``(p.q, p.p, q.q)`` over the first ``n`` elements of two float32 rows."""
    if not (_is_row(p) and _is_row(q) and isinstance(n, types.Integer)):
        return None
    ret = types.UniTuple(types.float32, 3)

    def codegen(context, builder, signature, args):
        pv, qv, n, count = _two_rows(context, builder, signature, args)
        fma = _fma(builder)
        acc = [cgutils.alloca_once_value(builder, ir.Constant(_VEC, None)) for _ in range(3)]

        def accumulate(a, b):
            for slot, (x, y) in zip(acc, ((a, b), (a, a), (b, b))):
                builder.store(builder.call(fma, [x, y, builder.load(slot)]), slot)

        with cgutils.for_range(builder, count) as loop:
            accumulate(
                builder.load(builder.gep(pv, [loop.index]), align=4),
                builder.load(builder.gep(qv, [loop.index]), align=4),
            )
        with builder.if_then(_has_tail(builder, n), likely=False):
            mask = _tail_mask(builder, n)  # masked-off lanes load as 0 and add nothing
            accumulate(
                _masked_load(builder, builder.gep(pv, [count]), mask),
                _masked_load(builder, builder.gep(qv, [count]), mask),
            )
        pq, pp, qq = (builder.load(slot) for slot in acc)
        # transpose-and-add: [pq, pp, qq, qq] in each 128-bit half, then the halves added
        s = _pair_sums(builder, _pair_sums(builder, pq, pp), _pair_sums(builder, qq, qq))
        t = builder.fadd(_shuffle(builder, s, s, (0, 1, 2, 3)), _shuffle(builder, s, s, (4, 5, 6, 7)))
        sums = [builder.extract_element(t, ir.Constant(_I32, j)) for j in range(3)]
        return context.make_tuple(builder, signature.return_type, sums)

    return ret(p, q, n), codegen


@intrinsic(prefer_literal=True)
def update2(typingctx, p, q, n, a, b, c, d):
    """``p <- p + a p + b q``, ``q <- q + c q + d p`` on the first ``n`` elements (rows apart)."""
    scalars = (a, b, c, d)
    if not (_is_row(p) and _is_row(q) and isinstance(n, types.Integer) and all(s == types.float32 for s in scalars)):
        return None

    def codegen(context, builder, signature, args):
        pv, qv, n, count = _two_rows(context, builder, signature, args)
        fma = _fma(builder)
        va, vb, vc, vd = (_splat(builder, s) for s in args[3:])

        def updated(x, y):
            return (
                builder.call(fma, [vb, y, builder.call(fma, [va, x, x])]),
                builder.call(fma, [vd, x, builder.call(fma, [vc, y, y])]),
            )

        def write(pp, qp, x, y):
            x, y = updated(x, y)
            builder.store(x, pp, align=4)
            builder.store(y, qp, align=4)

        if isinstance(count, ir.Constant) and count.constant <= _HELD_CHUNKS:
            # every chunk loaded before any is stored (a store to one row could alias the other)
            ptrs = [
                (builder.gep(pv, [ir.Constant(count.type, c)]), builder.gep(qv, [ir.Constant(count.type, c)]))
                for c in range(count.constant)
            ]
            for (pp, qp), (x, y) in zip(
                ptrs, [(builder.load(pp, align=4), builder.load(qp, align=4)) for pp, qp in ptrs]
            ):
                write(pp, qp, x, y)
        else:
            with cgutils.for_range(builder, count) as loop:
                pp = builder.gep(pv, [loop.index])
                qp = builder.gep(qv, [loop.index])
                write(pp, qp, builder.load(pp, align=4), builder.load(qp, align=4))
        with builder.if_then(_has_tail(builder, n), likely=False):
            mask = _tail_mask(builder, n)
            pp = builder.gep(pv, [count])
            qp = builder.gep(qv, [count])
            x, y = updated(_masked_load(builder, pp, mask), _masked_load(builder, qp, mask))
            _masked_store(builder, x, pp, mask)
            _masked_store(builder, y, qp, mask)
        return context.get_dummy_value()

    return types.void(p, q, n, a, b, c, d), codegen

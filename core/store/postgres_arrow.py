"""Arrow in and out of PostgreSQL: result rows as Arrow tables (typed by the columns' type OIDs) or a stream of
record batches, Arrow types as column types of temporary tables, Arrow rows as Python tuples for COPY."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC
from typing import Any

import psycopg
import pyarrow as pa

from core.store.database import StoreError

# PostgreSQL type OIDs → Arrow types, for results (anything else is inferred from the Python values).
_ARROW_OF_OID: dict[int, pa.DataType] = {
    16: pa.bool_(),
    17: pa.binary(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1043: pa.string(),
    1042: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    1009: pa.list_(pa.string()),
    1015: pa.list_(pa.string()),
    1016: pa.list_(pa.int64()),
    1007: pa.list_(pa.int32()),
    19: pa.string(),
    114: pa.string(),
    3802: pa.string(),
}


def pg_type(dtype: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type (temporary tables of `register`)."""
    if pa.types.is_dictionary(dtype):
        return pg_type(dtype.value_type)
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_null(dtype):
        return "text"
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_int64(dtype) or pa.types.is_uint32(dtype) or pa.types.is_uint64(dtype):
        return "bigint"
    if pa.types.is_integer(dtype):
        return "integer"
    if pa.types.is_floating(dtype):
        return "double precision"
    if pa.types.is_timestamp(dtype):
        return "timestamptz" if dtype.tz else "timestamp"
    if pa.types.is_date(dtype):
        return "date"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "bytea"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return pg_type(dtype.value_type) + "[]"
    raise StoreError(f"no PostgreSQL type for Arrow {dtype}")


def arrow_table(description: Sequence[Any] | None, rows: list[tuple[Any, ...]]) -> pa.Table:
    if not description:
        return pa.table({})
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [() for _ in description]
    arrays = []
    for column, values in zip(description, columns, strict=True):
        dtype = _ARROW_OF_OID.get(column.type_code)
        if pa.types.is_timestamp(dtype or pa.null()) and dtype == pa.timestamp("us", tz="UTC"):
            values = tuple(v.astimezone(UTC) if v is not None else None for v in values)
        arrays.append(pa.array(list(values), type=dtype))
    return pa.Table.from_arrays(arrays, names=[column.name for column in description])


def python_rows(table: pa.Table) -> Iterator[tuple[Any, ...]]:
    return zip(*(column.to_pylist() for column in table.columns), strict=True)


def batches(
    stream: psycopg.ServerCursor[tuple[Any, ...]], first: pa.Table, batch_size: int
) -> Iterator[pa.RecordBatch]:
    """The server-side cursor's rows as record batches of the first batch's schema; closes the cursor."""
    try:
        table = first
        while table.num_rows:
            yield from table.to_batches()
            if table.num_rows < batch_size:
                return
            table = arrow_table(stream.description, stream.fetchmany(batch_size)).cast(first.schema)
    finally:
        stream.close()

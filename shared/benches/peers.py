"""`make bench`'s peers: the top-talkers job (per source and minute: flows, packets, bytes)
run by polars or DuckDB on a gzip flow-log object with a header line.

Usage: python peers.py ENGINE THREADS OBJECT   (ENGINE: polars | duckdb; THREADS: 0 = all)
Prints one line: `wall_s cpu_s peak_rss_mb groups`.
"""

import os
import resource
import sys
import time

engine, threads, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if engine == "polars" and threads:
    # Read by polars when it is imported.
    os.environ["POLARS_MAX_THREADS"] = str(threads)


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if engine == "polars":
    import polars as pl

    started, cpu = time.perf_counter(), cpu_seconds()
    frame = pl.read_csv(path, separator=" ", has_header=True, infer_schema_length=10000)
    groups = (
        frame.filter(pl.col("log-status") == "OK")
        .group_by(pl.col("srcaddr"), (pl.col("start") // 60).alias("minute"))
        .agg(
            pl.len().alias("flows"),
            pl.col("packets").cast(pl.Int64).sum(),
            pl.col("bytes").cast(pl.Int64).sum(),
        )
        .height
    )
elif engine == "duckdb":
    import duckdb

    connection = duckdb.connect()
    if threads:
        connection.execute(f"SET threads = {threads}")
    started, cpu = time.perf_counter(), cpu_seconds()
    groups = connection.execute(
        """
        SELECT count(*) FROM (
            SELECT srcaddr, TRY_CAST(start AS BIGINT) // 60 AS minute, count(*) AS flows,
                   sum(TRY_CAST(packets AS BIGINT)), sum(TRY_CAST(bytes AS BIGINT))
            FROM read_csv(?, delim = ' ', header = true, all_varchar = true)
            WHERE "log-status" = 'OK'
            GROUP BY srcaddr, minute
        )
        """,
        [path],
    ).fetchone()[0]
else:
    sys.exit(f"unknown engine {engine}")

wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{wall:.3f} {cpu:.3f} {peak_mb:.1f} {groups}")

"""The embeddings file as a table, for people who work in dataframes: `embeddings_dataframe` (pandas) and
`save_embeddings_parquet` (pyarrow, from that DataFrame). Both libraries are the `parquet` extra and are imported
inside functions; a missing one is one sentence naming the extra.

One row per image, always the same columns (COLUMNS), whatever was computed:

| column          | pandas dtype                  | Parquet type                | where not computed |
|-----------------|-------------------------------|-----------------------------|--------------------|
| `path`          | str (absolute)                | string                      | (always there)     |
| `label`         | str, "" when unlabelled       | string                      | (always there)     |
| `x`, `y`        | float32                       | float                       | NaN / null         |
| `cluster`       | Int64 (nullable)              | int64                       | <NA> / null        |
| `outlier_score` | float32                       | float                       | NaN / null         |
| `embedding`     | object: float32 (D,) arrays   | fixed_size_list<float, D>   | (always there)     |

The vector is one list column, not D columns `e0 … e511`: the schema stays the same whatever the encoder, the six
columns people look at are not drowned, `np.stack(df["embedding"])` gives back the (N, D) matrix, and a fixed-size
list is how Hugging Face datasets, LanceDB, DuckDB (`FLOAT[D]`) and Polars (`Array`) read a vector from Parquet.
The file's `format`, `mode` and `class_names` travel as `DataFrame.attrs` (in the Parquet file: the schema metadata
that pandas restores as attrs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.files import atomic_writer, ensure_outside
from workbench.results.export import EmbeddingsFile, ExportError, load_embeddings_npz

if TYPE_CHECKING:
    import pandas
    import pyarrow

COLUMNS = ("path", "label", "x", "y", "cluster", "outlier_score", "embedding")
PANDAS_MISSING = (
    "Loading the embeddings into a DataFrame needs pandas, which is not installed here: "
    "pip install 'ssl-workbench[parquet]'."
)
PARQUET_MISSING = (
    "The Parquet export needs pandas and pyarrow, which are not installed here: pip install 'ssl-workbench[parquet]'."
)
_PANDAS_ATTRS_KEY = b"PANDAS_ATTRS"  # the schema-metadata key pandas (>= 2.1) writes df.attrs to and reads them from


def embeddings_dataframe(source: str | Path | EmbeddingsFile) -> pandas.DataFrame:
    """The embeddings file (a path to the .npz, or a loaded EmbeddingsFile) as a pandas DataFrame (COLUMNS)."""
    try:
        import pandas as pd
    except ImportError:
        raise ExportError(PANDAS_MISSING) from None
    ef = source if isinstance(source, EmbeddingsFile) else load_embeddings_npz(source)
    n = len(ef)
    xy = ef.xy if ef.xy is not None else np.full((n, 2), np.nan, np.float32)
    frame = pd.DataFrame(
        {
            "path": pd.Series(ef.paths, dtype=str),
            "label": pd.Series(ef.labels, dtype=str),
            "x": xy[:, 0].astype(np.float32),
            "y": xy[:, 1].astype(np.float32),
            "cluster": pd.array(ef.cluster if ef.cluster is not None else [None] * n, dtype="Int64"),
            "outlier_score": (
                ef.outlier_score if ef.outlier_score is not None else np.full(n, np.nan, np.float32)
            ).astype(np.float32),
            "embedding": pd.Series(list(np.asarray(ef.embeddings, dtype=np.float32)), dtype=object),
        },
        columns=list(COLUMNS),
    )
    frame.attrs = _attrs(ef)
    return frame


def embeddings_table(ef: EmbeddingsFile) -> pyarrow.Table:
    """embeddings_dataframe(ef) as a pyarrow Table with the Parquet types of the module docstring (NaN and <NA>
    become nulls); its pandas metadata and attrs make `Table.to_pandas()` give the DataFrame back, dtypes included."""
    if not parquet_available():
        raise ExportError(PARQUET_MISSING)
    import pyarrow as pa

    frame = embeddings_dataframe(ef)
    schema = pa.schema(
        [
            ("path", pa.string()),
            ("label", pa.string()),
            ("x", pa.float32()),
            ("y", pa.float32()),
            ("cluster", pa.int64()),
            ("outlier_score", pa.float32()),
            ("embedding", pa.list_(pa.float32(), int(np.shape(ef.embeddings)[1]))),
        ]
    )
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    metadata = {**(table.schema.metadata or {}), _PANDAS_ATTRS_KEY: json.dumps(frame.attrs).encode("utf-8")}
    return table.replace_schema_metadata(metadata)


def save_embeddings_parquet(path: str | Path, ef: EmbeddingsFile, image_root: Path | None = None) -> Path:
    """Write `ef` as a Parquet file (module docstring: columns and types), atomically and outside `image_root`.

    `pandas.read_parquet(path)` then equals `embeddings_dataframe(ef)` (attrs included).
    """
    path = Path(path).expanduser()
    ensure_outside(path, image_root, "the export")
    table = embeddings_table(ef)
    import pyarrow.parquet as pq

    try:
        with atomic_writer(path) as f:
            pq.write_table(table, f)
    except OSError as exc:
        raise ExportError(f"'{path}' cannot be written ({exc.strerror or exc}).") from None
    return path


def parquet_available() -> bool:
    try:
        import pandas  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def _attrs(ef: EmbeddingsFile) -> dict[str, Any]:
    return {"format": int(ef.format), "mode": ef.mode, "class_names": list(ef.class_names)}

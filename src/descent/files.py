"""Writing results so that no reader ever sees a partial file.

Every output is written to a temporary file beside its target and renamed over it only when
complete: a job killed mid-write leaves no file that a rerun (or a reviewer) would take as
done. Shared by the library (:mod:`descent.ingest`) and the workflow's stages
(:mod:`descent.jobs`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

UMASK = os.umask(0)
os.umask(UMASK)  # read once: the umask can only be read by setting it


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*"):  # left by a job killed mid-write
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent
    )
    os.close(fd)
    os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes 0600; results are meant to be shared
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | Path, data: Any) -> None:
    """Atomic, stable JSON: sorted keys, full float precision, NaN/inf as null."""
    with atomic_path(path) as tmp:
        tmp.write_text(
            json.dumps(clean_json(data), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )


def clean_json(value: Any) -> Any:
    """NumPy scalars to Python, non-finite floats to None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean_json(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Atomic ``np.savez`` (uncompressed: these are small and read often)."""
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)

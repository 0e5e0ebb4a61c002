"""Progress bars for training: tqdm.auto, shown only when asked or when stderr is a terminal."""

from __future__ import annotations

import sys
from contextlib import contextmanager


@contextmanager
def progress_bar(total: int, desc: str, progress: bool | None):
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = tqdm(total=total, desc=desc, disable=not show, leave=False)
    try:
        yield bar
    finally:
        bar.close()

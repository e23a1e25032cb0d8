"""Files that appear whole or not at all."""

import contextlib
from pathlib import Path


@contextlib.contextmanager
def replacing(path):
    """Write ``path`` through ``<path>.part``: the block writes the yielded part file, which
    replaces ``path`` when the block ends without error and is removed when it fails.

    A reader (Picasso, a watcher, a second session) never meets a half-written file, and a
    failed write leaves the former file, if any, in place.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "settings.yaml"
    >>> with replacing(target) as part:
    ...     _ = part.write_text("a: 1\\n")
    >>> target.read_text(), part.exists()
    ('a: 1\\n', False)
    """
    path = Path(path)
    part = path.with_name(path.name + ".part")
    try:
        yield part
        part.replace(path)
    finally:
        if part.exists():
            part.unlink()

"""Walk folder trees once per real folder, without recursion.

Every front end that looks into sub-folders (``localize FOLDER``, ``watch --recursive``,
``db add FOLDER``, the browser's Add) walks with :func:`walk_folders`: a stack instead of
recursion (a tree 1,000 folders deep is fine) and each real folder visited once, known by
its device and inode, so a symbolic link back up the tree (``sub/up -> ..``) or two links
to one folder neither loop nor find the same files under several names.
"""

import os
from pathlib import Path


def _identity(path):
    """``(device, inode)`` of the folder ``path`` points to (links followed), or None."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def walk_folders(root, *, descend=None, recursive=True):
    """``(folder, entries)`` for ``root`` and its sub-folders, each real folder once.

    Parameters
    ----------
    root : path-like
        The folder to walk (a folder that cannot be listed yields nothing).
    descend : callable, optional
        ``descend(path)`` for each sub-folder: False leaves it out (a dataset folder, a
        hidden one). Default: every sub-folder.
    recursive : bool
        False: ``root`` alone.

    Yields
    ------
    folder : pathlib.Path
        The folder, as reached from ``root`` (the first path that reached it).
    entries : list of os.DirEntry
        Its entries sorted by name; sub-folders are walked after it, in name order.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "a" / "b").mkdir(parents=True)
    >>> (root / "a" / "b" / "up").symlink_to(root)  # a loop
    >>> [str(folder.relative_to(root)) for folder, _ in walk_folders(root)]
    ['.', 'a', 'a/b']
    """
    root = Path(root)
    seen = set()
    identity = _identity(root)
    if identity is None:
        return
    seen.add(identity)
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            continue
        yield folder, entries
        if not recursive:
            return
        children = []
        for entry in entries:
            try:
                if not entry.is_dir():
                    continue
            except OSError:
                continue
            path = Path(entry.path)
            identity = _identity(path)
            if identity is None or identity in seen:
                continue
            if descend is not None and not descend(path):
                continue
            seen.add(identity)
            children.append(path)
        stack.extend(reversed(children))  # depth first, in name order


def walk_files(root, *, descend=None, recursive=True):
    """Every file (``os.DirEntry``) below ``root`` once per real folder, in walk order.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "x.txt").write_text("x")
    1
    >>> [entry.name for entry in walk_files(root)]
    ['x.txt']
    """
    for _, entries in walk_folders(root, descend=descend, recursive=recursive):
        for entry in entries:
            try:
                if entry.is_file():
                    yield entry
            except OSError:
                continue

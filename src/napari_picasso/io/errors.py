"""Errors about input files that a user can act on."""

import errno
import os


class InputFileError(ValueError):
    """A file that cannot be used, with the path, what is wrong and, where known, the fix.

    The message reads ``"<path>: <problem>"`` followed by ``" Fix: <fix>"`` when a fix
    is given, so a command line or a dialog can show it as it is.
    """

    def __init__(self, path, problem, fix=None):
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        message = f"{self.path}: {problem}"
        if fix:
            message += f" Fix: {fix}"
        super().__init__(message)

    def __reduce__(self):
        # Errors raised in worker processes (dask, multiprocessing) travel back pickled;
        # the default reduction would call __init__ with the message alone.
        return (type(self), (self.path, self.problem, self.fix))


class ParameterError(ValueError):
    """A parameter value that cannot be used with this movie (box, ROI, frame bounds)."""


class AxisChoiceError(InputFileError):
    """A file holds more than one movie: some axes need a choice (``channel=``, ``z=`` ...).

    Attributes
    ----------
    axes : dict
        ``{axis name: labels}`` of the axes left open (a dialog offers these).
    frame_axis : str or None
        The frame axis chosen so far (None: the file has no time axis; ``frame_axis=``
        must name one of ``axes``).
    """

    def __init__(self, path, problem, fix=None, axes=None, frame_axis=None):
        super().__init__(path, problem, fix)
        self.axes = dict(axes or {})
        self.frame_axis = frame_axis


def raised_inside(error, package):
    """True when ``error`` passed through the code of ``package`` (e.g. ``"tifffile"``).

    Readers convert the low-level errors a parsing library raises on damaged files
    (IndexError, KeyError, struct.error ...) into :class:`InputFileError` at their
    boundary; errors raised by napari-picasso's own code are left as they are, so a bug
    is never disguised as a damaged file.
    """
    marker = f"{package}{os.sep}"
    tb = error.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(marker) or f"{os.sep}{marker}" in filename:
            return True
        tb = tb.tb_next
    return False


# Write errors that say the output's disk is full or failing (not a bad input file).
DISK_FULL_ERRNOS = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)
WRITE_FAILED_ERRNOS = DISK_FULL_ERRNOS + (errno.EIO,)


class OutputWriteError(OSError):
    """An output could not be written: its disk is full (``ENOSPC``, quota) or failing (``EIO``).

    The partial output has been removed when this is raised. ``folder`` is where the output
    was going; ``disk_full`` tells a full disk (free space and try again) from an I/O error.
    The message reads ``"<output>: no space left on <folder> (...)"``.
    """

    def __init__(self, path, error):
        self.path = str(path)
        self.folder = str(os.path.dirname(os.path.abspath(path)))
        code = getattr(error, "errno", None) or errno.EIO
        self.disk_full = code in DISK_FULL_ERRNOS
        what = f"no space left on {self.folder}" if self.disk_full else f"cannot write to {self.folder}"
        fix = "free space there (or write elsewhere) and run it again" if self.disk_full else "check the disk"
        text = getattr(error, "strerror", None) or str(error)
        super().__init__(code, f"{self.path}: {what} ({text}); the partial output was removed. Fix: {fix}.")

    def __str__(self):
        return self.strerror

    def __reduce__(self):
        return (_rebuild_write_error, (self.path, self.errno, self.strerror, self.folder, self.disk_full))


def _rebuild_write_error(path, code, message, folder, disk_full):
    error = OutputWriteError.__new__(OutputWriteError)
    OSError.__init__(error, code, message)
    error.path, error.folder, error.disk_full = path, folder, disk_full
    return error


def is_write_failure(error):
    """True for an ``OSError`` that means the disk written to is full or failing."""
    return isinstance(error, OSError) and getattr(error, "errno", None) in WRITE_FAILED_ERRNOS

"""Errors about input files that a user can act on."""


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

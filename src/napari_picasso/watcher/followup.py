"""Custom commands run after each localized movie, without a shell.

A command template such as ``napari-picasso undrift $FILENAME`` is split into arguments
with :func:`shlex.split` first; only then is ``$FILENAME`` (the output ``_locs.hdf5``) or
``$MOVIE`` (the input movie) replaced inside each argument. The path therefore always
stays exactly one argument, whatever it contains (spaces, quotes, ``;``, ``$(...)``), and
no shell ever sees it.
"""

import re
import shlex
import subprocess

PLACEHOLDERS = ("$FILENAME", "$MOVIE")
_PLACEHOLDER = re.compile(r"\$(FILENAME|MOVIE)")
MAX_OUTPUT_CHARS = 4000


def command_arguments(template, locs_path, movie_path):
    """The argument list of ``template`` for one output.

    Raises
    ------
    ValueError
        When the template cannot be split (e.g. an unclosed quote) or is empty.
    """
    arguments = shlex.split(template)
    if not arguments:
        raise ValueError(f"the command {template!r} is empty")
    values = {"FILENAME": str(locs_path), "MOVIE": str(movie_path)}
    # One pass, so a path that itself contains "$MOVIE" is not substituted again.
    return [_PLACEHOLDER.sub(lambda match: values[match[1]], arg) for arg in arguments]


def check_command(template):
    """Raise ValueError when ``template`` cannot be used (checked before a watcher starts)."""
    command_arguments(template, "x", "x")


def run_command(template, locs_path, movie_path, cwd=None, timeout_s=None):
    """Run one command; ``(arguments, exit_code, output)`` (stdout and stderr merged).

    ``exit_code`` is None when the program was not found or timed out (the output says
    which); nothing is raised.
    """
    try:
        arguments = command_arguments(template, locs_path, movie_path)
    except ValueError as error:
        return [template], None, f"cannot split the command: {error}"
    try:
        done = subprocess.run(
            arguments, cwd=cwd, shell=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=timeout_s, check=False,
        )
    except FileNotFoundError:
        return arguments, None, f"program not found: {arguments[0]}"
    except PermissionError as error:
        return arguments, None, f"cannot run {arguments[0]}: {error}"
    except subprocess.TimeoutExpired as error:
        output = (error.output or b"").decode("utf-8", "replace")
        return arguments, None, f"timed out after {timeout_s} s; output: {output[-MAX_OUTPUT_CHARS:]}"
    output = done.stdout.decode("utf-8", "replace")
    if len(output) > MAX_OUTPUT_CHARS:
        output = "..." + output[-MAX_OUTPUT_CHARS:]
    return arguments, done.returncode, output

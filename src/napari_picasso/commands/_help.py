"""Help pages of the command line: plain text from the modules' docstrings, every default shown.

The sub-commands' descriptions are their modules' docstrings, written in reStructuredText
for the API documentation; :class:`CommandParser` turns them into plain text (no double
backticks, ``::`` as ``:``), keeps their paragraphs and indented examples, and appends
``(default: ...)`` to every option whose help does not state its default.
"""

import argparse
import inspect
import re
import textwrap


def plain_text(text):
    """A docstring as a terminal shows it: no reStructuredText markup, paragraphs kept.

    Examples
    --------
    >>> plain_text("``napari-picasso db``: the database.\\n\\nAn example::\\n\\n    db list")
    'napari-picasso db: the database.\\n\\nAn example:\\n\\n    db list'
    """
    if not text:
        return text
    text = inspect.cleandoc(text).replace("``", "")
    text = re.sub(r":func:|:class:|:meth:|:mod:|:data:", "", text)
    text = re.sub(r"(?<=\S)::$", ":", text, flags=re.MULTILINE)
    return re.sub(r"^::$", "", text, flags=re.MULTILINE)


class HelpFormatter(argparse.HelpFormatter):
    """Wraps each paragraph of a description on its own, leaves indented blocks as written,
    and shows the default of every option whose help does not mention it."""

    def _fill_text(self, text, width, indent):
        paragraphs = re.split(r"\n\s*\n", text.strip("\n"))
        out = []
        for paragraph in paragraphs:
            lines = paragraph.splitlines()
            if all(line.startswith(" ") for line in lines):  # an example: as written
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(
                    textwrap.fill(
                        " ".join(line.strip() for line in lines), width, initial_indent=indent, subsequent_indent=indent
                    )
                )
        return "\n\n".join(out)

    def _get_help_string(self, action):
        text = action.help or ""
        if (
            action.option_strings
            and action.nargs != 0  # flags (store_true): their help says what they switch on
            and not any(action.default is nothing for nothing in (None, False, argparse.SUPPRESS))
            and action.default != []
            and "%(default)" not in text
            and "default" not in text.lower()
        ):
            text += " (default: %(default)s)"
        return text


class CommandParser(argparse.ArgumentParser):
    """The parser of every sub-command: plain-text description, :class:`HelpFormatter`."""

    def __init__(self, *args, description=None, formatter_class=HelpFormatter, **kwargs):
        super().__init__(*args, description=plain_text(description), formatter_class=formatter_class, **kwargs)

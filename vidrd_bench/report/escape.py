"""One escaping function per output format, for every string a user or a received file controls (run names, labels,
class names, prompts, protocol names, sources): HTML, SVG/XML attributes, XML text (JUnit), markdown, LaTeX, CSV
and matplotlib text. A report must never run script, break its own structure or start a spreadsheet formula.
"""

from __future__ import annotations

import re

import markupsafe

# Characters XML 1.0 forbids (C0 controls except tab, newline, carriage return; lone surrogates; U+FFFE/U+FFFF).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Control characters and line breaks, which end a markdown line, a table cell or a LaTeX paragraph.
_BREAKS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>~])")
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_SPECIAL = re.compile("[" + re.escape("".join(_LATEX)) + "]")
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def html(text: object) -> markupsafe.Markup:
    """Text for an HTML element or attribute: jinja2's autoescape (markupsafe) of & < > \" '."""
    return markupsafe.escape(str(text))


def xml_text(text: object) -> str:
    """Text for an XML document written by ElementTree (which escapes & < > \"): characters XML 1.0 forbids become
    U+FFFD, so the document stays well-formed (JUnit readers reject it otherwise)."""
    return _XML_ILLEGAL.sub("\ufffd", str(text))


def xml_attr(text: object) -> str:
    """A value for an attribute of hand-written SVG/XML: forbidden characters replaced, & < > \" ' escaped."""
    return str(markupsafe.escape(xml_text(text)))


def _one_line(text: object) -> str:
    """Text with every run of control characters and line breaks folded to one space."""
    return _BREAKS.sub(" ", str(text))


def markdown(text: object) -> str:
    """Inline markdown text: one line, and the characters that open emphasis, code, links or raw HTML escaped with a
    backslash. `|` is left to the table writer (tables.markdown_table escapes it in every cell)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(text))


def markdown_code(text: object) -> str:
    """An inline code span holding `text` verbatim on one line: fenced with more backticks than any run inside it."""
    text = _one_line(text)
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def latex(text: object) -> str:
    """LaTeX text: every special character spelled as a command in one pass (so the backslash's own braces are not
    escaped again), on one line (a blank line would end the paragraph inside a table)."""
    return _LATEX_SPECIAL.sub(lambda m: _LATEX[m.group()], _one_line(text))


def csv_cell(text: object) -> object:
    """A CSV text cell that no spreadsheet evaluates: one starting with = + - @ (or tab, carriage return) gets a
    leading apostrophe (the OWASP advice); non-strings (numbers) pass unchanged."""
    if isinstance(text, str) and text.startswith(CSV_FORMULA_START):
        return "'" + text
    return text


def matplotlib_text(text: object) -> str:
    """A label for matplotlib: `$` escaped so no mathtext is parsed (a bad formula raises), control characters
    folded to a space."""
    return _one_line(text).replace("$", r"\$")

"""Reading text files a line at a time, so a bad byte costs one line and is reported where it is.

Decoding a whole file (or a buffered text stream) turns one stray byte into an error that
stops everything after it, with an offset into some internal buffer. Here each physical line
is decoded on its own: a line that is not valid UTF-8 comes back as an `UndecodableLine`
carrying its line number and the byte offset of the bad byte in the file, and the lines after
it are read as usual. `csv_rows` does the same for CSV records (a quoted field may span
lines; a record containing a bad line is reported as one problem, the next record is read).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class UnreadableRecord:
    """A line or CSV record (starting on `line`, 1-based) that cannot be read; `reason` says why."""

    line: int

    @property
    def reason(self) -> str:
        raise NotImplementedError

    def describe(self, utf8_hint: str = "") -> str:
        """`reason`, followed by `utf8_hint` (what the file should be) when the record is not UTF-8."""
        return self.reason


@dataclass(frozen=True)
class UndecodableLine(UnreadableRecord):
    """A line that is not valid UTF-8; `offset` is the file offset of its first bad byte."""

    offset: int
    detail: str  # e.g. "invalid start byte 0xe9"
    text: str  # the line with each bad byte replaced by U+FFFD, so its quotes and separators still count

    @property
    def reason(self) -> str:
        return f"not valid UTF-8 ({self.detail} at byte {self.offset} of the file)"

    def describe(self, utf8_hint: str = "") -> str:
        return f"{self.reason}; {utf8_hint}" if utf8_hint else self.reason


def text_lines(path: Path | str) -> Iterator[tuple[int, str | UndecodableLine]]:
    """(line number, text with its line ending) for each line of a UTF-8 file (a BOM is dropped),
    or (line number, `UndecodableLine`) for a line that does not decode."""
    offset = 0
    with Path(path).open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            start = len(BOM) if number == 1 and raw.startswith(BOM) else 0
            try:
                yield number, raw[start:].decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[start + exc.start : start + exc.end]
                detail = f"{exc.reason} {' '.join(f'0x{b:02x}' for b in bad[:4])}"
                text = raw[start:].decode("utf-8", errors="replace")
                yield number, UndecodableLine(number, offset + start + exc.start, detail, text)
            offset += len(raw)


def readable_lines(path: Path | str, on_bad: Callable[[UndecodableLine], None]) -> Iterator[tuple[int, str]]:
    """(line number, text without its line ending) of every line that decodes; each one that does not is
    handed to `on_bad` (a recipe reports it as a problem of that line) and reading goes on."""
    for number, text in text_lines(path):
        if isinstance(text, UndecodableLine):
            on_bad(text)
        else:
            yield number, text.rstrip("\r\n")


@dataclass(frozen=True)
class CsvRow:
    line: int  # the line the record starts on
    cells: list[str]


@dataclass(frozen=True)
class MalformedRecord(UnreadableRecord):
    """A CSV record the csv module refuses (a field over its size limit, a stray NUL)."""

    problem: str

    @property
    def reason(self) -> str:
        return f"not a CSV record ({self.problem})"


def csv_rows(path: Path | str, **reader_options) -> Iterator[CsvRow | UnreadableRecord]:
    """Every CSV record of a UTF-8 file with the line it starts on, header included; a record with a line
    that does not decode is skipped and reported as that line's `UndecodableLine` instead, one the csv
    module refuses as a `MalformedRecord`; the records after either are read as usual."""
    bad: list[UndecodableLine] = []

    def lines() -> Iterator[str]:
        for _, text in text_lines(path):
            if isinstance(text, UndecodableLine):
                bad.append(text)
                yield text.text
            else:
                yield text

    reader = csv.reader(lines(), **reader_options)
    first_line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            bad.clear()
            yield MalformedRecord(first_line, str(exc))
            first_line = reader.line_num + 1
            continue
        if bad and bad[0].line <= reader.line_num:
            yield bad[0]
            bad.clear()
        elif cells:
            yield CsvRow(first_line, cells)
        first_line = reader.line_num + 1

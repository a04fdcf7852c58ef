"""Reading a report file without holding it: the top-level object key by key, the ``images`` array one element at
a time, over a window of the file (``json.JSONDecoder.raw_decode``), whatever its whitespace.

A report of a hundred thousand images is about a hundred megabytes of JSON and several times that as records;
each pass here holds one record and a window of text. Errors are those ``json.loads`` gives, with the line in the
file, however deep in it they are.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterator
from typing import Any

from ..errors import InputError

_WINDOW = 1 << 16
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()

IMAGE = object()  # the key of an event that is one element of ``images``


def _invalid(msg: str, file: str, line: int | None) -> InputError:
    return InputError(f"not a mirrorsync report: invalid JSON ({msg})", file=file, line=line)


class _Window:
    """The text of a UTF-8 file from a byte offset on, read a window at a time at its own offset (``pread``: passes
    over one open file do not share a position), with the line number of every position in it."""

    def __init__(self, fd: int, file: str) -> None:
        self.fd, self.file = fd, file
        self.offset = 0  # bytes read so far
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.counted, self.line = 0, 1  # the line of buf[counted]

    def line_at(self, pos: int) -> int:
        if pos > self.counted:  # positions asked for only grow, so each character is counted once
            self.line += self.buf.count("\n", self.counted, pos)
            self.counted = pos
        return self.line

    def more(self, at_least: int = _WINDOW) -> bool:
        """Read on, dropping what is consumed; False at the end of the file."""
        if self.eof:
            return False
        data = os.pread(self.fd, max(at_least, _WINDOW), self.offset)
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text (byte {self.offset + exc.start})", file=self.file) from None
        self.offset += len(data)
        self.eof = not data
        self.line_at(self.pos)
        self.buf = self.buf[self.pos:] + text
        self.counted -= self.pos
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end), not consumed."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def expect(self, chars: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            msg = {",}": "Expecting ',' delimiter", ",]": "Expecting ',' delimiter", ":": "Expecting ':' delimiter"}
            raise _invalid(msg.get(chars, "Expecting value"), self.file, self.line_at(self.pos))
        self.pos += 1
        return c

    def value(self) -> tuple[Any, int]:
        """The next JSON value, and the line it starts on."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                # Cut off by the window's end (an unterminated string is reported where it starts): read on,
                # as much again as is held, so that a value larger than the window is parsed a bounded number of
                # times.
                if not self.eof and (exc.pos >= len(self.buf) - _WINDOW or exc.msg.startswith("Unterminated")):
                    self.more(len(self.buf))
                    continue
                raise _invalid(exc.msg, self.file, self.line_at(exc.pos)) from None
            except RecursionError:
                raise InputError("not a mirrorsync report: invalid JSON (nested too deeply)", file=self.file) from None
            if end == len(self.buf) and not self.eof and self.more(len(self.buf)):
                continue  # a number may go on in the next window
            line = self.line_at(self.pos)
            self.pos = end
            return value, line


def events(fd: int, file: str) -> Iterator[tuple[Any, Any, int]]:
    """The report file's top level as (key, value, line), in file order; each element of ``images`` as
    (``IMAGE``, element, line), the ``images`` key itself not given unless it is not an array. Raises
    ``InputError`` for text that is not JSON, where ``json.loads`` would."""
    w = _Window(fd, file)
    if w.peek() != "{":
        value, line = w.value()  # not an object: invalid JSON, or a value that is no report
        if w.peek():
            raise _invalid("Extra data", file, w.line_at(w.pos))
        yield None, value, line
        return
    w.pos += 1
    if w.peek() == "}":
        w.pos += 1
    else:
        while True:
            if w.peek() != '"':
                raise _invalid("Expecting property name enclosed in double quotes", file, w.line_at(w.pos))
            key, line = w.value()
            w.expect(":")
            if key == "images" and w.peek() == "[":
                w.pos += 1
                if w.peek() == "]":
                    w.pos += 1
                else:
                    while True:
                        value, line = w.value()
                        yield IMAGE, value, line
                        if w.expect(",]") == "]":
                            break
            else:
                value, line = w.value()
                yield key, value, line
            if w.expect(",}") == "}":
                break
    if w.peek():
        raise _invalid("Extra data", file, w.line_at(w.pos))

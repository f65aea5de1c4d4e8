"""Server-Sent Events, read incrementally: bytes in, events out (the WHATWG rules).

Pure: the client feeds it whatever chunks the socket gives, split anywhere, even inside a
UTF-8 character or between the CR and LF of a line break.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class SseEvent:
    id: str  # the last event id seen on the stream, this event's or an earlier one's
    type: str  # `event:`, else "message"
    data: str  # the `data:` lines joined by "\n"


class SseDecoder:
    """One stream's state. `last_id` is what to send as Last-Event-ID when reconnecting;
    `retry_ms` the reconnection delay the server asked for, if it did."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # the start of a line whose break has not arrived yet
        self._skip_lf = False  # the last chunk ended with CR: a leading LF is its pair
        self._first = True
        self._data: list[str] = []
        self._type = ""
        self.last_id = ""
        self.retry_ms: int | None = None

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events completed by this chunk, in order."""
        text = self._text.decode(chunk)
        if self._first and text:
            text, self._first = text.removeprefix("\ufeff"), False
        if self._skip_lf and text:
            text, self._skip_lf = text.removeprefix("\n"), False
        *lines, self._pending = LINE_BREAK.split(self._pending + text)
        self._skip_lf = bool(lines) and text.endswith("\r")
        return [event for line in lines if (event := self._line(line)) is not None]

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):  # a comment: a keep-alive
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None  # unknown fields are ignored

    def _dispatch(self) -> SseEvent | None:
        data, event_type = self._data, self._type or "message"
        self._data, self._type = [], ""
        if not data:  # a block with no data (an id alone, say) is no event
            return None
        return SseEvent(self.last_id, event_type, "\n".join(data))

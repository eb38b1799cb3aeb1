"""Bytes an imported file may not hold as text: NUL and what is not UTF-8, marked so that their rows are refused.

Postgres text cannot hold NUL, and COPY stops at the first byte that is not UTF-8, which would refuse the
whole file. Instead each such byte becomes a mark, a Unicode noncharacter (reserved for a program's own use),
and the rows holding a mark are refused with the reason, field by field (repository.refuse_marked). A file
holding a mark itself has it refused in the same way: NUL_MARK as if it were not UTF-8, so that a mark never
passes as text and NUL is named only for a real NUL.

A chunk without NUL, without a byte that could start a mark and decoding as UTF-8 passes unchanged: the usual
file costs one decode per chunk, done in C.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterable, AsyncIterator

NUL_MARK = "\ufdd0"
BAD_MARK = "\ufdd1"
_MARK_PREFIX = NUL_MARK.encode()[:2]  # EF B7: the first two bytes of either mark (and of U+FDC0..U+FDFF)
# NUL to its mark; a mark in the file to BAD_MARK; the bytes surrogateescape gives back undecoded (U+DC80..U+DCFF).
_REPLACE = {0: NUL_MARK, ord(NUL_MARK): BAD_MARK} | {code: BAD_MARK for code in range(0xDC80, 0xDD00)}


class TextCheck:
    """Passes a body through, marking NUL and bytes that are not UTF-8; `found` says whether it marked any."""

    def __init__(self) -> None:
        self.found = False

    async def clean(self, body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        carry = b""  # an incomplete character at the end of a chunk, completed by the next
        async for chunk in body:
            data = carry + chunk if carry else chunk
            carry = b""
            if b"\x00" not in data and _MARK_PREFIX not in data:
                try:
                    _, consumed = codecs.utf_8_decode(data, "strict", False)
                except UnicodeDecodeError:
                    pass
                else:
                    carry = data[consumed:]
                    if consumed:
                        yield data[:consumed] if carry else data
                    continue
            text, consumed = codecs.utf_8_decode(data, "surrogateescape", False)
            carry = data[consumed:]
            yield self._marked(text)
        if carry:  # the file ends within a character
            yield self._marked(carry.decode("utf-8", "surrogateescape"))

    def _marked(self, text: str) -> bytes:
        marked = text.translate(_REPLACE)
        if NUL_MARK in marked or BAD_MARK in marked:  # BAD_MARK also when the file held it itself
            self.found = True
        return marked.encode()

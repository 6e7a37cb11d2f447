"""Streaming decoders for the `Content-Encoding` of request bodies.

Clients compress each block of a multi-block insert on its own, so one body is often SEVERAL
concatenated frames (lz4, zstd) or members (gzip). Every decoder here keeps going across frame
boundaries: decoding only the first frame silently drops the rest of the rows.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Protocol

import lz4.frame
import zstandard


class MalformedBody(ValueError):
    """The request body cannot be decoded with its declared encoding."""


class BodyDecoder(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class IdentityDecoder:
    def feed(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


class _FramedDecoder:
    """Runs one stdlib-style decompressor per frame, starting a new one at each frame's end."""

    name = "compressed"

    def __init__(self) -> None:
        self._decompressor = self._new()
        self._in_frame = False

    def _new(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data:
            try:
                out.append(self._decompressor.decompress(data))
            except Exception as error:
                raise MalformedBody(f"corrupt {self.name} body: {error}") from error
            self._in_frame = not self._decompressor.eof
            if not self._decompressor.eof:
                break
            data = self._decompressor.unused_data
            self._decompressor = self._new()
        return b"".join(out)

    def finish(self) -> bytes:
        if self._in_frame:
            raise MalformedBody(f"truncated {self.name} body: the last frame is incomplete")
        return b""


class Lz4Decoder(_FramedDecoder):
    name = "lz4"

    def _new(self):
        return lz4.frame.LZ4FrameDecompressor()


class ZstdDecoder(_FramedDecoder):
    name = "zstd"

    def _new(self):
        return zstandard.ZstdDecompressor().decompressobj()


class GzipDecoder(_FramedDecoder):
    name = "gzip"

    def _new(self):
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)


class DeflateDecoder(_FramedDecoder):
    name = "deflate"

    def _new(self):
        return zlib.decompressobj()


_DECODERS: dict[str, Callable[[], BodyDecoder]] = {
    "": IdentityDecoder,
    "identity": IdentityDecoder,
    "lz4": Lz4Decoder,
    "zstd": ZstdDecoder,
    "gzip": GzipDecoder,
    "x-gzip": GzipDecoder,
    "deflate": DeflateDecoder,
}

SUPPORTED_ENCODINGS = tuple(sorted(name for name in _DECODERS if name))


def decoder_for(content_encoding: str | None) -> BodyDecoder:
    name = (content_encoding or "").strip().lower()
    try:
        return _DECODERS[name]()
    except KeyError:
        raise MalformedBody(
            f"unsupported Content-Encoding {content_encoding!r}; "
            f"supported: {', '.join(SUPPORTED_ENCODINGS)}"
        ) from None

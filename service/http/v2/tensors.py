"""Tensors as the Open Inference Protocol (v2) carries them over HTTP: in the JSON body, or after it
as raw bytes (Triton's binary tensor data extension, which `tritonclient` uses by default).

A body with binary data starts with the JSON header, whose length is in the request's
`Inference-Header-Content-Length` header; each tensor that has `parameters.binary_data_size`
takes that many bytes of what follows, in the order the tensors are listed. A BYTES element in
binary is a 4-byte little-endian length followed by its bytes; numbers are little-endian.
"""
from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_MEDIA_TYPE = "application/octet-stream"
# the datatypes this service writes (OIP names -> numpy); it reads only BYTES
NUMPY_OF = {"FP32": "<f4", "INT64": "<i8"}


class TensorError(ValueError):
    """A tensor that cannot be read as sent; the message names it and says what to send."""


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(the JSON header, the binary data after it); all JSON when there is no header length."""
    if header_length is None:
        return body, b""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise TensorError(f"the {HEADER_LENGTH} header is {header_length[:20]!r}; it must be the byte length of the "
                          f"JSON part of the body, at most the body's {len(body)} bytes")
    n = int(header_length)
    return body[:n], body[n:]


def element_count(shape: list[int]) -> int:
    return math.prod(shape)


def flatten(data: Any) -> list[Any]:
    """The tensor's elements in row-major order: OIP lets JSON data be nested by the shape or flat."""
    if not isinstance(data, list):
        return [data]
    flat: list[Any] = []
    for item in data:
        flat.extend(flatten(item) if isinstance(item, list) else [item])
    return flat


def read_bytes_elements(name: str, raw: bytes, count: int) -> list[bytes]:
    """The `count` elements of a BYTES tensor sent in binary."""
    elements, at = [], 0
    for i in range(count):
        if at + 4 > len(raw):
            raise TensorError(f"input {name!r}: its binary data ends before element {i} of {count}; each element is a "
                              "4-byte little-endian length and then that many bytes")
        (size,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + size > len(raw):
            raise TensorError(f"input {name!r}: element {i} says {size} bytes but only {len(raw) - at} remain")
        elements.append(raw[at:at + size])
        at += size
    if at != len(raw):
        raise TensorError(f"input {name!r}: {len(raw) - at} bytes of binary data are left over after its {count} "
                          "elements; check its shape and binary_data_size")
    return elements


def bytes_tensor(values: list[bytes]) -> bytes:
    """A BYTES tensor's binary form."""
    return b"".join(struct.pack("<I", len(v)) + v for v in values)


def to_binary(datatype: str, values: list[Any]) -> bytes:
    if datatype == "BYTES":
        return bytes_tensor([v if isinstance(v, bytes) else str(v).encode("utf-8") for v in values])
    return np.asarray(values, dtype=NUMPY_OF[datatype]).tobytes()


def to_json(datatype: str, values: list[Any]) -> list[Any]:
    """JSON data; a missing number (NaN in binary) is null."""
    if datatype == "BYTES":
        return [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
    return [None if v is None else float(v) if datatype.startswith("FP") else int(v) for v in values]


def encode_response(header: dict[str, Any], outputs: list[tuple[dict[str, Any], list[Any], bool]]) -> tuple[bytes, int | None]:
    """The response body from its JSON header and each output's (tensor description, flat values,
    binary?); and the JSON part's length when some output went in binary (else None)."""
    tensors, blobs = [], []
    for tensor, values, binary in outputs:
        if binary:
            blob = to_binary(tensor["datatype"], values)
            tensors.append({**tensor, "parameters": {**tensor.get("parameters", {}), "binary_data_size": len(blob)}})
            blobs.append(blob)
        else:
            tensors.append({**tensor, "data": to_json(tensor["datatype"], values)})
    head = json.dumps({**header, "outputs": tensors}, ensure_ascii=False).encode("utf-8")
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)

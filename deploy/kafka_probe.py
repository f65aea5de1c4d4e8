"""Ask one Kafka node, and only that node, which brokers are alive: a raw MetadataRequest.

A client library picks whichever broker it likes for a metadata request, so with one node
of a cluster down it may ask the dead one and report a live node as down. This speaks the
protocol (Metadata v1, no topics) on one socket to exactly the address given.
"""

from __future__ import annotations

import socket
import struct

METADATA, VERSION, CORRELATION = 3, 1, 7
CLIENT_ID = b"piecework-probe"


def _request() -> bytes:
    header = struct.pack(">hhih", METADATA, VERSION, CORRELATION, len(CLIENT_ID)) + CLIENT_ID
    body = struct.pack(">i", 0)  # an empty topic array: brokers only
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("closed mid-response")
        chunks += chunk
    return bytes(chunks)


def parse_brokers(body: bytes) -> set[int]:
    """Node ids of the brokers array of a Metadata v1 response body (after the header)."""
    (count,), pos = struct.unpack_from(">i", body), 4
    ids = set()
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", body, pos)
        pos += 6 + host_len + 4  # id and host length, host, port
        (rack_len,) = struct.unpack_from(">h", body, pos)
        pos += 2 + max(rack_len, 0)  # -1: null rack
        ids.add(node_id)
    return ids


def live_brokers(host: str, port: int, timeout: float = 3.0) -> set[int] | None:
    """The node ids this node reports alive (registered and unfenced), or None if it does
    not answer: a node still starting accepts connections but holds requests back."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(_request())
            (size,) = struct.unpack(">i", _read_exactly(sock, 4))
            response = _read_exactly(sock, size)
    except (OSError, struct.error, ConnectionError):
        return None
    (correlation,) = struct.unpack_from(">i", response)
    if correlation != CORRELATION:
        return None
    try:
        return parse_brokers(response[4:])
    except struct.error:
        return None

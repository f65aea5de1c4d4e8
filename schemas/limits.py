"""Size limits of the contract, all derived from one fact: Kafka refuses a record batch
over the broker's message.max.bytes (1,048,588 bytes by default).

A command, each record of a decision's events and each reply must fit in one record, so
every free-form field has a byte limit well under it: what a client sends can never make
the processor write something the broker refuses (docs/DESIGN.md, "Input limits").
"""

from __future__ import annotations

# What piecework itself writes in one record: the broker's default limit less room for
# the record batch header (61 B), the record's own header, its key and its headers.
MAX_RECORD_BYTES = 1_000_000

# Free-form JSON fields, measured msgpack-encoded (as they are written to the log).
# A task payload is copied into TaskPosted, and up to 500 tasks share one command: 16 KiB
# keeps a chunk of typical payloads under the 512 KiB the API packs into one command.
MAX_PAYLOAD_BYTES = 16 * 1024
# An answer is copied from SubmitWork into WorkSubmitted, with the envelope around it:
# 256 KiB leaves either record three quarters of the record limit as headroom.
MAX_ANSWER_BYTES = 256 * 1024

# Nesting of a JSON request body, the body itself being level 1. msgpack refuses to
# encode past 511 levels and the stdlib JSON parser recurses once per level; free-form
# fields sit about 4 levels down in a body and a few more inside a command envelope, so
# 32 leaves any real payload or answer ~28 levels and stays far below either limit.
MAX_JSON_DEPTH = 32

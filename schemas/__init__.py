"""Event and command types, envelopes, the msgpack codec and the JSON export form. No I/O."""

from schemas import commands, events  # noqa: F401  (registers every type in the catalogues)

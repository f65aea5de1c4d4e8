"""Errors raised when a record does not match the schema catalogue."""


class SchemaError(ValueError):
    """A record is malformed: wrong type, missing field, unknown type or version.

    `code` is machine-readable (used in replies and dead letters); the message is for people.
    """

    def __init__(self, message: str, code: str = "invalid_record") -> None:
        super().__init__(message)
        self.code = code

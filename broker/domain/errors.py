"""Typed refusals: a command the domain will not turn into events.

Every code is listed in CODES with the HTTP status the API answers with, so the API and
the docs can enumerate them; raising an unlisted code is a programming error.
"""

from __future__ import annotations

FORBIDDEN, NOT_FOUND, CONFLICT, INVALID = 403, 404, 409, 422

CODES: dict[str, tuple[int, str]] = {
    "forbidden": (FORBIDDEN, "the actor may not issue this command for this aggregate"),
    "missing_qualification": (FORBIDDEN, "the worker lacks a qualification the task requires"),
    "not_found": (NOT_FOUND, "the account, task, submission, claim or wallet does not exist"),
    "insufficient_funds": (CONFLICT, "the requester's available balance cannot cover it"),
    "account_in_debt": (CONFLICT, "an overturn left a negative balance: top up before posting"),
    "duplicate_batch": (CONFLICT, "this batch id was already posted by the requester"),
    "task_closed": (CONFLICT, "the task is cancelled, expired or past its expiry time"),
    "already_claimed_by_worker": (CONFLICT, "a worker may claim a task only once"),
    "no_free_assignment": (CONFLICT, "every assignment is claimed or submitted"),
    "claim_not_live": (CONFLICT, "the claim was already submitted, released or expired"),
    "lease_expired": (CONFLICT, "the claim's lease ran out before the submission"),
    "not_due": (CONFLICT, "the deadline (lease, expiry or auto-approval) has not passed"),
    "not_pending": (CONFLICT, "the submission was already reviewed"),
    "no_submission": (CONFLICT, "a bonus needs a submission by that worker on the task"),
    "not_rejected": (CONFLICT, "only a rejected submission can be disputed or overturned"),
    "already_disputed": (CONFLICT, "the rejection is already disputed"),
    "insufficient_balance": (CONFLICT, "the payout exceeds the worker's balance"),
    "duplicate_payout": (CONFLICT, "this payout id was already issued"),
    "duplicate_credit": (CONFLICT, "this source event was already credited to the wallet"),
    "batch_too_large": (INVALID, "the batch has more tasks than the policy allows"),
    "below_wage_floor": (INVALID, "reward over estimated time is below the wage floor"),
    "unknown_command": (INVALID, "the domain has no handler for this command type"),
    # Decided by the processor around the domain (broker/processor), never by an aggregate.
    "idempotency_key_reused": (INVALID, "this Idempotency-Key was used for another request"),
    "too_large": (413, "the command's events would exceed the log's record limit"),
    "unencodable": (INVALID, "the command's events cannot be encoded (integers past 64 bits,"
                             " invalid strings)"),
    "unwritable": (INVALID, "the log refused this command's records for good"),
}


class Refused(Exception):
    """The domain refuses a command; no event is decided."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"undocumented refusal code {code!r}: add it to CODES")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = CODES[code][0]

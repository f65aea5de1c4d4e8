"""The timer: turns due deadlines (from the deadlines view) into commands.

Lease expiries, auto-approvals and task expiries become ExpireClaim / AutoApprove /
ExpireTask commands, so their effects are events in the log and replay never reads a
clock. Firing twice is harmless: the aggregate refuses the second (claim_not_live,
not_pending, task_closed). Each firing gets a fresh command id, because a refusal is
remembered per command id and an early firing (clock skew) must not block a later one.
"""

from __future__ import annotations

import logging
import threading
import time

from kafka import KafkaProducer

from consumers.stores.redis_store import RedisStore
from consumers.stores.store import Reader
from consumers.timers.checkpoints import run_checkpoints
from consumers.timers.payouts import PayoutPolicy, due_run, payout_commands
from consumers.views.deadlines import Deadline, due
from runtime import metrics
from runtime.clock import Clock
from runtime.settings import Settings
from runtime.signing import load_private
from schemas.catalogue import COMMANDS
from schemas.codec import encode_command
from schemas.envelope import CommandEnvelope

log = logging.getLogger(__name__)
POLL_SECONDS = 0.1
# Do not re-send a deadline while its first command is still on its way through the views.
RESEND_AFTER_SECONDS = 5.0


def command_for(deadline: Deadline, now_ms: int) -> CommandEnvelope:
    fields = {"task_id": deadline.task_id}
    if deadline.command == "ExpireClaim":
        fields["claim_id"] = deadline.ref_id
    elif deadline.command == "AutoApprove":
        fields["submission_id"] = deadline.ref_id
    command = COMMANDS.by_name[deadline.command](**fields)
    command_id = f"timer:{deadline.command}:{deadline.task_id}|{deadline.ref_id}:{now_ms}"
    return CommandEnvelope(command_id, "piecework-timer", "system", command_id, command)


class Timer:
    def __init__(self, reader: Reader, clock: Clock, send) -> None:  # type: ignore[no-untyped-def]
        self.reader = reader
        self.clock = clock
        self.send = send
        self.sent: dict[Deadline, float] = {}

    def tick(self, limit: int = 500) -> int:
        """Send the due deadlines not sent recently; return how many were sent."""
        now = self.clock.now_ms()
        wall = time.monotonic()
        fired = 0
        for deadline in due(self.reader, now, limit):
            if wall - self.sent.get(deadline, -RESEND_AFTER_SECONDS) < RESEND_AFTER_SECONDS:
                continue
            self.send(command_for(deadline, now))
            self.sent[deadline] = wall
            fired += 1
        if len(self.sent) > 100_000:
            self.sent = {d: t for d, t in self.sent.items() if wall - t < RESEND_AFTER_SECONDS}
        return fired


def payout_policy(settings: Settings) -> PayoutPolicy:
    return PayoutPolicy(settings.payout_threshold, 1000 * settings.payout_interval_seconds)


def run_timers(settings: Settings, stop: threading.Event) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka, client_id="piecework-timer")

    def send(envelope: CommandEnvelope) -> None:
        metrics.TIMER_FIRED.labels(envelope.type).inc()
        producer.send(
            settings.topics.commands,
            encode_command(envelope),
            key=envelope.partition_key.encode(),
        )

    # Signed checkpoints of the log, when the operator gave a key (consumers/timers/checkpoints.py).
    if settings.checkpoint_key:
        load_private(settings.checkpoint_key)  # a bad key stops the role now, not in an hour
        threading.Thread(target=run_checkpoints, args=(settings, stop), name="checkpoints",
                         daemon=True).start()  # fmt: skip
    views = RedisStore.from_url(settings.redis)
    clock = settings.clock()
    timer = Timer(views, clock, send)
    payouts = payout_policy(settings)
    last_run: int | None = None
    log.info("timer running; payouts from %s every %s ms", payouts.threshold, payouts.interval_ms)
    while not stop.is_set():
        try:
            fired = timer.tick()
            run_at = due_run(last_run, clock.now_ms(), payouts.interval_ms)
            if run_at is not None:
                for command in payout_commands(views, payouts, run_at):
                    send(command)
                    fired += 1
                last_run = run_at
            if fired:
                producer.flush()
        except Exception:  # Redis or Kafka hiccup: keep ticking, deadlines are still there
            log.exception("timer tick failed")
            time.sleep(1)
        stop.wait(POLL_SECONDS)
    producer.close()

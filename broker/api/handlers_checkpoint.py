"""GET /v1/checkpoint: the latest signed checkpoint of the log, public (docs/AUDIT.md).

No token: a checkpoint is made to be published, and anyone holding the operator's public
key can check it. Read through consumers.queries.checkpoint_query, which keeps what it
read a few seconds, so the route costs no Kafka connection per request.
"""

from __future__ import annotations

from aiohttp import web
from kafka.errors import KafkaError

from broker.api.resources import CheckpointBody, CheckpointPartition, SignedCheckpoint
from broker.api.responses import ApiError, reply
from broker.api.routes import COMMON, route
from broker.api.services import Services
from consumers.queries.checkpoint_query import LatestCheckpoint
from schemas.checkpoint import BadCheckpoint, parse_document

ERRORS = {400: COMMON[400], 404: "no checkpoint signed yet",
          503: "the log is unavailable, or its latest checkpoint record is unreadable"}  # fmt: skip


@route("GET", "/v1/checkpoint", "The latest signed checkpoint of the log, exactly as signed",
       (), ok={200: "the checkpoint"}, errors=ERRORS, out=SignedCheckpoint)  # fmt: skip
async def checkpoint(request: web.Request, actor: object, svc: Services) -> web.Response:
    if svc.checkpoint_reader is None:
        svc.checkpoint_reader = LatestCheckpoint(svc.settings.kafka, svc.settings.topics)
    try:
        raw = await svc.checkpoint_reader.get()
    except KafkaError as exc:
        raise ApiError(503, "unavailable", f"the log is unavailable: {type(exc).__name__}",
                       retry_after=1.0) from exc  # fmt: skip
    if raw is None:
        raise ApiError(404, "not_found", "no checkpoint signed yet (docs/AUDIT.md)")
    try:
        signed = parse_document(raw)
    except BadCheckpoint as exc:
        raise ApiError(503, "unavailable", f"the latest checkpoint record: {exc}",
                       retry_after=1.0) from exc  # fmt: skip
    body = signed.checkpoint.body()
    model = SignedCheckpoint(
        checkpoint=CheckpointBody(
            version=body["version"], topic=body["topic"], at=body["at"],
            partitions={p: CheckpointPartition(**m) for p, m in body["partitions"].items()},
            totals=body["totals"], previous=body["previous"]),
        signature=signed.signature, key_id=signed.key_id,
        fingerprint=signed.to_json()["fingerprint"],
    )  # fmt: skip
    return reply(model)

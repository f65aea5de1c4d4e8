"""The aiohttp application: auth guard, JSON errors, route table, start-up wiring."""

from __future__ import annotations

import logging
import time
from importlib.metadata import version
from typing import Any

from aiohttp import web
from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from broker.api import (
    handlers_checkpoint,
    handlers_events,
    handlers_groups,
    handlers_listings,
    handlers_operator,
    handlers_read,
    handlers_requester,
    handlers_reviews,
    handlers_suites,
    handlers_webhooks,
    handlers_worker,
    idempotency,
)
from broker.api.auth import Actor, AuthError, TokenStore, require_role
from broker.api.gateway import CommandGateway, CommandTooLarge, ReplyTimeout
from broker.api.health import PROBES, READINESS, Readiness, add_probes
from broker.api.json_input import InputError
from broker.api.openapi import build_spec
from broker.api.ratelimit import RateLimiter
from broker.api.resources import Health
from broker.api.responses import ApiError, error_response, reply
from broker.api.routes import HEADER_CHARS, MAX_PATH_PARAM_CHARS, ROUTES, Route, register
from broker.api.services import QueueReader, Services
from broker.domain.policy import Policy
from consumers.queries.queue_query import QueueScript
from consumers.stores.redis_store import RedisStore
from runtime import metrics
from runtime.metrics_roles import role_registry
from runtime.settings import Settings

log = logging.getLogger(__name__)
SERVICES = web.AppKey("services", Services)
HANDLER_MODULES = (handlers_requester, handlers_worker, handlers_operator, handlers_read,
                   handlers_reviews, handlers_listings, handlers_events, handlers_webhooks,
                   handlers_groups, handlers_checkpoint, handlers_suites)



def check_headers(request: web.Request) -> None:
    """400 bad_header, naming the header, for one the API reads that is out of bounds
    (routes.HEADER_CHARS says why)."""
    for name, (low, high) in HEADER_CHARS.items():
        values = request.headers.getall(name, ())
        if not values:
            continue
        if len(values) > 1:
            raise ApiError(400, "bad_header", f"{name} is sent {len(values)} times; send it once")
        value = values[0]
        if not (low <= len(value) <= high and value.isascii() and value.isprintable()):
            raise ApiError(400, "bad_header",
                           f"{name} must be {low}-{high} printable ASCII characters")


def check_path(request: web.Request) -> None:
    """400 bad_path_param for a parameter no id can match (control characters, too long)."""
    for name, value in request.match_info.items():
        if len(value) > MAX_PATH_PARAM_CHARS or not value.isprintable():
            raise ApiError(400, "bad_path_param", f"{name} must be at most"
                           f" {MAX_PATH_PARAM_CHARS} printable characters")  # fmt: skip


def guard(route: Route):
    counted: dict[int, Any] = {}  # status -> this route's counter child (labels() is costly)
    timed: dict[int, Any] = {}  # status -> this route's duration histogram child

    async def handle(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        svc = request.app[SERVICES]
        status = 500
        try:
            check_headers(request)
            check_path(request)
            actor = None
            if route.roles:
                actor = await svc.tokens.authenticate(request.headers.get("Authorization"))
                if not svc.limiter.allow(actor.actor_id, time.monotonic()):
                    wait = svc.limiter.retry_after(actor.actor_id)
                    raise ApiError(429, "rate_limited", f"too many requests; retry in {wait:.2f}s",
                                   retry_after=wait)
                require_role(actor, *route.roles)
            response = await route.handler(request, actor, svc)
            status = response.status
            return response
        except ApiError as exc:
            status = exc.status
            return error_response(exc.status, exc.code, exc.message, exc.retry_after)
        except (AuthError, InputError) as exc:
            status = exc.status
            return error_response(exc.status, exc.code, exc.message)
        except web.RequestPayloadError:  # e.g. a gzip body that does not inflate
            status = 400
            return error_response(400, "bad_body_encoding", "the body cannot be read: its"
                                  " Content-Encoding or chunked encoding is broken")  # fmt: skip
        except CommandTooLarge as exc:
            status = 413
            return error_response(413, "too_large", str(exc))
        except ReplyTimeout:
            status = 503
            return error_response(503, "timeout", "the command processor did not answer in time")
        except RedisError as exc:
            status = 503
            reason = f"the views store is unavailable: {type(exc).__name__}"
            return error_response(503, "unavailable", reason)
        except KafkaError as exc:
            status = 503
            reason = f"the log is unavailable: {type(exc).__name__}"
            return error_response(503, "unavailable", reason)
        except web.HTTPException as exc:
            status = exc.status
            raise  # aiohttp's own, e.g. 413 for a body over client_max_size: json_errors
        except Exception:  # the last resort: every input is refused above, never here
            log.exception("unexpected error on %s %s", request.method, route.path)
            return error_response(500, "internal_error", "unexpected error (logged)")
        finally:
            counter = counted.get(status)
            if counter is None:
                counter = counted[status] = metrics.HTTP_REQUESTS.labels(
                    route.path, route.method, str(status))
            counter.inc()
            histogram = timed.get(status)
            if histogram is None:
                histogram = timed[status] = metrics.HTTP_DURATION.labels(
                    route.path, route.method, str(status))
            histogram.observe(time.perf_counter() - started)

    handle.__name__ = route.handler.__name__
    return handle


@web.middleware
async def json_errors(request: web.Request, handler) -> web.StreamResponse:
    """aiohttp's own errors (404, 405, 413) answered in the API's JSON error form."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        return error_response(exc.status, code, exc.reason)


async def healthz(request: web.Request) -> web.Response:
    return reply(Health(ok=True))


# Described, yet served outside the guard: a liveness probe needs no token, no services,
# and is never rate limited.
HEALTH = Route("GET", "/healthz", healthz, "Liveness: the API process answers", (),
               responses={200: "alive"}, out=Health)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_spec([*ROUTES, HEALTH, *PROBES], version("piecework")))


async def metrics_endpoint(request: web.Request) -> web.Response:
    body = generate_latest(role_registry("api"))  # the API's families only
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app(services_factory, max_body_bytes: int) -> web.Application:
    """`services_factory(app)` is an async context (start-up/clean-up) that sets SERVICES;
    a request body over `max_body_bytes` is refused (413)."""
    app = web.Application(middlewares=[json_errors], client_max_size=max_body_bytes)
    app.router.add_get("/healthz", healthz)
    add_probes(app)  # /livez, /readyz
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/metrics", metrics_endpoint)
    register(app, guard)
    app.cleanup_ctx.append(services_factory)
    return app


def live_services(settings: Settings, policy: Policy, queue: QueueReader | None = None):
    """Start-up: connect to Kafka and Redis, install the operator's bootstrap token."""

    async def factory(app: web.Application):
        # redis-py's default pool raises once 100 connections are busy; a blocking pool
        # makes a burst of requests wait for a connection instead of failing.
        redis = Redis(connection_pool=BlockingConnectionPool.from_url(
            settings.redis, max_connections=256, timeout=5))
        gateway = CommandGateway(settings)
        await gateway.start()
        tokens = TokenStore(redis)
        if settings.operator_token:
            await tokens.install(settings.operator_token, Actor("operator", "operator"))
        views = RedisStore.from_url(settings.redis)
        # claim-next reads on the loop's own client in one EVALSHA (no thread-pool hop)
        reader = queue or QueueScript(redis).read
        remember = redis.register_script(idempotency.REMEMBER_LUA)
        limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
        app[SERVICES] = Services(settings, policy, gateway, tokens, redis, views, reader, remember,
                                 limiter)
        app[READINESS] = Readiness(settings, redis)
        yield
        await app[READINESS].close()
        if app[SERVICES].feed_waker is not None:
            await app[SERVICES].feed_waker.close()
        await gateway.close()
        await redis.aclose()

    return factory

# One image for every piecework role; docker-compose.yml runs one service per role.
# The entry point (deploy/container.py, tested outside Docker) checks the user, the data
# dir and the operator token, then becomes `piecework run ROLE`.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# README.md* : the glob keeps the build working before the README exists.
COPY pyproject.toml README.md* ./
COPY schemas ./schemas
COPY broker ./broker
COPY consumers ./consumers
COPY deploy ./deploy
COPY runtime ./runtime
COPY audit ./audit
# The report extra: `piecework report --html` needs matplotlib.
RUN pip install ".[report]" \
    && useradd --system --uid 10001 --no-create-home piecework \
    && mkdir -p /data && chown piecework:piecework /data

# /data: the views' Faust state, Prometheus target files; /app stays root's, read-only.
ENV PIECEWORK_KAFKA=kafka:9092 \
    PIECEWORK_REDIS=redis://redis:6379/0 \
    PIECEWORK_DATA_DIR=/data \
    PIECEWORK_HTTP_HOST=0.0.0.0 \
    PIECEWORK_METRICS_HOST=0.0.0.0 \
    MPLCONFIGDIR=/tmp/matplotlib
VOLUME /data
USER piecework
# API 8080; /metrics of processor 9300, views 9400, timers 9500, webhooks 9600.
EXPOSE 8080 9300 9400 9500 9600
ENTRYPOINT ["python", "-m", "deploy.container"]
CMD ["serve"]

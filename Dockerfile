# The piecework service for docker-compose. Kafka and Redis come from their own images.
FROM python:3.11-slim

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
RUN pip install . && useradd --system --no-create-home piecework

USER piecework
ENV PIECEWORK_KAFKA=kafka:9092 \
    PIECEWORK_REDIS=redis://redis:6379/0
EXPOSE 8080
CMD ["piecework", "serve"]

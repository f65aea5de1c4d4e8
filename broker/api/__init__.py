"""The HTTP API (aiohttp, JSON) for requesters, workers and operators."""

"""Who made a request. Without authentication every caller is `anonymous`."""

from __future__ import annotations

from aiohttp import web

from workflowdev.engine.services.actor import Actor

ACTOR_KEY = web.RequestKey("actor", Actor)


def actor_of(request: web.Request) -> Actor:
    return request.get(ACTOR_KEY) or Actor("anonymous", request.remote)

"""Who made a request. Without authentication every caller is `anonymous`."""

from __future__ import annotations

from aiohttp import web

from workflowdev.engine.actor import Actor

ACTOR_KEY = "workflowdev.actor"


def actor_of(request: web.Request) -> Actor:
    actor = request.get(ACTOR_KEY)
    if isinstance(actor, Actor):
        return actor
    return Actor("anonymous", request.remote)

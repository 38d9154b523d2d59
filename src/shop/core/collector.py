"""How Python's cyclic garbage collector runs in a serving process.

Reference counting frees nearly everything a request allocates as soon as it is done with; the
collector is only for cycles. CPython walks its youngest generation whenever 700 more container
objects have been allocated than freed, and the requests one worker has in flight hold more than
that between them: under 32 connections of `GET /auth/me`, about 300 collections a second walked
that live state, promoted it to the older generations and walked it again there, and found nothing
to free; 7-8 % of the worker's CPU (issue #25, measured with `gc.callbacks`; docs/PERFORMANCE.md)."""

from __future__ import annotations

import gc

# Container objects allocated, net of those freed, before the youngest generation is collected:
# above what the requests in flight hold, so that it is cycles left behind that start a collection
# (an exception's traceback, say), not the live state of requests. A few MB of such garbage at most.
YOUNG_GENERATION_THRESHOLD = 10_000


def settle_for_serving() -> None:
    """Before a process serves: everything built so far (the app, its routes and schemas, the
    libraries) lives as long as the process, so it is taken out of the collector's sight and a full
    collection no longer walks it on the request path (it cost several per cent of a token refresh);
    and the youngest generation is collected after `YOUNG_GENERATION_THRESHOLD` allocations."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)

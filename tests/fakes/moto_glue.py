"""Make moto's Glue crawls end the way Glue's do, for tests.

moto 5 keeps a crawl RUNNING until its state manager advances it, and then reports the
last crawl as ``COMPLETED``, a crawl *state* of the GetCrawls API; GetCrawler's
``LastCrawl.Status`` is SUCCEEDED, CANCELLED or FAILED in the service model. This
context manager lets crawls finish at once and reports them as SUCCEEDED. It patches
moto (the test double), never the product code. Works for ``mock_aws`` and for a
ThreadedMotoServer in the same process.
"""
from __future__ import annotations

from contextlib import contextmanager

from moto.glue.models import FakeCrawler
from moto.moto_api import state_manager

_LAST_CRAWL_STATUS = {"COMPLETED": "SUCCEEDED", "STOPPED": "CANCELLED"}


@contextmanager
def crawls_succeed(progression: dict | None = None):
    """Within the block, moto crawls finish (``progression``, default at once) and their
    LastCrawl.Status uses Glue's values."""
    original = FakeCrawler.as_dict

    def as_dict(self):
        data = original(self)
        last = data.get("LastCrawl")
        if last and last.get("Status") in _LAST_CRAWL_STATUS:
            last["Status"] = _LAST_CRAWL_STATUS[last["Status"]]
        return data

    FakeCrawler.as_dict = as_dict
    state_manager.set_transition("glue::crawl", progression or {"progression": "immediate"})
    try:
        yield
    finally:
        state_manager.unset_transition("glue::crawl")
        FakeCrawler.as_dict = original

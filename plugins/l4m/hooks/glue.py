"""Glue for the detector's tables: ensure the database and crawler, run it, check it.

Builds on the amazon provider's :class:`GlueCrawlerHook` (its client, ``get_crawler``,
``create_crawler``, ``start_crawler``). Its ``update_crawler`` compares whole fields with
what Glue describes, and Glue adds defaults (``Exclusions: []`` in every target), so it
would update on every run; :func:`l4m.aws.drift.drift` compares only what we set.
"""
from __future__ import annotations

from airflow.providers.amazon.aws.hooks.glue_crawler import GlueCrawlerHook

from l4m.aws.drift import drift

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


class CrawlFailed(RuntimeError):
    """The crawler's last crawl did not succeed."""


class L4MGlueCrawlerHook(GlueCrawlerHook):
    """:class:`GlueCrawlerHook` plus idempotent database and crawler set-up."""

    def ensure_database(self, request: dict) -> str:
        """Create the database of a CreateDatabase ``request`` unless it exists."""
        name = request["DatabaseInput"]["Name"]
        try:
            self.glue_client.get_database(Name=name)
            return UNCHANGED
        except self.glue_client.exceptions.EntityNotFoundException:
            pass
        try:
            self.glue_client.create_database(**request)
        except self.glue_client.exceptions.AlreadyExistsException:
            return UNCHANGED     # created meanwhile by another run
        self.log.info("Created Glue database %s", name)
        return CREATED

    def ensure_crawler(self, request: dict) -> str:
        """Create the crawler of a CreateCrawler ``request``, or update it when it drifted."""
        name = request["Name"]
        if not self.has_crawler(name):
            self.create_crawler(**request)
            return CREATED
        changed = drift(request, self.get_crawler(name))
        if not changed:
            return UNCHANGED
        self.log.info("Crawler %s differs in %s: updating it", name, ", ".join(changed))
        self.glue_client.update_crawler(**request)
        return UPDATED

    def start_or_join(self, name: str) -> str:
        """Start a crawl; a crawl already running is joined instead ("started"/"joined")."""
        try:
            self.start_crawler(name)
            return "started"
        except self.glue_client.exceptions.CrawlerRunningException:
            self.log.info("Crawler %s is already running: waiting for that crawl", name)
            return "joined"

    def last_crawl(self, name: str) -> dict:
        """The crawler's finished last crawl; raise :class:`CrawlFailed` unless it succeeded."""
        crawl = self.get_crawler(name).get("LastCrawl") or {}
        if crawl.get("Status") != "SUCCEEDED":
            raise CrawlFailed(f"Glue crawler {name}: last crawl {crawl.get('Status', 'missing')}"
                              f" — {crawl.get('ErrorMessage') or 'no error message'} "
                              f"(log group {crawl.get('LogGroup')}, stream {crawl.get('LogStream')})")
        return crawl

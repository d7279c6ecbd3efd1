"""A moto server on 127.0.0.1 for tests, with the process-wide state around it reset.

moto keeps its backends per process and Airflow caches the object store (s3fs
filesystem) per connection, so a server started by one test would otherwise leak its
buckets and its endpoint into the next. :func:`moto_endpoint` clears both on the way
in and out.
"""
from __future__ import annotations

import json
import urllib.request
from contextlib import contextmanager

import pytest
from moto.server import ThreadedMotoServer

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


def forget_object_stores() -> None:
    """Drop Airflow's cached object stores and s3fs' cached filesystems."""
    import s3fs

    try:
        from airflow.sdk.io import store
    except ImportError:          # Airflow 2
        from airflow.io import store
    store._STORE_CACHE.clear()
    s3fs.S3FileSystem.clear_instance_cache()


def connection(endpoint: str, **extra) -> str:
    """``AIRFLOW_CONN_AWS_DEFAULT`` for ``endpoint`` (more ``extra`` fields allowed)."""
    return json.dumps({"conn_type": "aws", "extra": {
        "endpoint_url": endpoint, "region_name": "us-east-1", **extra}})


@contextmanager
def moto_endpoint(set_env: bool = True):
    """Start a moto server; yield its URL. With ``set_env`` the AWS credentials and the
    ``aws_default`` connection point at it for the duration."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    forget_object_stores()
    try:
        with pytest.MonkeyPatch.context() as env:
            if set_env:
                for key, value in {**CREDENTIALS,
                                   "AIRFLOW_CONN_AWS_DEFAULT": connection(url)}.items():
                    env.setenv(key, value)
            yield url
    finally:
        reset(url)
        forget_object_stores()
        server.stop()


def reset(url: str) -> None:
    """Forget every resource of the moto server at ``url`` (all its backends)."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))

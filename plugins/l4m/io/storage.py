"""Whole-file writes and reads on a local folder or an object store, alike.

Paths are either :class:`pathlib.Path` (the CLI) or Airflow's ``ObjectStoragePath``
(operators and hooks; ``file://`` or ``s3://``). Local writes go through a temporary
file and a rename (:mod:`l4m.io.atomic`); an object store PUT is already atomic, so
remote writes are one ``write_bytes``. The one update of an existing file,
:func:`write_keeping_prefix`, writes a new whole file from the old one's first bytes
(a kernel copy locally, a server-side copy on S3) and replaces it atomically.
"""
from __future__ import annotations

import os
from contextlib import contextmanager, suppress
from pathlib import Path

from .atomic import write_atomic, write_bytes_atomic

LOCAL_PROTOCOLS = ("file", "local", "")
#: S3's smallest part (but the last) of a multipart upload, and its largest
MIN_COPY_PART, MAX_PART = 5 * 2**20, 5 * 2**30


def local(path) -> Path | None:
    """The local filesystem path behind ``path``, or None for an object store."""
    if isinstance(path, Path) and not hasattr(path, "protocol"):
        return path
    if _protocol(path) in LOCAL_PROTOCOLS:
        return Path(getattr(path, "path", str(path)))
    return None


def _protocol(path) -> str:
    """``file``, ``s3``… of an ObjectStoragePath (its first name for the scheme)."""
    protocol = getattr(path, "protocol", "")
    return protocol[0] if isinstance(protocol, (tuple, list)) else protocol


@contextmanager
def named(path):
    """Put ``path`` in front of an ``OSError`` that does not name it (s3fs's errors carry
    S3's message, ``InternalError``, ``Access Denied``, but not the object's key)."""
    try:
        yield
    except OSError as exc:
        if str(path) in str(exc):
            raise
        args = ((exc.errno, f"{path}: {exc.strerror}") if exc.errno is not None
                and exc.strerror else (f"{path}: {exc}",))
        try:
            renamed = type(exc)(*args)
        except TypeError:             # an OSError subclass with another signature
            renamed = OSError(*args)
        raise renamed from exc


def read_bytes(path) -> bytes:
    """The whole content of ``path``; an error names it."""
    with named(path):
        return path.read_bytes()


def write_bytes(path, data: bytes) -> None:
    """Write ``data`` as the whole content of ``path`` (atomic on both kinds of storage)."""
    on_disk = local(path)
    if on_disk is not None:
        write_bytes_atomic(on_disk, data)
    else:
        with named(path):
            path.write_bytes(data)


def write_keeping_prefix(path, prefix: int, tail: bytes) -> None:
    """Replace ``path`` by its own first ``prefix`` bytes followed by ``tail``, atomically.

    Locally the kept bytes are copied into the temporary file in the kernel where it
    can (``os.copy_file_range``), else in 1 MiB chunks. On S3 a prefix of at least
    :data:`MIN_COPY_PART` is copied inside S3 (:func:`_s3_keep_prefix`), so only the tail
    travels; a shorter one, or another object store, gets one PUT of the whole.
    """
    on_disk = local(path)
    if on_disk is None:
        if prefix >= MIN_COPY_PART and s3_location(path) is not None:
            _s3_keep_prefix(path, prefix, tail)
            return
        head = b""
        with named(path):
            if prefix:
                with path.open("rb") as fh:
                    head = fh.read(prefix)
            path.write_bytes(head + tail)
        return

    def fill(dst) -> None:
        if prefix:
            with open(on_disk, "rb") as src:
                _copy_head(src, dst, prefix)
        dst.write(tail)

    write_atomic(on_disk, fill)


def s3_location(path) -> tuple[str | None, str, str] | None:
    """(connection id, bucket, key) of an ``s3://`` ObjectStoragePath, else None."""
    if _protocol(path) not in ("s3", "s3a", "s3n"):
        return None
    conn_id = getattr(path, "conn_id", None) or path.storage_options.get("conn_id")
    bucket = path.bucket.rpartition("@")[2]     # Airflow 2 keeps conn_id@ in the bucket
    return conn_id, bucket, path.key


def _s3_keep_prefix(path, prefix: int, tail: bytes) -> None:
    """Replace an S3 object by its first ``prefix`` bytes and ``tail``, in one multipart
    upload: the prefix copied inside S3 (``UploadPartCopy``), only the tail uploaded.
    The object changes at ``CompleteMultipartUpload``, whole; a failure aborts the upload.

    ObjectStoragePath and s3fs have no ranged server-side copy, hence the amazon
    provider's S3 client here.
    """
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from botocore.exceptions import BotoCoreError, ClientError

    conn_id, bucket, key = s3_location(path)
    client = S3Hook(aws_conn_id=conn_id).get_conn()
    try:
        current = client.head_object(Bucket=bucket, Key=key)
        if current["ContentLength"] < prefix:
            raise OSError(f"{path} has fewer than {prefix} bytes")
        upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    except (BotoCoreError, ClientError) as exc:
        raise OSError(f"{path}: {exc}") from exc
    try:
        pieces = -(-prefix // MAX_PART)
        size = -(-prefix // pieces)               # equal pieces: none under MIN_COPY_PART
        parts = []
        for start in range(0, prefix, size):
            reply = client.upload_part_copy(
                Bucket=bucket, Key=key, UploadId=upload, PartNumber=len(parts) + 1,
                CopySource={"Bucket": bucket, "Key": key},
                CopySourceIfMatch=current["ETag"],        # the object measured above
                CopySourceRange=f"bytes={start}-{min(start + size, prefix) - 1}")
            parts.append({"PartNumber": len(parts) + 1, "ETag": reply["CopyPartResult"]["ETag"]})
        if tail:
            reply = client.upload_part(Bucket=bucket, Key=key, UploadId=upload,
                                       PartNumber=len(parts) + 1, Body=tail)
            parts.append({"PartNumber": len(parts) + 1, "ETag": reply["ETag"]})
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                         MultipartUpload={"Parts": parts})
    except BaseException as exc:
        with suppress(BotoCoreError, ClientError):
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
        if isinstance(exc, (BotoCoreError, ClientError)):
            raise OSError(f"{path}: {exc}") from exc
        raise


def _copy_head(src, dst, size: int) -> None:
    """Copy the first ``size`` bytes of the open file ``src`` to ``dst``."""
    copied = 0
    try:
        while copied < size:
            n = os.copy_file_range(src.fileno(), dst.fileno(), size - copied)
            if n == 0:
                break
            copied += n
        dst.seek(copied)              # the kernel moved the descriptor, not the file object
    except (AttributeError, OSError):  # not Linux, or a filesystem without it: plain copy
        src.seek(copied)
        dst.seek(copied)
        while copied < size and (chunk := src.read(min(2**20, size - copied))):
            dst.write(chunk)
            copied += len(chunk)
    if copied < size:
        raise OSError(f"{src.name} has fewer than {size} bytes")


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def names(folder, pattern: str = "*") -> list[str]:
    """Sorted names of the entries of ``folder`` matching ``pattern`` (none if it is absent)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.glob(pattern) if not p.name.startswith("."))


def open_path(url: str, conn_id: str | None = None):
    """``url`` (a URL, or a local path) as an Airflow ``ObjectStoragePath``; ``s3://``
    through the ``conn_id`` AWS connection."""
    import os

    from l4m.compat import ObjectStoragePath

    if "://" not in str(url):
        url = f"file://{os.path.abspath(url)}"
    if str(url).startswith("s3://"):
        return ObjectStoragePath(url, conn_id=conn_id)
    return ObjectStoragePath(url)


def read_definition(definition: str, conn_id: str | None = None):
    """The validated detector definition (``DetectorSpec``) at a path or URL."""
    from l4m.spec import parse_spec_json

    return parse_spec_json(open_path(definition, conn_id).read_text(encoding="utf-8"),
                           source=str(definition))

"""S3 access for every caller (ingest sources, the SageMaker trainer): clients with deadlines."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from botocore.config import Config

# Deadlines on every AWS call: a hung connection must fail, not block the flow.
S3_CONFIG = Config(
    connect_timeout=10, read_timeout=60, retries={"mode": "standard", "max_attempts": 5}
)


def s3_client():
    """A boto3 S3 client with explicit timeouts and standard retries."""
    import boto3

    return boto3.client("s3", config=S3_CONFIG)


def split_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3:// URI: {uri}")
    return parsed.netloc, parsed.path.lstrip("/")


def object_version(listed: dict) -> str:
    """An object's version as the listing gives it: ETag, size and last-modified time."""
    etag = str(listed["ETag"]).strip('"')
    return f"{etag}:{listed['Size']}:{listed['LastModified'].isoformat()}"


def list_s3_objects(uri: str) -> dict[str, str]:
    """Objects under an s3:// prefix (or the single object): sorted {URI: version}.

    The listing alone says whether an object changed, so unchanged ones are never downloaded.
    """
    bucket, prefix = split_uri(uri)
    pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    found = {
        f"s3://{bucket}/{o['Key']}": object_version(o)
        for page in pages
        for o in page.get("Contents", [])
        if not o["Key"].endswith("/")
    }
    return dict(sorted(found.items()))


def read_s3_head(uri: str, size: int = 64 * 1024) -> bytes:
    """The first SIZE bytes of an object (a ranged GET), e.g. a CSV header."""
    bucket, key = split_uri(uri)
    body = s3_client().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{size - 1}")["Body"]
    return body.read()


def download_s3_file(uri: str, folder: Path) -> str:
    """Stream one object to FOLDER, keeping its file name; return the local path."""
    bucket, key = split_uri(uri)
    target = folder / Path(key).name
    s3_client().download_file(bucket, key, str(target))
    return str(target)

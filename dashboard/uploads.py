"""Decoding and storing files uploaded through ``dcc.Upload``.

An upload arrives as a data URL (``data:<type>;base64,<payload>``). Accepted
files are stored in the uploads folder under the SHA-256 of their bytes, so
the browser only ever stores that digest, and the server resolves it to a
path inside the folder it owns.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ClusterFormatError, InputError
from engine.pathways import PathwaysFile, PathwaysFormatError, parse_pathways

logger = logging.getLogger(__name__)

CLUSTER_SUFFIXES = (".xyz", ".extxyz")
PATHWAYS_SUFFIXES = (".json",)
_DIGEST_PATTERN = re.compile(r"^[0-9a-f]{64}$")


class UploadError(InputError):
    """An uploaded file that cannot be decoded or has an unsupported name."""


@dataclass(frozen=True)
class StoredUpload:
    """An accepted upload, in the form kept in the browser.

    Attributes:
        digest: SHA-256 of the file's bytes, hex.
        suffix: File name suffix that selects the reader, such as ``.xyz``.
        name: File name as uploaded, for display only.
    """

    digest: str
    suffix: str
    name: str

    def to_dict(self) -> dict:
        return {"digest": self.digest, "suffix": self.suffix, "name": self.name}


def decode_upload(contents: str | None, filename: str | None) -> bytes:
    """Return the bytes of a ``dcc.Upload`` data URL.

    Raises:
        UploadError: if nothing was uploaded or the data URL is not base64.
    """
    name = filename or "upload"
    if not contents:
        raise UploadError(f"{name}: no file content was received")
    header, separator, payload = contents.partition(",")
    if not separator or not header.endswith(";base64"):
        raise UploadError(f"{name}: the upload is not a base64 data URL")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise UploadError(f"{name}: the upload is not valid base64 ({error})") from None


def upload_suffix(filename: str | None, allowed: tuple[str, ...]) -> str:
    """Return the suffix of ``filename`` that is in ``allowed``, lower-cased.

    Raises:
        UploadError: for a missing name or another suffix, listing the allowed ones.
    """
    name = (filename or "").lower()
    for suffix in sorted(allowed, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise UploadError(f"{filename or 'upload'}: unsupported file type; upload a {' or '.join(allowed)} file")


def stored_path(folder: Path, digest: str, suffix: str, allowed: tuple[str, ...]) -> Path:
    """Return the path of a stored upload from its digest and suffix.

    Raises:
        UploadError: if the digest is not 64 hex digits or the suffix is not allowed,
            so no value from the browser can point outside ``folder``.
    """
    if not _DIGEST_PATTERN.match(digest or "") or suffix not in allowed:
        raise UploadError(f"invalid stored upload reference {digest!r} with suffix {suffix!r}")
    return folder / f"{digest}{suffix}"


def store_bytes(data: bytes, folder: Path, suffix: str) -> tuple[str, Path]:
    """Write ``data`` to ``folder`` under its SHA-256 and return ``(digest, path)``."""
    digest = hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}{suffix}"
    if not path.is_file():
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)
    return digest, path


def rename_source(error: ClusterFormatError, filename: str) -> ClusterFormatError:
    """Return the same error with the uploaded file name in place of the stored path."""
    return ClusterFormatError(filename, error.problem, error.frame, error.line)


def parse_uploaded_pathways(contents: str | None, filename: str | None) -> tuple[bytes, PathwaysFile]:
    """Decode and validate an uploaded pathways file.

    Returns:
        The file's bytes and the parsed pathways.

    Raises:
        UploadError: for a bad data URL or a name without ``.json``.
        PathwaysFormatError: for content that is not JSON or not a pathways file,
            naming the upload and the field.
    """
    name = filename or "upload"
    upload_suffix(filename, PATHWAYS_SUFFIXES)
    data = decode_upload(contents, filename)
    try:
        decoded = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PathwaysFormatError(f"{name}: not a JSON file ({error})") from None
    return data, parse_pathways(decoded, name)

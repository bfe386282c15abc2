"""Tests of upload decoding and of reading uploaded cluster and pathways files."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from dashboard.context import DashboardContext
from dashboard.pages.data import read_upload
from dashboard.settings import Settings
from dashboard.sources import dataset_table
from dashboard.uploads import (
    CLUSTER_SUFFIXES,
    UploadError,
    decode_upload,
    parse_uploaded_pathways,
    stored_path,
    upload_suffix,
)
from engine.errors import ClusterFormatError, InputError
from engine.pathways import PathwaysFormatError, result_to_dict
from engine.reward import DEFAULT_WEIGHTS
from engine.search import Limits, RewardLookahead, Target, cyclic_pentamer, search

# A water dimer in which water 0 donates one hydrogen bond to water 1.
DIMER = """6
-5.0
O 0.0 0.0 0.0
H 0.9572 0.0 0.0
H -0.2396 0.9267 0.0
O 2.91 0.0 0.0
H 3.496 0.0 0.757
H 3.496 0.0 -0.757
"""

#: Bad cluster files and a piece of the error message each must produce.
BAD_FILES = {
    "empty": (b"", "empty"),
    "truncated": (DIMER.encode()[: DIMER.encode().rindex(b"H 3.496")], "truncated"),
    "wrong_atom_count": (DIMER.replace("6\n", "5\n", 1).encode(), "does not match"),
    "bad_element": (DIMER.replace("O 2.91", "C 2.91").encode(), "only O and H"),
    "binary": (bytes(range(256)) * 4, "not a text file"),
    "nan_coordinate": (DIMER.replace("O 2.91", "O nan").encode(), "not a finite number"),
    "bad_energy": (DIMER.replace("-5.0", "minus-five").encode(), "is not a number"),
}


def data_url(data: bytes, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def context_for(tmp_path: Path) -> DashboardContext:
    return DashboardContext(Settings(cache_dir=tmp_path / "cache", dataset=tmp_path / "unused.xyz"))


def small_pathways() -> dict:
    target = Target(7)
    limits = Limits(max_results=1, max_expansions=100, max_seconds=20)
    model = RewardLookahead(DEFAULT_WEIGHTS)
    result = search(cyclic_pentamer(), target, 2, model, DEFAULT_WEIGHTS, limits)
    return result_to_dict(result, "pentamer", target, 2, model.name, DEFAULT_WEIGHTS, limits)


def test_decode_returns_bytes():
    assert decode_upload(data_url(b"abc"), "a.xyz") == b"abc"


@pytest.mark.parametrize(
    "contents, message",
    [(None, "no file content"), ("", "no file content"), ("plain text", "not a base64 data URL"),
     ("data:text/plain;base64,@@@", "not valid base64")],
)
def test_decode_rejects_bad_data_url(contents, message):
    with pytest.raises(UploadError, match=message):
        decode_upload(contents, "a.xyz")


def test_upload_suffix_accepts_known_types():
    assert upload_suffix("Dimer.XYZ", CLUSTER_SUFFIXES) == ".xyz"
    assert upload_suffix("run.extxyz", CLUSTER_SUFFIXES) == ".extxyz"


def test_upload_suffix_rejects_other_types():
    with pytest.raises(UploadError, match="unsupported file type"):
        upload_suffix("clusters.pdb", CLUSTER_SUFFIXES)


@pytest.mark.parametrize("digest", ["../../etc/passwd", "ABC", "0" * 63, ""])
def test_stored_path_rejects_bad_digest(tmp_path, digest):
    with pytest.raises(UploadError, match="invalid stored upload"):
        stored_path(tmp_path, digest, ".xyz", CLUSTER_SUFFIXES)


def test_stored_path_rejects_other_suffix(tmp_path):
    with pytest.raises(UploadError):
        stored_path(tmp_path, "0" * 64, "/../x", CLUSTER_SUFFIXES)


def test_read_upload_stores_good_file(tmp_path):
    context = context_for(tmp_path)

    stored = read_upload(data_url(DIMER.encode()), "dimer.xyz", context)

    path = stored_path(context.uploads_dir, stored.digest, stored.suffix, CLUSTER_SUFFIXES)
    table = dataset_table(path, source_name=stored.name)
    assert stored.name == "dimer.xyz"
    assert len(table.rows) == 1
    assert table.rows[0]["source"] == "dimer.xyz"
    assert table.rows[0]["n_hbonds"] == 1
    assert table.rows[0]["energy"] == -5.0


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_read_upload_rejects_bad_file(tmp_path, case):
    data, message = BAD_FILES[case]
    context = context_for(tmp_path)

    with pytest.raises(ClusterFormatError) as caught:
        read_upload(data_url(data), f"{case}.xyz", context)

    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{case}.xyz")
    assert list(context.uploads_dir.glob("*.xyz")) == []


def test_read_upload_rejects_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match="unsupported file type"):
        read_upload(data_url(DIMER.encode()), "dimer.txt", context_for(tmp_path))


def test_parse_uploaded_pathways_accepts_good_file():
    content = json.dumps(small_pathways()).encode()

    data, parsed = parse_uploaded_pathways(data_url(content, "application/json"), "run.json")

    assert data == content
    assert len(parsed.pathways) == 1


@pytest.mark.parametrize(
    "content, message",
    [(b"{not json", "not a JSON file"), (b'{"format": "other"}', "not a pathways file"),
     (b"\xff\xfe", "not a JSON file")],
)
def test_parse_uploaded_pathways_rejects_bad_file(content, message):
    with pytest.raises(PathwaysFormatError, match=message):
        parse_uploaded_pathways(data_url(content), "run.json")


def test_parse_uploaded_pathways_rejects_wrong_suffix():
    with pytest.raises(UploadError, match="unsupported file type"):
        parse_uploaded_pathways(data_url(b"{}"), "run.xyz")

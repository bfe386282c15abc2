"""Reader for the HydroNet TFRecord files of water-cluster graphs.

Each record is framed as: an 8-byte little-endian length, the masked CRC-32C
of those 8 bytes, the payload (a serialized ``tf.train.Example``), and the
masked CRC-32C of the payload. Files may be gzip-compressed. The payload is
parsed with the ``protobuf`` package from a message description built at
import time, so TensorFlow is not needed.

Features of each record: ``energy`` (float, kcal/mol), ``n_waters``,
``n_atom``, ``n_bond``, ``atom`` (0 = O, 1 = H, in O, H, H order),
``bond`` (0 = covalent, 1 = hydrogen, one per directed bond) and
``connectivity`` (flattened ``[a0, b0, a1, b1, ...]``, one pair per directed
bond).

The ``bond`` array of the public HydroNet training file is not in the order
of ``connectivity`` (the pairs were sorted and the types were not), so about
half of its stored types are wrong. Because atoms come in O, H, H order, the
reader derives each bond's type instead: covalent exactly when both atoms
belong to the same water (same ``index // 3``).
"""

from __future__ import annotations

import gzip
import logging
import struct
from pathlib import Path
from typing import Iterator

import google_crc32c
import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from engine.errors import ClusterFormatError
from engine.graphs import COVALENT, HYDROGEN_BOND, OXYGEN, AtomicGraph, GraphError

logger = logging.getLogger(__name__)

_MASK_DELTA = 0xA282EAD8
#: Records larger than this are taken as a corrupt length field, bytes.
MAX_RECORD_BYTES = 64 * 1024 * 1024


def _build_example_class():
    """Describe ``tf.train.Example`` and its feature messages for ``protobuf``."""
    proto = descriptor_pb2.FileDescriptorProto(name="hydronet_example.proto", package="hydronet", syntax="proto3")
    field = descriptor_pb2.FieldDescriptorProto

    def add_list(name: str, field_type: int) -> None:
        message = proto.message_type.add(name=name)
        message.field.add(name="value", number=1, type=field_type, label=field.LABEL_REPEATED)

    add_list("BytesList", field.TYPE_BYTES)
    add_list("FloatList", field.TYPE_FLOAT)
    add_list("Int64List", field.TYPE_INT64)

    feature = proto.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, name, type_name in (
        (1, "bytes_list", ".hydronet.BytesList"),
        (2, "float_list", ".hydronet.FloatList"),
        (3, "int64_list", ".hydronet.Int64List"),
    ):
        feature.field.add(
            name=name, number=number, type=field.TYPE_MESSAGE, type_name=type_name, label=field.LABEL_OPTIONAL, oneof_index=0
        )

    features = proto.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=field.TYPE_MESSAGE, type_name=".hydronet.Feature", label=field.LABEL_OPTIONAL)
    features.field.add(
        name="feature", number=1, type=field.TYPE_MESSAGE, type_name=".hydronet.Features.FeatureEntry", label=field.LABEL_REPEATED
    )

    example = proto.message_type.add(name="Example")
    example.field.add(name="features", number=1, type=field.TYPE_MESSAGE, type_name=".hydronet.Features", label=field.LABEL_OPTIONAL)

    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("hydronet.Example"))


Example = _build_example_class()


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _open(path: Path):
    with open(path, "rb") as handle:
        magic = handle.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def iter_records(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """Yield ``(index, payload)`` for each record, checking both CRCs.

    Raises:
        ClusterFormatError: for an empty file, a truncated record, a length
            or payload whose CRC does not match, or a gzip stream that
            cannot be decompressed.
    """
    source = str(path)
    index = 0
    try:
        with _open(Path(path)) as handle:
            while True:
                header = handle.read(12)
                if not header:
                    break
                if len(header) < 12:
                    raise ClusterFormatError(source, f"truncated record header ({len(header)} of 12 bytes)", index)
                length_bytes, length_crc = header[:8], struct.unpack("<I", header[8:])[0]
                if _masked_crc(length_bytes) != length_crc:
                    raise ClusterFormatError(source, "corrupt record length (its CRC does not match)", index)
                (length,) = struct.unpack("<Q", length_bytes)
                if length > MAX_RECORD_BYTES:
                    raise ClusterFormatError(source, f"record length {length} bytes is implausibly large", index)
                payload = handle.read(length)
                footer = handle.read(4)
                if len(payload) < length or len(footer) < 4:
                    raise ClusterFormatError(source, f"truncated record (expected {length} bytes of data)", index)
                if _masked_crc(payload) != struct.unpack("<I", footer)[0]:
                    raise ClusterFormatError(source, "corrupt record data (its CRC does not match)", index)
                yield index, payload
                index += 1
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise ClusterFormatError(source, f"cannot decompress the file ({error})", index) from None
    if index == 0:
        raise ClusterFormatError(source, "the file contains no records")


def _feature_values(features, name: str, kind: str, source: str, index: int) -> list:
    if name not in features:
        raise ClusterFormatError(source, f"feature {name!r} is missing", index)
    feature = features[name]
    if feature.WhichOneof("kind") != kind:
        raise ClusterFormatError(source, f"feature {name!r} is not a {kind}", index)
    return list(getattr(feature, kind).value)


def parse_record(payload: bytes, source: str, index: int) -> tuple[AtomicGraph, float | None]:
    """Parse one serialized example into an atomic graph and its energy (kcal/mol).

    Each undirected bond is kept once (the pair with the smaller first atom,
    or for a hydrogen bond the pair ``(H, O)``); bond types are derived from
    water membership, not read from the ``bond`` feature.
    """
    example = Example()
    try:
        example.ParseFromString(payload)
    except DecodeError as error:
        raise ClusterFormatError(source, f"record is not a valid tf.train.Example ({error})", index) from None
    features = example.features.feature
    atoms = np.asarray(_feature_values(features, "atom", "int64_list", source, index), dtype=np.int64)
    pairs = np.asarray(_feature_values(features, "connectivity", "int64_list", source, index), dtype=np.int64)
    energies = _feature_values(features, "energy", "float_list", source, index) if "energy" in features else []
    if len(pairs) % 2:
        raise ClusterFormatError(source, f"connectivity has an odd number of entries ({len(pairs)})", index)
    pairs = pairs.reshape(-1, 2)
    if len(pairs) and (pairs.min() < 0 or pairs.max() >= len(atoms)):
        raise ClusterFormatError(source, f"connectivity refers to atoms outside 0..{len(atoms) - 1}", index)
    if not np.all((atoms == 0) | (atoms == 1)):
        raise ClusterFormatError(source, "atom types other than 0 (O) and 1 (H)", index)

    # Keep each bond once; the directed copies are redundant.
    lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    unique = np.unique(np.stack([lo, hi], axis=1), axis=0)
    same_water = unique[:, 0] // 3 == unique[:, 1] // 3
    types = np.where(same_water, COVALENT, HYDROGEN_BOND)
    # Orient hydrogen bonds as (H, O) where the pair is one H and one O.
    flip = (types == HYDROGEN_BOND) & (atoms[unique[:, 0]] == OXYGEN) & (atoms[unique[:, 1]] != OXYGEN)
    unique[flip] = unique[flip][:, ::-1]

    energy = float(energies[0]) if energies else None
    try:
        return AtomicGraph(atoms, unique, types), energy
    except GraphError as error:
        raise ClusterFormatError(source, str(error), index) from None


_warned_sources: set[str] = set()


def warn_bond_types_derived(source: str) -> None:
    """Log once per file that bond types are derived from water membership."""
    if source not in _warned_sources:
        _warned_sources.add(source)
        logger.info(
            "%s: bond types are derived from water membership (same water = covalent); "
            "the stored 'bond' feature is not aligned with 'connectivity' in HydroNet files",
            source,
        )

#!/usr/bin/env python3
"""Recomputes ordo's golden vectors from the layouts in docs/ENCODING.md alone.

Independent of the Rust code: if the documentation and the implementation ever disagree, this
fails. Run from anywhere: python3 types/tests/vectors/check_vectors.py
"""
import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def unhex(s):
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def header_layout(h):
    return b"".join([
        struct.pack(">B", 2),
        struct.pack(">Q", h["chain_id"]),
        struct.pack(">Q", h["height"]),
        unhex(h["parent_hash"]),
        struct.pack(">Q", h["timestamp_ms"]),
        struct.pack(">Q", h["epoch"]),
        unhex(h["validator_set_hash"]),
        struct.pack(">Q", h["l1_ref"]["number"]),
        unhex(h["l1_ref"]["hash"]),
        struct.pack(">Q", h["forced_cursor"]["first"]),
        struct.pack(">Q", h["forced_cursor"]["next"]),
        unhex(h["namespaces_root"]),
        struct.pack(">I", h["tx_count"]),
        struct.pack(">Q", h["body_bytes"]),
        unhex(h["proposer"]),
        unhex(h["next_validator_set_hash"]),
    ])


def mth(leaves):
    """RFC 6962 Merkle tree hash over already-hashed leaves."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return sha256(b"\x01", mth(leaves[:k]), mth(leaves[k:]))


def tx_namespace(enc):
    if enc[0] == 1:
        return struct.unpack(">Q", enc[1:9])[0]
    if enc[0] == 2:
        return struct.unpack(">Q", enc[17:25])[0]
    raise ValueError("unknown kind")


def check_headers(failures):
    for case in json.load(open(os.path.join(HERE, "header.json"))):
        layout = header_layout(case["header"])
        if len(layout) != 249 or layout.hex() != case["layout"]:
            failures.append("header layout differs for height %s" % case["header"]["height"])
        if "0x" + sha256(b"ordo.header.v1", layout).hex() != case["hash"]:
            failures.append("header hash differs for height %s" % case["header"]["height"])


def check_trees(failures):
    for i, case in enumerate(json.load(open(os.path.join(HERE, "namespace_tree.json")))):
        groups = {}
        for t in case["txs"]:
            enc = unhex(t["encoding"])
            if "0x" + sha256(b"ordo.tx.v1", enc).hex() != t["id"]:
                failures.append("tx id differs in case %d" % i)
            groups.setdefault(tx_namespace(enc), []).append(sha256(b"\x00", enc))
        leaves = []
        for ns in sorted(groups):
            leaf = struct.pack(">Q", ns) + mth(groups[ns]) + struct.pack(">I", len(groups[ns]))
            leaves.append(sha256(b"\x00", leaf))
        root = sha256(b"\x02", struct.pack(">I", len(leaves)), mth(leaves))
        if "0x" + root.hex() != case["namespaces_root"]:
            failures.append("namespaces root differs in case %d" % i)


def check_certificate(failures):
    case = json.load(open(os.path.join(HERE, "certificate.json")))
    vs = b"".join(
        unhex(v["address"])
        + struct.pack(">Q", v["voting_power"])
        + unhex(v["consensus_key"])
        + unhex(v["bls_key"])
        for v in case["validators"]
    )
    valset = sha256(b"ordo.valset.v1", struct.pack(">I", len(case["validators"])), vs)
    if "0x" + valset.hex() != case["validator_set_hash"]:
        failures.append("validator set hash differs")
    cert = unhex(case["certificate"])
    height, rnd = struct.unpack(">QI", cert[:12])
    batch = cert[12:44]
    msg = b"ordo.attest.v1" + struct.pack(">QQI", case["chain_id"], height, rnd) + batch
    if msg.hex() != case["message"]:
        failures.append("attestation message differs")
    (bitmap_len,) = struct.unpack(">H", cert[44:46])
    if len(cert) != 46 + bitmap_len + 96:
        failures.append("certificate encoding length differs")


def check_frame(failures):
    case = json.load(open(os.path.join(HERE, "frame.json")))
    data = b""
    heights = []
    for e in case["entries"]:
        header = unhex(e["header"])
        heights.append(struct.unpack(">Q", header[9:17])[0])
        body = b"".join(unhex(t) for t in e["txs"])
        (body_bytes,) = struct.unpack(">Q", header[189:197])
        if body_bytes != len(body):
            failures.append("frame entry body_bytes differs from its body")
        cert = unhex(e["certificate"])
        data += header + body + struct.pack(">I", len(cert)) + cert
    frame = b"ORDA" + struct.pack(
        ">BQQQHHI", 2, case["chain_id"], heights[0], heights[-1], 0, 1, len(data)
    ) + data
    frame += sha256(b"ordo.frame.v1", frame)
    if frame.hex() != case["frame"]:
        failures.append("frame bytes differ")
    blob = b"".join(b"\x00" + frame[i:i + 31].ljust(31, b"\x00") for i in range(0, len(frame), 31))
    if blob.hex() != case["blob_prefix"]:
        failures.append("blob packing differs")


def main():
    failures = []
    check_headers(failures)
    check_trees(failures)
    check_certificate(failures)
    check_frame(failures)
    for f in failures:
        print("FAIL:", f)
    if failures:
        sys.exit(1)
    print("golden vectors agree with docs/ENCODING.md")


if __name__ == "__main__":
    main()

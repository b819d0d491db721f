"""Coverage-guided fuzzing of stream entry decoding (atheris/libFuzzer), both forms.

Any stream a reader follows may hold anything someone wrote with ``XADD``: decoding an entry
must give a notification or raise ``ValidationError``, never anything else, and a notification
read from either form must be carried by the msgpack form unchanged.

A short run (``tests/broker/test_fuzz.py`` runs this one)::

    python fuzz/entries.py -runs=5000

A longer run by hand, keeping what it learns in a corpus directory::

    mkdir -p /tmp/jln-corpus && python fuzz/entries.py /tmp/jln-corpus -max_total_time=600

libFuzzer's options (``-help=1``) follow the script name; a crash leaves ``crash-<sha>`` with the
input and exits non-zero, and ``python fuzz/entries.py crash-<sha>`` runs that input again.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["jln_broker"]):
    from jln_broker.errors import ValidationError
    from jln_broker.model import Notification
    from jln_broker.protocol import PAYLOAD_FIELD, decode_entry, encode_entry

NAMES = ("message", "type", "autoClose", "title", "origin", "topic", "link", "actions", "key",
         "expiresAt", "notBefore", "excludeUsers", "pinned", "requireAck", "data", "source",
         PAYLOAD_FIELD)
"""The field names the decoder knows."""


def entry(data: bytes) -> dict[bytes, bytes]:
    """An entry from fuzz bytes: ``\\x00`` then a ``p`` payload, or lines of ``name=value``
    (the flat form), so that valid seeds are easy to write and mutate."""
    if data[:1] == b"\x00":
        return {PAYLOAD_FIELD.encode(): data[1:]}
    return dict(line.partition(b"=")[::2] for line in data.split(b"\n"))


def check(data: bytes) -> None:
    """One input: decoded or refused with a field named; what decodes survives a rewrite."""
    try:
        note = decode_entry(entry(data))
    except ValidationError as err:  # its field may be an unknown one's name, even ""
        assert err.problem and str(err) == f"{err.field}: {err.problem}", err
        return
    try:
        packed = {name.encode(): value for name, value in encode_entry(note).items()}
    except ValidationError:
        return  # a flat entry's JSON may hold what msgpack cannot (refused, named)
    again = decode_entry(packed)
    assert again == note, (note, again)


SEEDS: tuple[Notification, ...] = (
    Notification("plain"),
    Notification("all", type="error", auto_close=False, title="t", link="https://a.b/c",
                 key="k", expires_at=4_000_000_000_000, pinned=True, data={"n": [1, "x"]}),
)


def seed_corpus() -> list[bytes]:
    """Valid entries of both forms, spelled as fuzz inputs, to start from."""
    seeds = [b"\x00" + note.packed for note in SEEDS]
    seeds += [b"\n".join(f"{k}={v}".encode() for k, v in fields.items()) for fields in (
        {"message": "m", "type": "error", "autoClose": "false", "pinned": "1",
         "expiresAt": "2030-01-01T00:00:00Z"},
        {"message": "m", "actions": '[{"label": "Run", "commandId": "a:b", "args": {"n": 1}}]',
         "source": '{"kind": "notebook", "path": "a.ipynb", "cellId": "c1"}',
         "excludeUsers": '["ada"]', "data": '{"x": [1.5, null]}', "extra": "kept"},
    )]
    return seeds


TOKENS = (*NAMES, "true", "false", "null", "[", "{", "}", '":"', "https://", "notebook",
          "terminal", "label", "commandId", "args", "kind", "path", "cellId", "name", "9" * 20)
"""libFuzzer dictionary words: what the decoder compares input against."""


def with_seeds(argv: list[str], directory: Path) -> list[str]:
    """The arguments, plus a corpus of valid entries and a dictionary unless given; as they
    are when they name input files to run again (a crash)."""
    if any(Path(a).is_file() for a in argv[1:] if not a.startswith("-")):
        return argv
    seeds = directory / "seeds"
    seeds.mkdir()
    for i, seed in enumerate(seed_corpus()):
        (seeds / f"seed-{i}").write_bytes(seed)
    words = directory / "entries.dict"
    words.write_text("".join(f"{json.dumps(word)}\n" for word in TOKENS))
    options = [a for a in argv[1:] if a.startswith("-")]
    corpora = [a for a in argv[1:] if not a.startswith("-")]
    defaults = [f"-dict={words}"] if not any(a.startswith("-dict=") for a in options) else []
    if not any(a.startswith("-max_len=") for a in options):
        defaults.append("-max_len=2048")
    return [argv[0], *defaults, *options, *(corpora or [str(directory / "corpus")]), str(seeds)]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="jln-fuzz-") as scratch:
        directory = Path(scratch)
        (directory / "corpus").mkdir()
        atheris.Setup(with_seeds(sys.argv, directory), check)
        atheris.Fuzz()


if __name__ == "__main__":
    main()

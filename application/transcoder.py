"""orjson transcoder for stored events (eventsourcing-orjsontranscoder does not install on 3.11).

Datetimes and Decimals are tagged like the library's JSONTranscoder ({"_type_", "_data_"}) so
they come back as the same types; Decimals are never handed to orjson as numbers.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import Transcoder

# Non-str keys: state dicts may be keyed by str enums (they come back as plain str, which
# compares and hashes the same).
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _default(obj: Any) -> dict[str, str]:
    if isinstance(obj, datetime):
        return {"_type_": "datetime_iso", "_data_": obj.isoformat()}
    if isinstance(obj, Decimal):
        return {"_type_": "decimal_str", "_data_": str(obj)}
    if isinstance(obj, set | frozenset):
        return {"_type_": "set", "_data_": sorted(obj)}
    raise TypeError(f"cannot store {type(obj).__name__} in an event")


_DECODERS = {"datetime_iso": datetime.fromisoformat, "decimal_str": Decimal, "set": set}


_NESTED = (dict, list)


def _revive(value: Any) -> Any:
    # Scalars are kept without a call each: every event the views and the policy read passes
    # here, and most of its values are scalars.
    if isinstance(value, dict):
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return _DECODERS[value["_type_"]](value["_data_"])
        return {k: _revive(v) if type(v) in _NESTED else v for k, v in value.items()}
    if isinstance(value, list):
        return [_revive(v) if type(v) in _NESTED else v for v in value]
    return value


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=_default, option=_OPTIONS)

    def decode(self, data: bytes) -> Any:
        return _revive(orjson.loads(data))

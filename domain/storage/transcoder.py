"""An orjson transcoder for stored events.

The library's default JSON transcoder treats any `{"_type_": …, "_data_": …}` dict as a type
envelope, so user metadata of that shape would corrupt the aggregate. Metadata is plain JSON;
the only non-JSON values in our events are the library's own timestamps, restored here.
"""

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import Transcoder

# Datetime fields the library puts in events and snapshot state.
_EVENT_DATETIMES = ("timestamp",)
_SNAPSHOT_DATETIMES = ("_created_on", "_modified_on")


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        obj = orjson.loads(data)
        _restore_datetimes(obj, _EVENT_DATETIMES)
        state = obj.get("state")
        if isinstance(state, dict):
            _restore_datetimes(state, _SNAPSHOT_DATETIMES)
        return obj


def _restore_datetimes(obj: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        value = obj.get(name)
        if isinstance(value, str):
            obj[name] = datetime.fromisoformat(value)

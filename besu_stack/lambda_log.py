"""Structured JSON logging for the Lambda functions: one JSON object per line on standard output.

Lambda sends standard output to CloudWatch Logs, where one line is one event and Logs Insights
parses JSON fields (``slot``, ``decision``, ``reasons``, ...). Shipped in every function's
package (``besu_stack.lambda_package.DEFAULT_SHARED_PACKAGES``). Callers pass public data only
(slots, names, addresses, counts): no function hands key material to the logger. Writes are
serialized, since the health checker logs from several threads.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TextIO


class JsonLogger:
    """A minimal structured logger writing ``{"level", "logger", "message", ...fields}`` lines."""

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self._name = name
        self._stream = stream
        self._lock = threading.Lock()

    def _emit(self, level: str, message: str, fields: dict[str, object]) -> None:
        record: dict[str, object] = {
            "timestamp": round(time.time(), 3),
            "level": level,
            "logger": self._name,
            "message": message,
        }
        record.update(fields)
        line = json.dumps(record, default=str) + "\n"
        stream = self._stream if self._stream is not None else sys.stdout
        with self._lock:
            stream.write(line)
            stream.flush()

    def info(self, message: str, **fields: object) -> None:
        """Log an informational event."""
        self._emit("INFO", message, fields)

    def warning(self, message: str, **fields: object) -> None:
        """Log a condition an operator should look at."""
        self._emit("WARNING", message, fields)

    def error(self, message: str, **fields: object) -> None:
        """Log a failure."""
        self._emit("ERROR", message, fields)

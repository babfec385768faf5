"""Run parsedmarc offline over files and print its JSON: ``python parsedmarc_reading.py FILE...``.

A child process so that the reading is parsedmarc's own, as its users get it: in UTC (its dates
are local time), with sockets refused (no DNS or IP database download), with the settings the
corpus oracle used (``expected.json``'s ``settings``), and whatever it logs kept off our output.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time


def _refuse(*args: object, **kwargs: object) -> None:
    raise OSError("network refused in the parsedmarc reference run")


def main(paths: list[str]) -> None:
    os.environ["TZ"] = "UTC"
    time.tzset()
    socket.socket.connect = _refuse  # type: ignore[method-assign]
    socket.getaddrinfo = _refuse  # type: ignore[assignment]
    logging.disable(logging.CRITICAL)
    import parsedmarc

    out = {}
    for path in paths:
        try:
            parsed = parsedmarc.parse_report_file(
                path,
                offline=True,
                always_use_local_files=True,
                nameservers=["127.0.0.1"],
                dns_timeout=0.5,
                dns_retries=0,
                normalize_timespan_threshold_hours=1e9,
            )
        except Exception as exc:  # parsedmarc's many error types: the file is not read
            out[path] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        out[path] = {"report_type": parsed["report_type"], "report": parsed["report"]}
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv[1:])

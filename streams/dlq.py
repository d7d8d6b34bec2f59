"""The dead-letter helper lives in ``runtime.dlq`` (the sink uses it too, and sinks sit
above streams in the data path); this name stays for the stream jobs' imports."""

from runtime.dlq import (
    DLQ_RECORDS,
    DlqRecord,
    count_dead_letter,
    dead_letter_record,
    decode_or_dead_letter,
)

__all__ = ["DLQ_RECORDS", "DlqRecord", "count_dead_letter", "dead_letter_record",
           "decode_or_dead_letter"]

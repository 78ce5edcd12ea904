"""Where conversations are kept: the tracker store (redaction, retention, incremental reads), and the
insights rows written with each message."""

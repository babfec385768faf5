"""dmarctui: triage DMARC reports from a mail folder in the terminal."""

__version__ = "0.1.0"

"""Web Messaging, Genesys' current guest protocol (docs/messaging-protocol.md).

This package holds the wire format (:mod:`._wire`) and the pure protocol core
(:mod:`._protocol`) of a Web Messaging guest session. Its public session class is not
released yet: nothing is exported here until it is.
"""

from __future__ import annotations

__all__: list[str] = []

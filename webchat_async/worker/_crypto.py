"""Encryption of the secrets a fleet's store writes (the guest JWT and the stream URI).

:class:`Encryption` holds Fernet keys (``cryptography``, the ``encryption`` extra): the
first key encrypts, every key decrypts (``MultiFernet``), so keys rotate by putting a new
one first and keeping the old ones until every stored chat was written again. A store
with keys writes each secret field as ``fernet:<token>`` (:data:`SEALED`); the rest of the
saved session (ids, the delivery position) stays readable JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from .._saved import SavedSession
from ._model import DecryptionError, StoreError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

__all__ = ["SEALED", "Encryption", "open_saved", "seal_saved", "seal_text"]

#: What an encrypted field (or an encrypted whole text) starts with in the store.
SEALED = "fernet:"


def _fernet_classes() -> tuple[type, type]:
    try:
        from cryptography.fernet import Fernet, MultiFernet
    except ImportError:  # pragma: no cover - depends on the environment
        raise StoreError(
            "store encryption needs cryptography: pip install 'webchat-async[encryption]'"
        ) from None
    return Fernet, MultiFernet


class Encryption:
    """Keys that encrypt the guest credentials a :class:`~webchat_async.worker.RedisStore`
    writes (Fernet: AES-128-CBC with HMAC-SHA256, from ``cryptography``).

    Args:
        keys: Fernet keys (:meth:`generate_key`), newest first. The first encrypts; all of
            them decrypt. To rotate, put the new key first and keep the old ones until
            every chat was written again under the new one (each chat's next commit does
            it; a chat that is not written for ``retention`` seconds expires anyway).

    The keys are secrets: they are never part of a ``repr`` or of an error message.
    Raises ``ValueError`` for a key that is not a Fernet key and
    :class:`~webchat_async.worker.StoreError` when ``cryptography`` is not installed.
    """

    __slots__ = ("_count", "_fernet")

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if isinstance(keys, (str, bytes)):
            raise TypeError("keys is a list of keys, newest first: Encryption([key])")
        if not keys:
            raise ValueError("Encryption needs at least one key")
        fernet_class, multi_class = _fernet_classes()
        fernets = []
        for number, key in enumerate(keys, 1):
            try:
                fernets.append(fernet_class(key))
            except (TypeError, ValueError):
                # Not the library's message: it could one day quote the key.
                raise ValueError(
                    f"encryption key {number} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes: Encryption.generate_key())"
                ) from None
        self._fernet: MultiFernet = multi_class(fernets)
        self._count = len(fernets)

    def __repr__(self) -> str:
        return f"<Encryption keys={self._count}>"

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key (text: keep it where you keep passwords)."""
        fernet_class, _ = _fernet_classes()
        key: bytes = fernet_class.generate_key()  # type: ignore[attr-defined]
        return key.decode("ascii")

    def encrypt(self, text: str) -> str:
        """``text`` encrypted under the first key, as ``fernet:<token>``."""
        return SEALED + self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, sealed: str) -> str:
        """What :meth:`encrypt` wrote, under any of the keys; :class:`DecryptionError`
        when none of them fits (or the text was altered)."""
        from cryptography.fernet import InvalidToken

        if not sealed.startswith(SEALED):
            raise DecryptionError("the stored value is not an encrypted one")
        try:
            return self._fernet.decrypt(sealed[len(SEALED) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            # Neither the token nor a key in the message: both are secrets.
            raise DecryptionError(
                "a stored secret could not be decrypted with the encryption keys given "
                "(a wrong or missing key, or altered data)"
            ) from None


def seal_saved(saved: SavedSession, encryption: Encryption | None) -> SavedSession:
    """``saved`` with its secrets encrypted (unchanged without keys or if already sealed)."""
    if encryption is None or saved.jwt.startswith(SEALED):
        return saved
    return attrs.evolve(
        saved,
        jwt=encryption.encrypt(saved.jwt),
        event_stream_uri=encryption.encrypt(saved.event_stream_uri),
    )


def seal_text(text: str, encryption: Encryption | None) -> str:
    """A saved session's JSON as the store writes it: its secret fields encrypted. The
    fast path (text from a template made by :func:`seal_saved`) is one substring test; a
    text that is not a saved session (a Web Messaging chat's record, whose token is its
    secret) is encrypted whole."""
    if encryption is None or not text or text.startswith(SEALED) or '"jwt":"' + SEALED in text:
        # Empty: a commit that keeps the stored text; sealed whole: already done.
        return text
    try:
        saved = SavedSession.from_json(text)
    except ValueError:
        return encryption.encrypt(text)
    return seal_saved(saved, encryption).to_json()


def open_saved(text: str, encryption: Encryption | None, conversation_id: str) -> str:
    """The saved session's JSON in clear, from what the store holds (either form, or
    plaintext written before keys were set)."""
    if text.startswith(SEALED):
        return _cipher(encryption, conversation_id).decrypt(text)
    if SEALED not in text:
        return text
    try:
        saved = SavedSession.from_json(text)
    except ValueError:
        return text  # not a saved session: the worker reports it unreadable
    cipher = _cipher(encryption, conversation_id)
    jwt, uri = saved.jwt, saved.event_stream_uri
    return attrs.evolve(
        saved,
        jwt=cipher.decrypt(jwt) if jwt.startswith(SEALED) else jwt,
        event_stream_uri=cipher.decrypt(uri) if uri.startswith(SEALED) else uri,
    ).to_json()


def _cipher(encryption: Encryption | None, conversation_id: str) -> Encryption:
    if encryption is None:
        raise DecryptionError(
            f"chat {conversation_id} is stored encrypted and this store has no encryption keys"
        )
    return encryption

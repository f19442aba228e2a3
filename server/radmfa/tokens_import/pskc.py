"""PSKC (RFC 6030) key containers: plain, pre-shared-key and PBKDF2 encrypted.

The XML is parsed with defusedxml and DTDs refused outright, so no entity
is ever expanded (billion laughs) and no external entity fetched (XXE).
Elements are matched by local name: RFC 6030's own Figure 7 puts the
PBKDF2 parameters in no namespace at all.

Encrypted values are AES-CBC with the IV as the first 16 octets (RFC 6030
§6.1, XML Encryption §5.2.1); each carries a ValueMAC, an HMAC over IV and
ciphertext with the MACKey (§6.1.1), checked before the value is used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from radmfa.core.admin_model import HardwareToken
from radmfa.tokens_import import ImportFileError, checked

_AES_CBC = {
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc": 16,
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc": 24,
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc": 32,
}
_HMAC = {
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1": "sha1",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha224": "sha224",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha384": "sha384",
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512": "sha512",
}
MAX_ITERATIONS = 10_000_000  # a hostile file must not keep PBKDF2 busy for hours


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(el: Element, name: str) -> Iterator[Element]:
    return (c for c in el if _local(c.tag) == name)


def _child(el: Element | None, *path: str) -> Element | None:
    for name in path:
        if el is None:
            return None
        el = next(_children(el, name), None)
    return el


def _text(el: Element | None, *path: str) -> str | None:
    found = _child(el, *path) if path else el
    return None if found is None or found.text is None else found.text.strip()


def _b64(text: str | None, what: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise ImportFileError(f"{what} is not valid base64") from None


class _Container:
    def __init__(self, root: Element, where: str, psk: bytes | None, password: str | None) -> None:
        self.where = where
        encrypted = _child(root, "EncryptionKey") is not None
        if (psk is not None or password is not None) and not encrypted:
            # The admin expects protected seeds; a file swapped for a plain
            # one (no EncryptionKey, so no MAC either) must not slip through.
            raise ImportFileError(
                f"{where}: a key was given (--psk/--password) but the file has no EncryptionKey: its seeds are "
                "neither encrypted nor MAC-protected; nothing was imported"
            )
        self.key = self._encryption_key(root, psk, password)
        self.mac_key: bytes | None = None
        self.mac_digest = "sha1"
        method = _child(root, "MACMethod")
        if method is not None:
            algorithm = method.get("Algorithm", "")
            if algorithm not in _HMAC:
                raise ImportFileError(f"{where}: MACMethod {algorithm!r} is not supported")
            self.mac_digest = _HMAC[algorithm]
            mac_key = _child(method, "MACKey")
            if mac_key is None:
                raise ImportFileError(f"{where}: MACMethod has no MACKey")
            self.mac_key = self._decrypt(mac_key, "the MAC key")

    def _encryption_key(self, root: Element, psk: bytes | None, password: str | None) -> bytes | None:
        enc = _child(root, "EncryptionKey")
        if enc is None:
            return None
        derived = _child(enc, "DerivedKey")
        if derived is None:
            if psk is None:
                name = _text(enc, "KeyName") or "unnamed"
                raise ImportFileError(
                    f"{self.where}: the seeds are encrypted with a pre-shared key ({name!r}): give --psk HEX"
                )
            return psk
        if password is None:
            name = _text(derived, "MasterKeyName") or "unnamed"
            raise ImportFileError(f"{self.where}: the seeds are encrypted with a password ({name!r}): give --password")
        return self._pbkdf2(derived, password)

    def _pbkdf2(self, derived: Element, password: str) -> bytes:
        # RFC 6030 §6.2, PKCS #5 v2.0 PBKDF2 (RFC 8018 §5.2).
        method = _child(derived, "KeyDerivationMethod")
        if method is None or not method.get("Algorithm", "").endswith("#pbkdf2"):
            raise ImportFileError(f"{self.where}: only PBKDF2 password-based keys are supported")
        params = _child(method, "PBKDF2-params")
        salt = _b64(_text(params, "Salt", "Specified"), f"{self.where}: PBKDF2 salt")
        try:
            iterations = int(_text(params, "IterationCount") or "")
            length = int(_text(params, "KeyLength") or "16")
        except ValueError:
            raise ImportFileError(f"{self.where}: PBKDF2 IterationCount/KeyLength is not a number") from None
        if not salt or not 1 <= iterations <= MAX_ITERATIONS or length not in (16, 24, 32):
            raise ImportFileError(f"{self.where}: incomplete or out-of-range PBKDF2 parameters")
        prf = _child(params, "PRF")
        digest = _HMAC.get(prf.get("Algorithm", "") if prf is not None else "", "sha1")
        return hashlib.pbkdf2_hmac(digest, password.encode("utf-8"), salt, iterations, length)

    def _decrypt(self, holder: Element, what: str, mac: bytes | None = None) -> bytes:
        """Decrypt the EncryptionMethod + CipherData under ``holder``, checking ``mac`` first."""
        method = _child(holder, "EncryptionMethod")  # (an Element with no children is falsy)
        algorithm = method.get("Algorithm", "") if method is not None else ""
        if algorithm not in _AES_CBC:
            raise ImportFileError(f"{self.where}: {what}: encryption {algorithm or 'missing'!r} is not supported")
        if self.key is None:
            raise ImportFileError(f"{self.where}: {what} is encrypted but the file has no EncryptionKey")
        if len(self.key) != _AES_CBC[algorithm]:
            raise ImportFileError(
                f"{self.where}: {what}: the key must be {_AES_CBC[algorithm]} bytes for {algorithm.rpartition('#')[2]}"
            )
        data = _b64(_text(holder, "CipherData", "CipherValue"), f"{self.where}: {what}")
        if mac is not None:
            self._check_mac(data, mac, what)
        if len(data) < 32 or len(data) % 16:
            raise ImportFileError(f"{self.where}: {what}: ciphertext has a wrong length")
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(data[:16])).decryptor()
        padded = decryptor.update(data[16:]) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise ImportFileError(
                f"{self.where}: {what} does not decrypt: wrong --psk or --password?; nothing was imported"
            ) from None

    def _check_mac(self, data: bytes, mac: bytes, what: str) -> None:
        assert self.mac_key is not None
        expected = hmac.digest(self.mac_key, data, self.mac_digest)
        if not hmac.compare_digest(expected, mac):
            raise ImportFileError(
                f"{self.where}: {what}: MAC check failed: the file was altered or the key or password "
                "is wrong; nothing was imported"
            )

    def value(self, data: Element | None, name: str, what: str) -> bytes | None:
        """The plain or decrypted content of Data/<name>, or None when absent."""
        el = _child(data, name)
        if el is None:
            return None
        plain = _child(el, "PlainValue")
        if plain is not None and name == "Secret" and self.key is not None:
            # In an encrypted container only an EncryptedValue carries a
            # ValueMAC: a plain secret there is one nobody vouches for (a
            # seed swapped in by whoever altered the file, RFC 6030 §6.1.1).
            raise ImportFileError(
                f"{self.where}: {what}: a plain secret in an encrypted container is refused (not MAC-protected); "
                "nothing was imported"
            )
        if plain is not None:
            return _b64(plain.text, f"{self.where}: {what}") if name == "Secret" else (plain.text or "").encode()
        encrypted = _child(el, "EncryptedValue")
        if encrypted is None:
            raise ImportFileError(f"{self.where}: {what} has neither PlainValue nor EncryptedValue")
        mac_text = _text(el, "ValueMAC")
        if mac_text is None or self.mac_key is None:
            # RFC 6030 §6.1.1: CBC has no integrity check, so a MAC is required.
            raise ImportFileError(f"{self.where}: {what} is encrypted without a ValueMAC and MACMethod")
        raw = self._decrypt(encrypted, what, _b64(mac_text, f"{self.where}: {what} ValueMAC"))
        return raw if name == "Secret" else str(int.from_bytes(raw, "big")).encode()


def read_pskc(
    data: bytes, *, where: str, psk: bytes | None = None, password: str | None = None
) -> list[HardwareToken]:
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, defusedxml.DefusedXmlException) as e:
        raise ImportFileError(f"{where}: not a safe, well-formed PSKC XML file: {e}") from None
    if _local(root.tag) != "KeyContainer" or root.get("Version") != "1.0":
        raise ImportFileError(f"{where}: not a PSKC 1.0 KeyContainer (RFC 6030)")
    container = _Container(root, where, psk, password)
    tokens = []
    for package in _children(root, "KeyPackage"):
        keys = list(_children(package, "Key"))
        device_serial = _text(package, "DeviceInfo", "SerialNo")
        for key in keys:
            serial = device_serial if device_serial and len(keys) == 1 else key.get("Id", "")
            tokens.append(checked(_token(container, package, key, serial or ""), where))
    if not tokens:
        raise ImportFileError(f"{where}: the container holds no keys")
    return tokens


def _token(container: _Container, package: Element, key: Element, serial: str) -> HardwareToken:
    what = f"token {serial!r}"
    algorithm = key.get("Algorithm", "")
    kind = "hotp" if algorithm.endswith("hotp") else "totp" if algorithm.endswith("totp") else algorithm
    fmt = _child(key, "AlgorithmParameters", "ResponseFormat")
    if fmt is not None and fmt.get("Encoding", "DECIMAL") != "DECIMAL":
        raise ImportFileError(f"{container.where}: {what}: only DECIMAL responses are supported")
    suite = (_text(key, "AlgorithmParameters", "Suite") or "").lower().replace("-", "")
    digest = next((d for d in ("sha512", "sha256") if d in suite), "sha1")
    data = _child(key, "Data")
    secret = container.value(data, "Secret", what)
    if secret is None:
        raise ImportFileError(f"{container.where}: {what} has no secret")
    try:
        counter = int(container.value(data, "Counter", what) or b"0")
        period = int(container.value(data, "TimeInterval", what) or b"30")
        digits = int(fmt.get("Length", "6")) if fmt is not None else 6
    except ValueError:
        raise ImportFileError(f"{container.where}: {what}: Counter, TimeInterval or Length is not a number") from None
    return HardwareToken(
        serial=serial, kind=kind, secret=secret, digits=digits, period=period, algorithm=digest,
        counter=counter, label=_text(package, "DeviceInfo", "Manufacturer"),
    )

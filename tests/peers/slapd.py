"""A private OpenLDAP slapd, run as a real process for tests.

Each start writes a slapd.conf (old-style, one file) into a fresh temporary
directory with an mdb database under it, loads the test entries with
slapadd while the server is down, and starts slapd in the foreground on free
TCP ports: one ``ldap://`` (StartTLS offered) and one ``ldaps://``. The TLS
certificate is made for the test by a throw-away CA (``cryptography``); a
second, unrelated CA is written too, for "a wrong CA is refused" tests.

Nothing under /etc or /var is read or written, so the system slapd (stopped
by scripts/setup.sh) and other instances never collide with this one.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BASE_DN = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{BASE_DN}"
ROOT_PW = "admin-pw"  # noqa: S105  (test peer only)
SERVICE_DN = f"cn=radmfa,ou=services,{BASE_DN}"
SERVICE_PW = "service-pw"  # noqa: S105  (test peer only)
PEOPLE = f"ou=people,{BASE_DN}"
GROUPS = f"ou=groups,{BASE_DN}"
VPN_GROUP = f"cn=vpn,{GROUPS}"
MODULE_PATH = "/usr/lib/ldap"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
START_TIMEOUT = 60.0  # generous: a busy machine (CI shares two cores)


class SlapdError(RuntimeError):
    """slapd could not be configured, loaded or started."""


@dataclass(frozen=True)
class LdapPerson:
    """One inetOrgPerson under ou=people (uid=<uid>)."""

    uid: str
    password: str
    given_name: str = "Test"
    surname: str = "Person"
    mail: str | None = None
    mobile: str | None = None
    phone: str | None = None
    language: str | None = None
    groups: Sequence[str] = ()  # cn of groups under ou=groups

    @property
    def dn(self) -> str:
        return f"uid={escape_dn_value(self.uid)},{PEOPLE}"


ALICE = LdapPerson("alice", "alice-pw", "Alice", "Liddell", "alice@example.org", "+15550001", "+15551001", "en",
                   groups=("vpn",))
BOB = LdapPerson("bob", "bob-pw", "Bob", "Builder", "bob@example.org", "+15550002", groups=())
STAR = LdapPerson("star*user", "star-pw", "Star", "User", groups=("vpn",))
STANDARD_PEOPLE = (ALICE, BOB, STAR)


def escape_dn_value(value: str) -> str:
    """RFC 4514 §2.4, enough for the test data."""
    out = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
    if out.startswith((" ", "#")):
        out = "\\" + out
    return out


def free_tcp_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class TestPki:
    """A CA, a server certificate for 127.0.0.1/localhost, and an unrelated CA."""

    directory: Path
    ca_file: Path = field(init=False)
    wrong_ca_file: Path = field(init=False)
    cert_file: Path = field(init=False)
    key_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.ca_file = self.directory / "ca.pem"
        self.wrong_ca_file = self.directory / "wrong-ca.pem"
        self.cert_file = self.directory / "server.pem"
        self.key_file = self.directory / "server.key"
        ca_key, ca_cert = _ca("radmfa test CA")
        _, wrong_cert = _ca("radmfa unrelated CA")
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        self.ca_file.write_bytes(ca_cert.public_bytes(pem))
        self.wrong_ca_file.write_bytes(wrong_cert.public_bytes(pem))
        self.cert_file.write_bytes(cert.public_bytes(pem))
        self.key_file.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )


def _ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def render_ldif(people: Sequence[LdapPerson]) -> str:
    blocks = [
        f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: ou=services,{BASE_DN}\nobjectClass: organizationalUnit\nou: services",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups",
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: radmfa\nuserPassword: {SERVICE_PW}",
    ]
    blocks += [render_person(p) for p in people]
    groups = sorted({g for p in people for g in p.groups} | {"vpn"})
    for g in groups:
        members = [p.dn for p in people if g in p.groups] or [SERVICE_DN]  # groupOfNames needs one
        lines = [f"dn: cn={g},{GROUPS}", "objectClass: groupOfNames", f"cn: {g}"]
        lines += [f"member: {m}" for m in members]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def render_person(p: LdapPerson) -> str:
    lines = [
        f"dn: {p.dn}", "objectClass: inetOrgPerson", f"uid: {p.uid}", f"cn: {p.given_name} {p.surname}",
        f"givenName: {p.given_name}", f"sn: {p.surname}", f"userPassword: {p.password}",
    ]
    for attr, value in (("mail", p.mail), ("mobile", p.mobile), ("telephoneNumber", p.phone),
                        ("preferredLanguage", p.language)):
        if value is not None:
            lines.append(f"{attr}: {value}")
    return "\n".join(lines)


def render_conf(d: Path, pki: TestPki) -> str:
    includes = "\n".join(f"include /etc/ldap/schema/{s}.schema" for s in SCHEMAS)
    return f"""{includes}
modulepath {MODULE_PATH}
moduleload back_mdb
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
TLSCACertificateFile {pki.ca_file}
TLSCertificateFile {pki.cert_file}
TLSCertificateKeyFile {pki.key_file}
access to attrs=userPassword
    by anonymous auth
    by self write
    by * none
access to *
    by users read
    by * none
database mdb
maxsize 33554432
suffix "{BASE_DN}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PW}
directory {d}/db
"""


class Slapd:
    """One slapd process; ``start()`` it, ``stop()`` it (or use ``with``)."""

    def __init__(
        self, people: Sequence[LdapPerson] = STANDARD_PEOPLE, *, binary: str = "slapd", acl: str = "",
        extra_ldif: str = "",
    ) -> None:
        self.binary = binary
        self.acl, self.extra_ldif = acl, extra_ldif
        self.dir = Path(tempfile.mkdtemp(prefix="radmfa-slapd-"))
        self.pki = TestPki(self.dir)
        self.port, self.ldaps_port = free_tcp_ports(2)
        self.people = tuple(people)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    def start(self) -> Slapd:
        conf = self.dir / "slapd.conf"
        text = render_conf(self.dir, self.pki)
        if self.acl:  # tried before the standard rules: slapd uses the first "access to" that matches
            text = text.replace("access to attrs=userPassword", f"{self.acl}\naccess to attrs=userPassword", 1)
        conf.write_text(text)
        (self.dir / "db").mkdir()
        extra = f"\n{self.extra_ldif.strip()}\n" if self.extra_ldif else ""
        (self.dir / "data.ldif").write_text(render_ldif(self.people) + extra)
        slapadd = str(Path(self.binary).with_name("slapadd")) if "/" in self.binary else "slapadd"
        self._run([slapadd, "-f", str(conf), "-l", str(self.dir / "data.ldif")])
        # ldaps:// on 127.0.0.2 too: a live server whose certificate does not name that address.
        urls = f"{self.url}/ {self.ldaps_url}/ ldaps://127.0.0.2:{self.ldaps_port}/"
        with (self.dir / "slapd.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-f", str(conf), "-h", urls, "-d", "0"], stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_listening()
        return self

    def _run(self, argv: list[str], stdin: str | None = None) -> None:
        done = subprocess.run(argv, input=stdin.encode() if stdin else None, capture_output=True, timeout=30)
        if done.returncode != 0:
            raise SlapdError(f"{' '.join(argv[:1])} failed: {done.stderr.decode(errors='replace')}")

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise SlapdError(f"slapd exited: {(self.dir / 'slapd.log').read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2), \
                        socket.create_connection(("127.0.0.1", self.ldaps_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise SlapdError("slapd did not start listening in time")

    def modify(self, ldif: str) -> None:
        """ldapmodify as the rootdn (changetype records allowed)."""
        self._run(["ldapmodify", "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PW], stdin=ldif)

    def add_person(self, person: LdapPerson) -> None:
        self._run(["ldapadd", "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PW], stdin=render_person(person))

    def delete(self, dn: str) -> None:
        self._run(["ldapdelete", "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PW, dn])

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)

    def halt(self) -> None:
        """Stop the process but keep its files (certificates), as a server that went down."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> Slapd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

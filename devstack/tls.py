"""A certificate authority of the stack's own and the broker's certificate, for the SASL_SSL listener.

Made with ``openssl`` (three short runs, milliseconds) each time the broker is prepared, so
nothing expires and nothing in the repository is a key: the CA signs one certificate for
127.0.0.1 and localhost, and its private key is deleted at once. Clients trust ``ca.pem``;
the broker reads ``broker.pem`` (its unencrypted PKCS#8 key, its certificate and the CA's,
as Kafka's PEM keystore takes them), readable only by us.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import DevstackError

VALIDITY_DAYS = 30  # made again at every start; a month covers a stack left running
BROKER_NAMES = ("IP:127.0.0.1", "DNS:localhost")

_BROKER_EXTENSIONS = f"""\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {", ".join(BROKER_NAMES)}
"""


@dataclass(frozen=True)
class BrokerCertificates:
    ca_file: Path  # the CA's certificate: what clients trust
    keystore_file: Path  # the broker's key, certificate and the CA's certificate, PEM


def make_broker_certificates(directory: Path) -> BrokerCertificates:
    """A new CA and a broker certificate signed by it, in ``directory`` (replacing earlier ones)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise DevstackError("`openssl` not found on PATH: it makes the SASL_SSL broker's certificates "
                            "(Debian/Ubuntu: apt-get install openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    ca_key, ca_file = directory / "ca.key", directory / "ca.pem"
    broker_key, broker_csr, broker_crt = directory / "broker.key", directory / "broker.csr", directory / "broker.crt"
    extensions = directory / "broker.ext"
    extensions.write_text(_BROKER_EXTENSIONS)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    try:
        _run(openssl, "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_file),
             "-days", str(VALIDITY_DAYS), "-subj", "/CN=Handoff local stack CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        _run(openssl, "req", *ec, "-keyout", str(broker_key), "-out", str(broker_csr), "-subj", "/CN=localhost")
        _run(openssl, "x509", "-req", "-in", str(broker_csr), "-CA", str(ca_file), "-CAkey", str(ca_key),
             "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", str(VALIDITY_DAYS),
             "-extfile", str(extensions), "-out", str(broker_crt))
        keystore = directory / "broker.pem"
        fd = os.open(keystore, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(broker_key.read_text() + broker_crt.read_text() + ca_file.read_text())
    finally:  # only the CA's certificate and the broker's keystore stay
        for leftover in (ca_key, broker_key, broker_csr, broker_crt, extensions):
            leftover.unlink(missing_ok=True)
    return BrokerCertificates(ca_file=ca_file, keystore_file=keystore)


def _run(*args: str) -> None:
    result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise DevstackError(f"making the broker's certificates failed: {' '.join(args[:3])} ...:\n"
                            f"{result.stdout}{result.stderr}")

"""pytest fixtures for every SIP test: the Kamailio lab and pyVoIP phones registered to it.

Other test folders import them (``from tests.sip_lab.fixtures import make_lab, make_phone``).
Tests are skipped, with the reason said, only when the kamailio binary is absent; CI installs it
(.ci/run, which exports SIP_LAB_REQUIRED=1) and ``test_lab.py::test_ci_has_kamailio`` fails
there, or wherever CI is set, if it is missing, so the SIP tests cannot silently skip in CI.
Teardown order is fixed by the dependency: phones (de-register) before labs (stop, no process of
the group left), also when the test failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.sip_lab.lab import KamailioLab, find_kamailio
from tests.sip_lab.phones import LabPhone

MISSING = "kamailio is not installed (Debian: apt-get install kamailio kamailio-presence-modules)"

LabFactory = Callable[..., KamailioLab]
PhoneFactory = Callable[[str, KamailioLab], LabPhone]


@pytest.fixture
def make_lab() -> Iterator[LabFactory]:
    """``make_lab(auth=..., auth_www_all=..., shm_mb=...)``: a started lab, stopped at teardown."""
    if find_kamailio() is None:
        pytest.skip(MISSING)
    labs: list[KamailioLab] = []

    def make(**options: object) -> KamailioLab:
        lab = KamailioLab(**options)  # type: ignore[arg-type]
        labs.append(lab)
        lab.start()
        return lab

    yield make
    errors = []
    for lab in reversed(labs):
        try:
            lab.close()
        except Exception as exc:  # every lab is closed even when one fails to
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def kamailio_lab(make_lab: LabFactory) -> KamailioLab:
    """The lab without authentication."""
    return make_lab()


@pytest.fixture
def kamailio_auth_lab(make_lab: LabFactory) -> KamailioLab:
    """The lab with digest authentication (401 for REGISTER/INVITE, 407 for SUBSCRIBE/PUBLISH)."""
    return make_lab(auth=True)


@pytest.fixture
def make_phone(make_lab: LabFactory) -> Iterator[PhoneFactory]:
    """``make_phone("1001", lab)``: a registered pyVoIP phone, de-registered at teardown
    (before any lab of this test stops)."""
    phones: list[LabPhone] = []

    def make(extension: str, lab: KamailioLab) -> LabPhone:
        phone = LabPhone(extension, lab)
        phones.append(phone)
        phone.start()
        return phone

    yield make
    for phone in reversed(phones):
        phone.stop()

"""The SIP lab's fixtures (a real Kamailio, pyVoIP phones) for the adapter's tests on it."""

from tests.sip_lab.fixtures import make_lab, make_phone

__all__ = ["make_lab", "make_phone"]

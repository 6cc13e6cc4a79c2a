"""The lab fixtures (``fixtures.py``) for the lab's own tests."""

from tests.sip_lab.fixtures import kamailio_auth_lab, kamailio_lab, make_lab, make_phone

__all__ = ["kamailio_auth_lab", "kamailio_lab", "make_lab", "make_phone"]

"""presence-bridge: keeps Microsoft Teams presence and an on-premises PBX in step."""

__version__ = "0.1.0"

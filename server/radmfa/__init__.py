"""radmfa: an on-premises RADIUS second-factor proxy."""

__version__ = "0.1.0"

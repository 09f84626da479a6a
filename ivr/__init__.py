"""ivr: a free, confidential voice hotline for migrant workers."""

__version__ = "0.1.0"

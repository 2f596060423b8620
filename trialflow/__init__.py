"""trialflow: raw CRF exports to CDISC SDTM, ADaM and SAS XPORT files, from declarative specs."""

__version__ = "0.1.0"
